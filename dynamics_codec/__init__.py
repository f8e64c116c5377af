"""Dynamics-Codec: generative compression of scene dynamics.

The package mirrors the paper's Figure 2, one sub-package per block:

    io         video reading/writing, test-format preparation, RGB <-> YUV 4:2:0
    keyframe   key-frame image codecs (x265 intra via PyAV, VTM intra)
    flow       dense optical flow key -> frame (DIS, Unimatch)
    sampler    dense-to-sparse watershed sampler (MOFA-Video semantics)
    tokenizer  sparse flow + mask -> 2 token vectors of N values per frame
    generator  key frame x tokens -> dense flow
    entropy    closed-loop token prediction + context-adaptive binary arithmetic coding
    bitstream  the .dcv file format
    decoder    dense flow + key frame -> frames (warp, mofa_svd)
    codec      composition of the blocks above into encode/decode
"""

__version__ = "0.1.0"
