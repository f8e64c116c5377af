"""Decode any number of frames with a fixed-length video model, window by window.

Every flow of the codec refers to the key frame, so each window can start from the decoded key
frame: a window is ``[key slot] + target frames`` and windows are independent. Consecutive
windows may share ``overlap`` target frames; the frames they share are blended with weights
that ramp linearly across the shared span (no seam). The last window is shifted back to end at
the last frame (it keeps the model's frame count and overlaps more) rather than shortened;
a sequence shorter than one window is decoded as one shorter window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dynamics_codec.errors import ConfigError


@dataclass(frozen=True)
class Window:
    """Target frames ``[start, stop)`` of the sequence (0 = first frame after the key frame)."""

    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


def plan_windows(num_frames: int, window_size: int, overlap: int = 0, key_slot: bool = True) -> list[Window]:
    """Cover ``num_frames`` target frames with windows of ``window_size`` model frames.

    Args:
        num_frames: frames to produce (T >= 1).
        window_size: frames the video model generates at once (SVD-xt: 25), key slot included.
        overlap: target frames shared by consecutive windows (0 <= overlap < targets per window).
        key_slot: True: slot 0 of every window holds the key frame, so a window has
            ``window_size - 1`` target frames (MOFA's layout). False: all slots are targets.

    Returns:
        Windows in order, covering ``[0, num_frames)``; consecutive windows overlap by at least
        ``overlap`` frames (the last one possibly by more).
    """
    targets = window_size - (1 if key_slot else 0)
    if targets < 1:
        raise ConfigError(f"window_size={window_size} leaves no target frames (key_slot={key_slot}); use >= {2 if key_slot else 1}.")
    if not 0 <= overlap < targets:
        raise ConfigError(f"window overlap must be in [0, {targets - 1}] for {targets} target frames per window; got {overlap}.")
    if num_frames < 1:
        raise ConfigError(f"need at least one frame to decode; got {num_frames}.")
    if num_frames <= targets:
        return [Window(0, num_frames)]
    stride = targets - overlap
    windows = []
    start = 0
    while True:
        if start + targets >= num_frames:
            windows.append(Window(num_frames - targets, num_frames))
            break
        windows.append(Window(start, start + targets))
        start += stride
    return windows


def blend_weights(windows: list[Window], device: torch.device | None = None) -> list[torch.Tensor]:
    """Per-window frame weights ``[length]`` that sum to 1 over the windows covering each frame.

    Inside a shared span the earlier window's weight falls linearly and the later one's rises;
    frames covered by one window get weight 1.
    """
    raw = []
    for i, window in enumerate(windows):
        position = torch.arange(window.length, dtype=torch.float64, device=device)
        weight = torch.ones(window.length, dtype=torch.float64, device=device)
        if i > 0:
            shared = windows[i - 1].stop - window.start
            if shared > 0:
                weight = torch.minimum(weight, (position + 1) / (shared + 1))
        if i + 1 < len(windows):
            shared = window.stop - windows[i + 1].start
            if shared > 0:
                weight = torch.minimum(weight, (window.length - position) / (shared + 1))
        raw.append(weight)
    total = torch.zeros(windows[-1].stop, dtype=torch.float64, device=device)
    for window, weight in zip(windows, raw):
        total[window.start : window.stop] += weight
    return [(weight / total[window.start : window.stop]).float() for window, weight in zip(windows, raw)]


def merge_windows(outputs: list[torch.Tensor], windows: list[Window]) -> torch.Tensor:
    """Blend per-window frames ``[B, length_i, ...]`` into ``[B, T, ...]`` with :func:`blend_weights`."""
    first = outputs[0]
    merged = first.new_zeros(first.shape[0], windows[-1].stop, *first.shape[2:])
    shape_tail = (1,) * (first.dim() - 2)
    for output, window, weight in zip(outputs, windows, blend_weights(windows, first.device)):
        merged[:, window.start : window.stop] += output * weight.to(output.dtype).view(1, -1, *shape_tail)
    return merged
