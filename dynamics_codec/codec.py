"""The paper's blocks composed into a video codec.

    encoder: frames ─► keyframe.encode ─────────────────────────────────────────┐
                    └► flow (key → t) ─► sampler ─► tokenizer ─► entropy.encode ─┴► bitstream
    decoder: bitstream ─► keyframe.decode ─────────────┐
                       └► entropy.decode ─► generator ─┴► frame decoder ─► frames

:class:`Encoder` and :class:`StreamDecoder` hold the built blocks; :func:`build_encoder` /
:func:`build_stream_decoder` build them from the Hydra configs (``configs/encode.yaml``,
``configs/decode.yaml``). Frame 0 of the output is the decoded key frame; frames 1..T-1 are
rendered from the key frame and their decoded tokens.

The tokenizer sees the *decoded* key frame (what the decoder will have), the flow backend
the original frames (what only the encoder has). The encoder then decides, per frame, whether
the coded tokens improve what the decoder will output over no motion at all
(:mod:`dynamics_codec.encoder.decision`); frames whose motion does not pay are sent without
motion (a flag in the motion payload) and decode to the key frame.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from dynamics_codec.bitstream import KeyframeCodecId, ParsedStream, StreamHeader, pack_stream, parse_stream
from dynamics_codec.decoder import FrameDecoder, build_decoder
from dynamics_codec.encoder import MotionDecisionConfig, RefineConfig, choose_motion_frames, key_frame_price, refine_tokens
from dynamics_codec.entropy import TokenCoder, TokenCodingConfig
from dynamics_codec.errors import BitstreamError, ConfigError, InputError
from dynamics_codec.flow import FlowBackend, build_flow_backend
from dynamics_codec.io.video import fps_fraction
from dynamics_codec.keyframe import KeyframeCodec, get_keyframe_codec, keyframe_codec_class_for_id
from dynamics_codec.keyframe import unpack_payload as unpack_keyframe_payload
from dynamics_codec.motion_model import MotionModel
from dynamics_codec.sampler import WatershedSampler
from dynamics_codec.utils.config import check_device, section_options
from dynamics_codec.warping import resize_flow, resize_frames



@dataclass
class EncodeResult:
    bitstream: bytes
    bits: dict[str, int]  # header / keyframe / motion / total (total = 8 * len(bitstream))
    num_frames: int
    fps: float
    tokens: np.ndarray  # float32 [T-1, V, N] from the tokenizer
    recon_tokens: np.ndarray  # float32 [T-1, V, N] as the decoder will hold them
    indices: np.ndarray  # int32 [T-1, V, N] quantised residuals
    active: np.ndarray  # bool [T-1]: frames sent with motion (false: the decoder shows the key frame)
    keyframe_qp: int  # the key frame's QP in the stream (finer than configured after a key-frame fallback)
    ideal_motion_bits: float  # sum of -log2 p of the coded bins
    points_per_frame: float  # mean number of sampled motion points
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage

    @property
    def kbps(self) -> float:
        return kbps(self.bits["total"], self.num_frames, self.fps)


@dataclass
class DecodeResult:
    frames: np.ndarray  # uint8 [T, H, W, 3]
    fps: float
    header: StreamHeader
    bits: dict[str, int]
    tokens: np.ndarray  # float32 [T-1, V, N]
    active: np.ndarray  # bool [T-1]: frames decoded with motion (false: zero motion, the key frame)
    flow: torch.Tensor | None  # float32 [T-1, 2, H, W] generated dense flow (if kept; zero without motion)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def kbps(self) -> float:
        return kbps(self.bits["total"], self.frames.shape[0], self.fps)


def _mean_psnr(mse: np.ndarray) -> float:
    """Mean over frames of the PSNR (dB, signal range 1) of per-frame errors."""
    return float(np.mean(10 * np.log10(1.0 / np.maximum(np.asarray(mse, dtype=np.float64), 1e-10))))


def kbps(bits: int, num_frames: int, fps: float) -> float:
    """Rate in kbit/s of ``bits`` spent on ``num_frames`` frames at ``fps``."""
    return bits * float(fps) / max(num_frames, 1) / 1000.0


def _to_tensor(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [T,H,W,3] -> float [T,3,H,W] in [0,1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def _to_uint8(frames: torch.Tensor) -> np.ndarray:
    """float [T,3,H,W] in [0,1] -> uint8 [T,H,W,3]."""
    return frames.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


class _Timer:
    """Accumulates seconds per stage: ``with timer("flow"): ...``."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0


