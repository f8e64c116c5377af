"""Video I/O at the edge of the codec: uint8 RGB ``[T, H, W, 3]`` in and out.

* :mod:`~dynamics_codec.io.color`: the one RGB <-> Y'CbCr 4:2:0 conversion (BT.709, limited range).
* :mod:`~dynamics_codec.io.video`: readers / atomic writers for containers, .y4m, .yuv, PNG folders.
* :mod:`~dynamics_codec.io.prepare`: the paper's 384x384, 50-frame test format.
"""

from dynamics_codec.io.color import Yuv420, rgb_to_y, rgb_to_yuv420, yuv420_to_rgb, yuv444_to_rgb
from dynamics_codec.io.prepare import TEST_NUM_FRAMES, TEST_SIZE, resize_short_side_center_crop, to_test_format
from dynamics_codec.io.video import (
    VideoClip,
    read_video,
    write_ffv1,
    write_mp4,
    write_png_folder,
    write_video,
    write_y4m,
    write_yuv420,
)

__all__ = [
    "Yuv420",
    "rgb_to_yuv420",
    "yuv420_to_rgb",
    "yuv444_to_rgb",
    "rgb_to_y",
    "VideoClip",
    "read_video",
    "write_video",
    "write_png_folder",
    "write_ffv1",
    "write_mp4",
    "write_y4m",
    "write_yuv420",
    "to_test_format",
    "resize_short_side_center_crop",
    "TEST_SIZE",
    "TEST_NUM_FRAMES",
]
