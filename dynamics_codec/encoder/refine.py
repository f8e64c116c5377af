"""Encoder-side token refinement: analysis by synthesis.

The decoder is deterministic and differentiable (generator + warping), so the encoder can choose
better tokens than the tokenizer's first guess: starting from the tokenizer's output it
optimises every frame's tokens (all frames as one batch) so that what the decoder will produce
matches the frame:

* ``target="pixels"`` (the warp decoder): the decoded key frame warped by the generated flow
  against the original frame, with a robust pixel loss (Charbonnier, L1 or L2), computed at
  ``scale`` of the frame size (the generator's flow is produced at that size directly);
* ``target="flow"`` (the generative decoder, whose frames are too costly to render in a loop):
  the generated flow against the analysed dense flow (L1), the flow the decoder's adaptor expects.

The tokens the loss sees are the ones the decoder will hold: the closed-loop quantiser of
:mod:`dynamics_codec.entropy.quantization` (``recon_t = pred_t + step * round((y_t - pred_t) /
step)``, ``pred_t = alpha * recon_{t-1}``) with straight-through rounding, so each frame is
refined knowing the prediction from the decoded past. ``rate_lambda`` adds a smooth proxy of the
residuals' bits, ``sum log2(1 + |y_t - pred_t| / step)``, weighted per frame in units of the
loss of that frame without motion.

Cost control: the key-frame features are computed once; the loss runs at ``scale`` (1/2 by
default: a quarter of the pixels); Adam with a fixed learning rate; each frame keeps the best
tokens it has seen (by its own loss, quantised), and the loop stops early when no frame improved
by ``min_improvement`` (relative) for ``patience`` iterations. The bitstream and the decoder do
not change.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from dynamics_codec.errors import ConfigError
from dynamics_codec.warping import resize_flow, resize_frames

LOSSES = ("charbonnier", "l1", "l2")
TARGETS = ("auto", "pixels", "flow")


@dataclass(frozen=True)
class RefineConfig:
    enabled: bool = True
    iterations: int = 40
    lr: float = 0.05
    loss: str = "charbonnier"
    target: str = "auto"  # pixels (warp decoder) | flow (generative decoder) | auto
    scale: float = 0.5  # loss resolution as a fraction of the frame size
    rate_lambda: float = 0.0  # weight of the bits proxy (per bit, relative to the frame's zero-motion loss)
    patience: int = 8  # iterations without improvement before stopping
    min_improvement: float = 1e-3  # relative loss improvement that counts
    charbonnier_eps: float = 1e-3

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"encoder.refine.loss must be one of {LOSSES}, got {self.loss!r}")
        if self.target not in TARGETS:
            raise ConfigError(f"encoder.refine.target must be one of {TARGETS}, got {self.target!r}")
        if self.iterations < 0 or self.patience < 1:
            raise ConfigError("encoder.refine: iterations must be >= 0 and patience >= 1")
        if not self.lr > 0 or not 0 < self.scale <= 1 or self.rate_lambda < 0:
            raise ConfigError("encoder.refine: lr must be > 0, scale in (0, 1], rate_lambda >= 0")

    @classmethod
    def from_dict(cls, d: dict | None) -> "RefineConfig":
        d = dict(d or {})
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"encoder.refine: unknown option(s) {sorted(unknown)}; known: {[f.name for f in fields(cls)]}")
        return cls(**d)


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # noqa: D102
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        return grad


def closed_loop_reconstruction(tokens: torch.Tensor, step: float, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable closed-loop quantisation of ``tokens`` ``[T, V, N]`` (straight-through
    rounding): ``(recon [T, V, N], residual / step [T, V, N])``. Forward values match
    :func:`dynamics_codec.entropy.quantize_closed_loop` up to float rounding of ties."""
    recon, scaled = [], []
    pred = torch.zeros_like(tokens[0])
    for t in range(tokens.shape[0]):
        r = (tokens[t] - pred) / step
        q = _RoundSTE.apply(r)
        rec = pred + q * step
        recon.append(rec)
        scaled.append(r)
        pred = alpha * rec
    return torch.stack(recon), torch.stack(scaled)