def smooth_over_time(tokens: torch.Tensor, sigma: float) -> torch.Tensor:
    """Tokens ``[T, V, N]`` filtered along time by a Gaussian of ``sigma`` frames (edges: nearest).

    The first analysis (a least-squares projection or the tokenizer) gives each frame its own
    estimate, whose frame-to-frame jitter the closed-loop coder would pay for in every frame; scene
    dynamics are smooth over a few frames, so the filtered tokens cost about half the bits for the
    same decoded quality (measured on the corpus validation split, see MODEL_CARD.md).
    """
    radius = max(1, int(3 * sigma + 0.5))  # as scipy.ndimage.gaussian_filter1d(truncate=3)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    weights = (weights / weights.sum()).to(tokens)
    t = tokens.shape[0]
    index = (torch.arange(t)[:, None] + torch.arange(-radius, radius + 1)[None]).clamp(0, t - 1).to(tokens.device)
    return torch.einsum("tk,tk...->t...", weights.expand(t, -1), tokens[index])


class Encoder:
    """Video -> one ``.dcv`` bitstream."""

    def __init__(
        self,
        keyframe_codec: KeyframeCodec,
        keyframe_qp: int,
        flow: FlowBackend,
        sampler: WatershedSampler,
        model: MotionModel,
        coding: TokenCodingConfig,
        *,
        device: str | torch.device = "cpu",
        seed: int = 0,
        chunk_frames: int = 16,
        frame_decoder: FrameDecoder | None = None,
        decision: MotionDecisionConfig | None = None,
        refine: RefineConfig | None = None,
        analysis: str = "auto",
        projection_ridge: float = 1e-3,
        temporal_smoothing: float = 0.0,
    ) -> None:
        if keyframe_codec.codec_id not in KeyframeCodecId.__members__.values():
            raise ConfigError(f"key-frame codec '{keyframe_codec.name}' (id {keyframe_codec.codec_id}) has no stream id")
        self.keyframe_codec = keyframe_codec
        self.keyframe_qp = int(keyframe_qp)
        self.flow = flow
        self.sampler = sampler
        self.model = model.eval()
        self.coding = coding
        self.device = torch.device(device)
        self.seed = int(seed)
        self.chunk_frames = int(chunk_frames)
        # what the decoder will render (for the motion decision); None: decide on the flow
        self.frame_decoder = frame_decoder
        self.decision = decision or MotionDecisionConfig()
        self.refine = refine or RefineConfig(enabled=False)
        if analysis not in ("auto", "tokenizer", "projection"):
            raise ConfigError(f"encoder.analysis must be auto, tokenizer or projection, got {analysis!r}")
        if analysis == "auto":
            analysis = "projection" if self.model.generator.is_linear else "tokenizer"
        if analysis == "projection" and not self.model.generator.is_linear:
            raise ConfigError("encoder.analysis=projection needs a motion model with generator.flow_head=linear; "
                              "use encoder.analysis=tokenizer")
        self.analysis = analysis
        self.projection_ridge = float(projection_ridge)
        if not (isinstance(temporal_smoothing, (int, float)) and 0.0 <= float(temporal_smoothing) <= 16.0):
            raise ConfigError(f"encoder.temporal_smoothing must be a number of frames in 0..16 (0: off), "
                              f"got {temporal_smoothing!r}")
        self.temporal_smoothing = float(temporal_smoothing)

    @torch.no_grad()
    def analyse_flow(self, video: torch.Tensor) -> torch.Tensor:
        """Dense flow key -> frame t of the original frames ``[T, 3, H, W]`` -> ``[1, T-1, 2, H, W]``."""
        h, w = video.shape[-2:]
        flows = [self.flow(video[:1], video[None, s : s + self.chunk_frames]) for s in range(1, video.shape[0], self.chunk_frames)]
        return torch.cat(flows, dim=1) if flows else torch.zeros(1, 0, 2, h, w, device=video.device)

    def _generate_flow(self, key: torch.Tensor, tokens: np.ndarray, key_features: torch.Tensor | None = None) -> torch.Tensor:
        """Dense flow [T, 2, H, W] the decoder generates from tokens float32 [T, V, N]."""
        gen = self.model.generator
        feats = gen.encode_key(key) if key_features is None else key_features
        tok = torch.from_numpy(np.ascontiguousarray(tokens)).to(self.device)[None]
        return torch.cat([gen(key, tok[:, s : s + self.chunk_frames], key_features=feats)[0]
                          for s in range(0, tok.shape[1], self.chunk_frames)])

    def _criterion(self) -> str:
        criterion = self.decision.criterion
        if criterion == "auto":
            criterion = "pixels" if self.frame_decoder is not None and self.frame_decoder.frames_per_call else "flow"
        if criterion == "pixels" and self.frame_decoder is None:
            raise ConfigError("encoder.decision.criterion=pixels needs the warp decoder (decoder=warp); use "
                              "encoder.decision.criterion=flow")
        return criterion

    def _decision_size(self, height: int, width: int) -> tuple[int, int] | None:
        """(H, W) the pixels criterion renders and compares at (``decision.scale``), None: full size."""
        scale = self.decision.scale
        if scale >= 1.0 or self._criterion() != "pixels":
            return None
        return max(1, round(height * scale)), max(1, round(width * scale))

    def _decide_motion(self, tokens: np.ndarray, key: torch.Tensor, video: torch.Tensor, flow: torch.Tensor,
                       price: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(motion flags bool [T-1], each frame's error under them, each frame's error without motion).
        ``video``: the frames at the decision's size (:meth:`_decision_size`); ``key`` and ``flow``
        at full size."""
        criterion = self._criterion()
        frames = video[1:]
        key_features = self.model.generator.encode_key(key)
        size = tuple(video.shape[-2:])
        key_render = resize_frames(key, size)
        if criterion == "pixels":
            zero = ((frames - key_render) ** 2).flatten(1).mean(1).cpu().numpy()
        else:
            zero = (flow[0] ** 2).flatten(1).mean(1).cpu().numpy()

        def errors(recon: np.ndarray, active: np.ndarray) -> np.ndarray:
            out = np.full(len(active), np.inf)
            idx = np.flatnonzero(active)
            for s in range(0, len(idx), self.chunk_frames):
                part = idx[s : s + self.chunk_frames]
                gen_flow = self._generate_flow(key, recon[part], key_features)
                if criterion == "pixels":
                    rendered = self.frame_decoder.decode(key_render, resize_flow(gen_flow, size, mode="area")[None])[0]
                    err = ((rendered - frames[part]) ** 2).flatten(1).mean(1)
                else:
                    err = ((gen_flow - flow[0, part]) ** 2).flatten(1).mean(1)
                out[part] = err.cpu().numpy()
            return out

        active, err = choose_motion_frames(tokens, self.coding, errors, zero, self.decision,
                                           price=price if criterion == "pixels" else 0.0)
        return active, err, zero

    def _key_frame_ladder(self, frame: np.ndarray, payload: bytes, decoded: np.ndarray, video: torch.Tensor):
        """Finer QPs of the key frame, coarse to fine: yields (qp, payload, decoded, per-frame errors
        float32 [T] of the repeated key frame, at ``video``'s size); the first entry is the configured QP."""
        size = tuple(video.shape[-2:])

        def frame_errors(key: np.ndarray) -> np.ndarray:
            key_t = resize_frames(_to_tensor(key[None], self.device), size)
            return ((video - key_t) ** 2).flatten(1).mean(1).cpu().numpy()

        yield self.keyframe_qp, payload, decoded, frame_errors(decoded)
        lo = self.keyframe_codec.qp_range[0]
        for qp in range(self.keyframe_qp - 1, lo - 1, -1):
            finer = self.keyframe_codec.encode(frame, qp)
            dec = self.keyframe_codec.decode(finer)
            yield qp, finer, dec, frame_errors(dec)

    def _fallback(self, tokens, active, errors, key_payload, key_error, seen, ladder):
        """The key frame alone at a finer QP when it fits in the bits of the stream with motion and
        decodes better (mean PSNR over all frames): ``(qp, payload, decoded)``, else None.
        ``key_error``: frame 0's error with the configured key frame; ``seen`` + ``ladder``: the
        finer entries of :meth:`_key_frame_ladder`."""
        if not active.any():
            return None
        motion_bits = 8 * len(TokenCoder(self.coding).encode(tokens, active).payload)
        zero_motion_bits = 8 * len(TokenCoder(self.coding).encode(tokens, np.zeros_like(active)).payload)
        budget = 8 * len(key_payload) + motion_bits - zero_motion_bits
        ours = _mean_psnr(np.concatenate([[key_error], errors]))
        best = None
        for qp, payload, decoded, per_frame in itertools.chain(seen, ladder):
            if 8 * len(payload) > budget:
                break
            best = (qp, payload, decoded, _mean_psnr(per_frame))
        if best is not None and best[3] > ours:
            return best[:3]
        return None

    @torch.no_grad()
    def encode(self, frames: np.ndarray, fps: float) -> EncodeResult:
        """Encode uint8 RGB frames ``[T, H, W, 3]`` (T >= 1, even H and W) at ``fps``."""
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise InputError(
                f"encoder input must be uint8 RGB [T,H,W,3], got {getattr(frames, 'dtype', type(frames))} "
                f"{getattr(frames, 'shape', '')}"
            )
        t_total, h, w, _ = frames.shape
        if t_total < 1 or h % 2 or w % 2:
            raise InputError(f"need at least one frame of even height and width, got {frames.shape}")
        fps_frac = fps_fraction(fps)
        timer = _Timer()
        model = self.model.to(self.device)

        key_qp = self.keyframe_qp
        with timer("keyframe"):
            key_payload = self.keyframe_codec.encode(frames[0], key_qp)
            key_decoded = self.keyframe_codec.decode(key_payload)
        key_dec_t = _to_tensor(key_decoded[None], self.device)  # [1,3,H,W]
        video = _to_tensor(frames, self.device)  # [T,3,H,W]

        v, n = model.num_vectors, model.num_values
        tokens = np.zeros((t_total - 1, v, n), np.float32)
        active = np.ones(t_total - 1, dtype=bool)
        points = []
        sampler_gen = torch.Generator().manual_seed(self.seed)
        with timer("flow"):
            flow = self.analyse_flow(video)
        if t_total > 1 and self.analysis == "projection":
            with timer("projection"):  # least squares on the key frame's motion bases
                tokens = model.generator.project(model.generator.encode_key(key_dec_t), flow,
                                                 ridge=self.projection_ridge)[0].float()
        elif t_total > 1:
            with timer("sampler"):
                sparse = self.sampler(flow, generator=sampler_gen)
            points = sparse.mask[:, :, 0].flatten(2).sum(-1).float().mean().item()
            with timer("tokenizer"):
                chunks = []
                for s in range(0, t_total - 1, self.chunk_frames):
                    e = min(t_total - 1, s + self.chunk_frames)
                    chunks.append(
                        model.tokenizer(sparse.sparse_flow[:, s:e], sparse.mask[:, s:e], key_dec_t)
                    )
                tokens = torch.cat(chunks, dim=1)[0].float()
        if t_total > 2 and self.temporal_smoothing > 0:
            tokens = smooth_over_time(tokens, self.temporal_smoothing)
        if t_total > 1:
            if self.refine.enabled:
                with timer("refine"), torch.enable_grad():
                    render = self.frame_decoder.decode if self.frame_decoder is not None else None
                    tokens = refine_tokens(tokens, key_dec_t, model.generator, step=self.coding.step,
                                           alpha=self.coding.alpha, config=self.refine, frames=video[1:],
                                           render=render, target_flow=flow[0]).tokens
            tokens = tokens.cpu().numpy()
            if self.decision.enabled or self.decision.key_frame_fallback:
                with timer("decision"):
                    decision_video = resize_frames(video, self._decision_size(h, w))
                    ladder = self._key_frame_ladder(frames[0], key_payload, key_decoded, decision_video)
                    _, _, _, key_errors = next(ladder)
                    finer = next(ladder, None)
                    price = 0.0
                    if self.decision.rate_price == "key_frame":
                        if finer is not None:
                            price = key_frame_price(float(key_errors.mean()), float(finer[3].mean()),
                                                    8 * len(key_payload), 8 * len(finer[1]), t_total)
                    else:
                        price = float(self.decision.rate_price)
                    active, errors, _ = self._decide_motion(tokens, key_dec_t, decision_video, flow, price)
                    if self.decision.key_frame_fallback and self._criterion() == "pixels":
                        fallback = self._fallback(tokens, active, errors, key_payload, float(key_errors[0]),
                                                  [finer] if finer is not None else [], ladder)
                        if fallback is not None:
                            key_qp, key_payload, key_decoded = fallback
                            active = np.zeros_like(active)
        with timer("entropy"):
            coded = TokenCoder(self.coding).encode(tokens, active)

        step, alpha, params = self.coding.to_header_fields()
        header = StreamHeader(
            width=w,
            height=h,
            frames=t_total,
            fps_num=fps_frac.numerator,
            fps_den=fps_frac.denominator,
            token_vectors=v,
            token_values=n,
            step=step,
            alpha=alpha,
            entropy_params=params,
            keyframe_codec=KeyframeCodecId(self.keyframe_codec.codec_id),
            keyframe_params=(key_qp,),
            tokenizer_hash=model.tokenizer_hash(),
            generator_hash=model.generator_hash(),
        )
        data = pack_stream(header, key_payload, coded.payload)
        bits = parse_stream(data).bits
        return EncodeResult(
            bitstream=data,
            bits=bits,
            num_frames=t_total,
            fps=float(fps_frac),
            tokens=tokens,
            recon_tokens=coded.recon,
            indices=coded.indices,
            active=coded.active,
            keyframe_qp=key_qp,
            ideal_motion_bits=coded.ideal_bits,
            points_per_frame=float(points) if t_total > 1 and self.analysis == "tokenizer" else 0.0,
            timings=timer.timings,
        )


@dataclass(frozen=True)
class DecodeLimits:
    """What a stream may make the decoder do, checked from the header before anything is allocated.

    The format allows up to 8192x8192 pixels and 100,000 frames. The defaults, Full HD and 10,000
    frames, are far above the paper's 384x384 x 50 frames and decode within about 1.5 GB: frames
    are rendered and handed out in chunks (:data:`CHUNK_PIXELS`, at least one frame), so memory
    grows with the picture size (the warp decoder needs ~170 bytes per pixel of a chunk) but not
    with the number of frames (the time does). A 4K stream needs ``limits.max_pixels`` raised.
    """

    max_pixels: int = 1920 * 1088  # width * height of one frame (Full HD, coded height)
    max_frames: int = 10_000  # frames of the video, key frame included

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"limits.{name} must be a positive integer, found {value!r}")

    def check(self, header: StreamHeader) -> None:
        pixels = header.width * header.height
        if pixels > self.max_pixels:
            raise BitstreamError(
                f"the stream claims {header.width}x{header.height} frames ({pixels} pixels), more than "
                f"limits.max_pixels={self.max_pixels}; if you trust the stream, decode with limits.max_pixels={pixels}"
            )
        if header.frames > self.max_frames:
            raise BitstreamError(
                f"the stream claims {header.frames} frames, more than limits.max_frames={self.max_frames}; if you "
                f"trust the stream, decode with limits.max_frames={header.frames}"
            )


#: Pixels rendered per chunk (8 frames at 384x384, about 200 MB of warping intermediates): bounds the
#: decoder's working memory at any picture size and frame count.
CHUNK_PIXELS = 8 * 384 * 384


@dataclass
class DecodedFrames:
    """A stream whose header and payloads are decoded and checked; iterating renders the frames.

    Iterating yields uint8 ``[t, H, W, 3]`` chunks in order (the first is the key frame alone), so a
    writer can store a long video without holding it (see :meth:`StreamDecoder.decode_chunks`).
    ``timings`` and ``flow`` (chunks of float32 ``[t, 2, H, W]``, if asked for) fill while iterating.
    """

    header: StreamHeader
    bits: dict[str, int]
    tokens: np.ndarray  # float32 [T-1, V, N]
    active: np.ndarray  # bool [T-1]
    chunks: Any  # the generator of frame chunks
    timings: dict[str, float]
    flow: list[torch.Tensor] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return float(self.header.fps)

    def __iter__(self):
        return self.chunks


class StreamDecoder:
    """``.dcv`` bitstream -> frames, with the motion model the stream names."""

    def __init__(
        self,
        model: MotionModel,
        frame_decoder: FrameDecoder,
        *,
        device: str | torch.device = "cpu",
        chunk_frames: int = 16,
        keyframe_options: Mapping[str, Mapping[str, Any]] | None = None,
        generator_seed: int = 0,
        limits: DecodeLimits | None = None,
    ) -> None:
        self.model = model.eval()
        self.frame_decoder = frame_decoder
        self.device = torch.device(device)
        self.chunk_frames = int(chunk_frames)
        # constructor options per key-frame codec name, e.g. {"vtm": {"bin_dir": ...}}
        self.keyframe_options = {k: dict(v) for k, v in (keyframe_options or {}).items()}
        self.generator_seed = int(generator_seed)
        self.limits = limits or DecodeLimits()

    def _check_model(self, header: StreamHeader) -> None:
        model = self.model
        if (header.token_vectors, header.token_values) != (model.num_vectors, model.num_values):
            raise BitstreamError(
                f"the stream codes {header.token_vectors}x{header.token_values} tokens per frame but the motion "
                f"model produces {model.num_vectors}x{model.num_values}; decode with the model it was encoded with"
            )
        if header.generator_hash is not None and header.generator_hash != model.generator_hash():
            raise BitstreamError(
                f"the stream was encoded with generator weights {header.generator_hash.hex()} but the loaded motion "
                f"model ({model.describe()}) has {model.generator_hash().hex()}; pass model.checkpoint=<the "
                "checkpoint used for encoding>"
            )

    def _decode_keyframe(self, payload: bytes, header: StreamHeader) -> np.ndarray:
        if not payload:
            raise BitstreamError("the stream's key-frame payload is empty")
        if payload[0] != int(header.keyframe_codec):
            raise BitstreamError(
                f"the header names key-frame codec {header.keyframe_codec.name} but the key-frame payload starts "
                f"with codec id {payload[:1].hex()}: the stream is corrupt"
            )
        key_header, _ = unpack_keyframe_payload(payload)  # checksum and declared size, before the codec runs
        if (key_header.width, key_header.height) != (header.width, header.height):
            raise BitstreamError(
                f"the key-frame payload declares {key_header.width}x{key_header.height} but the stream header "
                f"{header.width}x{header.height}: the stream is corrupt"
            )
        cls = keyframe_codec_class_for_id(payload[0])
        key = cls(**self.keyframe_options.get(cls.name, {})).decode(payload)
        if key.shape[:2] != (header.height, header.width):
            raise BitstreamError(
                f"key frame decodes to {key.shape[1]}x{key.shape[0]} but the header says "
                f"{header.width}x{header.height}"
            )
        return key

    def decode_chunks(self, data: bytes | ParsedStream, *, keep_flow: bool = False) -> DecodedFrames:
        """Check and decode everything but the frames now (checksum, :class:`DecodeLimits`, weights,
        motion payload, key frame); iterate the result to render the frames chunk by chunk.

        Memory is bounded by the chunk size (:data:`CHUNK_PIXELS`, ``chunk_frames``), not by the
        number of frames, for decoders that take frames in chunks (``frames_per_call``, e.g. warp);
        a decoder that must see the whole sequence (the generative one) gets it in one call.
        """
        timer = _Timer()
        parsed = data if isinstance(data, ParsedStream) else parse_stream(data)
        header = parsed.header
        self.limits.check(header)
        self._check_model(header)
        with timer("entropy"):  # bounded by the payload size (see dynamics_codec.entropy.coder)
            coding = TokenCodingConfig.from_header_fields(header.step, header.alpha, header.entropy_params)
            _, tokens, active = TokenCoder(coding).decode(parsed.motion_payload, *header.token_shape)
        with timer("keyframe"):
            key = self._decode_keyframe(parsed.keyframe_payload, header)
        result = DecodedFrames(header=header, bits=parsed.bits, tokens=tokens, active=active, chunks=None,
                               timings=timer.timings)
        result.chunks = self._render(key, tokens, active, header, timer, result.flow if keep_flow else None)
        return result

    @torch.no_grad()
    def _render(self, key: np.ndarray, tokens: np.ndarray, active: np.ndarray, header: StreamHeader,
                timer: _Timer, flows: list | None):
        yield key[None]
        t_inter, h, w = header.inter_frames, header.height, header.width
        if not t_inter:
            return
        model = self.model.to(self.device)
        key_t = _to_tensor(key[None], self.device)
        gen = torch.Generator(device=self.device).manual_seed(self.generator_seed)
        per_call = self.frame_decoder.frames_per_call
        step = t_inter if per_call is None else max(1, min(per_call, self.chunk_frames, CHUNK_PIXELS // (h * w)))
        key_features = None
        for s in range(0, t_inter, step):
            e = min(t_inter, s + step)
            with timer("generator"):
                # frames without motion get zero flow (the warp decoder then shows the key frame)
                flow = torch.zeros(1, e - s, 2, h, w, device=self.device)
                idx = np.flatnonzero(active[s:e])
                if idx.size:
                    if key_features is None:
                        key_features = model.generator.encode_key(key_t)
                    tok = torch.from_numpy(tokens[s:e][idx]).to(self.device)[None]  # [1, A, V, N]
                    flow[:, torch.from_numpy(idx).to(self.device)] = torch.cat([
                        model.generator(key_t, tok[:, a : a + self.chunk_frames], key_features=key_features)
                        for a in range(0, idx.size, self.chunk_frames)
                    ], dim=1)
            with timer("decoder"):
                frames = _to_uint8(self.frame_decoder.decode(key_t, flow, generator=gen)[0])
            if flows is not None:
                flows.append(flow[0].cpu())
            del flow
            yield frames

    def decode(self, data: bytes | ParsedStream, *, keep_flow: bool = False) -> DecodeResult:
        """The whole video at once (see :meth:`decode_chunks` to write a long one as it renders)."""
        stream = self.decode_chunks(data, keep_flow=keep_flow)
        header = stream.header
        frames = np.empty((header.frames, header.height, header.width, 3), np.uint8)
        t = 0
        for chunk in stream:
            frames[t : t + len(chunk)] = chunk
            t += len(chunk)
        return DecodeResult(
            frames=frames,
            fps=stream.fps,
            header=header,
            bits=stream.bits,
            tokens=stream.tokens,
            active=stream.active,
            flow=torch.cat(stream.flow) if keep_flow and stream.flow else None,
            timings=stream.timings,
        )


def zero_motion_stream(key_payload: bytes, width: int, height: int, frames: int, fps: float, model: MotionModel,
                       coding: TokenCodingConfig) -> bytes:
    """A valid stream whose inter frames all carry no motion (each decodes to the key frame), as the
    encoder writes for a still scene: ``key_payload`` from a key-frame codec, the motion payload
    only flags. Used to measure the decoder on long videos without encoding them."""
    v, n = model.num_vectors, model.num_values
    coded = TokenCoder(coding).encode(np.zeros((frames - 1, v, n), np.float32), np.zeros(frames - 1, bool))
    fps_frac = fps_fraction(fps)
    step, alpha, params = coding.to_header_fields()
    header = StreamHeader(width=width, height=height, frames=frames, fps_num=fps_frac.numerator,
                          fps_den=fps_frac.denominator, token_vectors=v, token_values=n, step=step, alpha=alpha,
                          entropy_params=params, keyframe_codec=KeyframeCodecId(key_payload[0]),
                          tokenizer_hash=model.tokenizer_hash(), generator_hash=model.generator_hash())
    return pack_stream(header, key_payload, coded.payload)


# ---------------------------------------------------------------------------- config builders
def load_motion_model(cfg) -> MotionModel:
    """The motion model of a composed config: ``model.checkpoint`` or seeded untrained networks."""
    ckpt = cfg.model.get("checkpoint")
    if ckpt:
        return MotionModel.load(ckpt)
    return MotionModel.from_config(section_options(cfg.tokenizer, ()), section_options(cfg.generator, ()), seed=int(cfg.model.seed))


def build_keyframe_codec(cfg) -> tuple[KeyframeCodec, int]:
    opts = section_options(cfg.keyframe, ("name", "qp"))
    return get_keyframe_codec(cfg.keyframe.name, **opts), int(cfg.keyframe.qp)


def build_token_coding(cfg) -> TokenCodingConfig:
    return TokenCodingConfig(**section_options(cfg.entropy))


def build_sampler(cfg) -> WatershedSampler:
    opts = section_options(cfg.sampler)
    if "strategies" in opts:
        opts["strategies"] = tuple(opts["strategies"])
    return WatershedSampler(**opts)


def build_encoder(cfg, model: MotionModel | None = None) -> Encoder:
    codec, qp = build_keyframe_codec(cfg)
    encoder_cfg = cfg.get("encoder") or {}
    decision = MotionDecisionConfig.from_dict(section_options(encoder_cfg.decision, ()) if "decision" in encoder_cfg else None)
    refine = RefineConfig.from_dict(section_options(encoder_cfg.refine, ()) if "refine" in encoder_cfg else {"enabled": False})
    # the encoder renders what the decoder will show where that is cheap (warping); for the
    # generative decoder it decides on the generated flow instead
    warp = "decoder" in cfg and cfg.decoder.name == "warp"
    frame_decoder = build_decoder("warp", **section_options(cfg.decoder)) if warp else None
    return Encoder(
        codec,
        qp,
        build_flow_backend(cfg.flow.name, **section_options(cfg.flow)),
        build_sampler(cfg),
        model if model is not None else load_motion_model(cfg),
        build_token_coding(cfg),
        device=cfg.get("device", "cpu"),
        seed=int(cfg.get("seed", 0)),
        frame_decoder=frame_decoder,
        decision=decision,
        refine=refine,
        analysis=str(encoder_cfg.get("analysis", "auto")),
        projection_ridge=float(encoder_cfg.get("projection_ridge", 1e-3)),
        temporal_smoothing=float(encoder_cfg.get("temporal_smoothing", 0.0)),
    )


def build_decode_limits(cfg) -> DecodeLimits:
    """``limits.max_pixels`` / ``limits.max_frames`` of a config (defaults where absent)."""
    return DecodeLimits(**section_options(cfg.get("limits") or {}, ()))


def build_stream_decoder(cfg, model: MotionModel | None = None) -> StreamDecoder:
    paths = cfg.get("paths") or {}
    keyframe_options = {"vtm": {"bin_dir": paths.get("vtm_bin_dir"), "cfg_dir": paths.get("vtm_cfg_dir")}}
    return StreamDecoder(
        model if model is not None else load_motion_model(cfg),
        build_decoder(cfg.decoder.name, **section_options(cfg.decoder)),
        device=check_device(cfg.get("device", "cpu")),
        keyframe_options=keyframe_options,
        limits=build_decode_limits(cfg),
    )