def _pixel_loss(a: torch.Tensor, b: torch.Tensor, kind: str, eps: float) -> torch.Tensor:
    """Per-frame loss of ``[T, C, H, W]`` tensors -> ``[T]``."""
    d = a - b
    if kind == "l1":
        e = d.abs()
    elif kind == "l2":
        e = d * d
    else:
        e = torch.sqrt(d * d + eps * eps) - eps
    return e.flatten(1).mean(1)


@dataclass
class RefineResult:
    tokens: torch.Tensor  # float32 [T, V, N], the refined tokens (before quantisation)
    initial_loss: torch.Tensor  # [T] loss of the tokenizer's tokens (quantised)
    final_loss: torch.Tensor  # [T] loss of the returned tokens (quantised)
    zero_loss: torch.Tensor  # [T] loss without motion
    iterations: int


def refine_tokens(
    tokens: torch.Tensor,
    key: torch.Tensor,
    generator,
    *,
    step: float,
    alpha: float,
    config: RefineConfig,
    frames: torch.Tensor | None = None,
    render=None,
    target_flow: torch.Tensor | None = None,
) -> RefineResult:
    """Refine tokens ``[T, V, N]`` for the decoded key frame ``key`` ``[1, 3, H, W]``.

    ``target="pixels"``: ``frames`` ``[T, 3, H, W]`` (the originals) and ``render(key, flow)``
    (``[1, 3, h, w]``, ``[1, T, 2, h, w]`` -> ``[1, T, 3, h, w]``, differentiable: the decoder's
    warping). ``target="flow"``: ``target_flow`` ``[T, 2, H, W]``.
    """
    kind = config.target
    if kind == "auto":
        kind = "pixels" if render is not None and frames is not None else "flow"
    if kind == "pixels" and (render is None or frames is None):
        raise ConfigError("encoder.refine.target=pixels needs the frames and the warp decoder; use target=flow")
    if kind == "flow" and target_flow is None:
        raise ConfigError("encoder.refine.target=flow needs the analysed flow")
    t_count = tokens.shape[0]
    h, w = key.shape[-2:]
    size = (max(8, round(h * config.scale)), max(8, round(w * config.scale)))
    with torch.no_grad():
        key_features = generator.encode_key(key)
        key_small = resize_frames(key, size)
        if kind == "pixels":
            goal = resize_frames(frames, size)
            zero = _pixel_loss(key_small.expand_as(goal), goal, config.loss, config.charbonnier_eps)
        else:
            goal = resize_flow(target_flow, size)
            zero = goal.abs().flatten(1).mean(1)

    def objectives(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per frame: (loss, loss / zero-motion loss + rate_lambda * bits proxy)."""
        recon, scaled = closed_loop_reconstruction(y, step, alpha)
        flow = generator(key, recon[None], key_features=key_features, size=size)  # [1, T, 2, h, w]
        if kind == "pixels":
            per_frame = _pixel_loss(render(key_small, flow)[0], goal, config.loss, config.charbonnier_eps)
        else:
            per_frame = (flow[0] - goal).abs().flatten(1).mean(1)
        objective = per_frame / zero.clamp_min(1e-8)
        if config.rate_lambda > 0:
            objective = objective + config.rate_lambda * torch.log2(1 + scaled.abs()).flatten(1).sum(1)
        return per_frame, objective

    y = tokens.detach().clone().float().requires_grad_(config.iterations > 0)
    with torch.no_grad():
        initial, best_objective = objectives(y)
    best_tokens = y.detach().clone()
    best = initial.clone()
    done = 0
    if config.iterations > 0:
        opt = torch.optim.Adam([y], lr=config.lr)
        stale = 0
        for it in range(config.iterations):
            per_frame, objective = objectives(y)
            with torch.no_grad():  # the current (pre-step) tokens, quantised as the decoder will see them
                better = objective < best_objective - config.min_improvement * best_objective.abs()
                if better.any():
                    best_tokens[better] = y.detach()[better]
                    best[better] = per_frame.detach()[better]
                    best_objective[better] = objective.detach()[better]
                    stale = 0
                else:
                    stale += 1
            if stale >= config.patience:
                break
            opt.zero_grad(set_to_none=True)
            objective.sum().backward()
            opt.step()
            done = it + 1
    return RefineResult(tokens=best_tokens, initial_loss=initial, final_loss=best, zero_loss=zero, iterations=done)
