"""Forward-backward consistency: the check's arithmetic, and DIS noise motion in a flat region removed
while the true motion of a textured region is kept."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata

from dynamics_codec.errors import ConfigError
from dynamics_codec.flow import build_flow_backend
from dynamics_codec.flow.consistency import ConsistencyCheckedFlow, consistency_mask


def _constant(u: float, v: float, n: int = 1, size: int = 16) -> torch.Tensor:
    return torch.tensor([u, v]).view(1, 2, 1, 1).expand(n, 2, size, size).clone()


def test_mask_accepts_inverse_flows_and_rejects_disagreement():
    assert consistency_mask(_constant(2.5, -1.0), _constant(-2.5, 1.0)).all()
    # 10 px one way, 10.5 px back: |F+B|^2 = 0.25 <= 0.01 * (100 + 110.25) + 0.5
    assert consistency_mask(_constant(10.0, 0.0), _constant(-10.5, 0.0)).all()
    # 3 px one way, nothing back: 9 > 0.01 * 9 + 0.5
    assert not consistency_mask(_constant(3.0, 0.0), _constant(0.0, 0.0)).any()
    # sub-pixel disagreement stays within the absolute tolerance
    assert consistency_mask(_constant(0.5, 0.0), _constant(0.0, 0.0)).all()
    assert not consistency_mask(_constant(0.5, 0.0), _constant(0.0, 0.0), alpha1=0.0, alpha2=0.2).any()


def test_mask_samples_the_backward_flow_where_the_pixel_lands():
    forward = torch.zeros(1, 2, 8, 8)
    forward[:, 0, :, :4] = 2.0  # key columns 0..3 move 2 px right, onto columns 2..5
    backward = torch.zeros(1, 2, 8, 8)
    backward[:, 0, :, 2:6] = -2.0  # ... and frame columns 2..5 point back
    keep = consistency_mask(forward, backward)[0, 0]
    # key columns 4, 5 stay but the frame there points elsewhere (they are covered: occluded)
    assert keep[:, :4].all() and not keep[:, 4:6].any() and keep[:, 6:].all()
    backward[:, 0, :, 4:6] = 0.0  # frame columns 4, 5 no longer point back
    keep = consistency_mask(forward, backward)[0, 0]
    assert keep[:, :2].all() and not keep[:, 2:4].any() and keep[:, 4:].all()


def _scene(size: int = 192):
    """Left half: a photo translated by known shifts; right half: flat grey with fresh sensor noise
    in every frame (nothing moves there)."""
    img = cv2.resize(skdata.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    shifts = [(1.5, -0.75), (3.0, 2.0), (-2.5, 1.25)]

    def frame(dx: float, dy: float, seed: int) -> np.ndarray:
        moved = cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, dy]]), (size, size), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REFLECT).astype(np.float32)
        noise = np.random.default_rng(seed).normal(0, 2.0, (size, size, 1))
        moved[:, size // 2:] = 128 + noise[:, size // 2:]
        return np.clip(moved, 0, 255).astype(np.uint8)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255

    key = tensor(frame(0, 0, 100)[None])
    frames = tensor(np.stack([frame(dx, dy, i) for i, (dx, dy) in enumerate(shifts)]))[None]
    return key, frames, torch.tensor(shifts).view(3, 2, 1, 1), size


def test_checked_dis_removes_noise_motion_and_keeps_true_motion():
    key, frames, truth, size = _scene()
    raw = build_flow_backend("dis")(key, frames)[0]
    checked = build_flow_backend("dis", consistency_check=True)(key, frames)[0]
    assert checked.shape == raw.shape == (3, 2, size, size)
    flat = (slice(None), slice(None), slice(16, -16), slice(size // 2 + 16, -16))
    textured = (slice(None), slice(None), slice(24, -24), slice(24, size // 2 - 24))
    assert raw[flat].norm(dim=1).mean() > 1.0  # DIS reports pixels of motion in the flat noise
    assert checked[flat].norm(dim=1).mean() < 0.2 * raw[flat].norm(dim=1).mean()
    kept = checked[textured].norm(dim=1) > 0
    assert kept.float().mean() > 0.95
    assert (checked - truth)[textured].norm(dim=1)[kept].mean() < 0.25
    # checked flow is the raw flow or zero, pixel by pixel
    same = (checked == raw).all(dim=1) | (checked == 0).all(dim=1)
    assert same.all()


def test_identity_names_the_check_and_bad_tolerances_are_config_errors():
    plain = build_flow_backend("dis")
    checked = build_flow_backend("dis", consistency_check=True)
    assert isinstance(checked, ConsistencyCheckedFlow) and checked.name == "dis"
    assert checked.identity() != plain.identity() and checked.identity().startswith(plain.identity())
    assert checked.identity() != build_flow_backend("dis", consistency_check=True, consistency_alpha=(0.02, 0.5)).identity()
    with pytest.raises(ConfigError):
        build_flow_backend("dis", consistency_check=True, consistency_alpha=(0.01,))
    with pytest.raises(ConfigError):
        ConsistencyCheckedFlow(plain, alpha1=-1.0)


def test_the_base_bidirectional_gives_each_frame_its_reverse_flow():
    """A backend without its own ``bidirectional`` (e.g. Unimatch) gets the base one: the forward
    call, and each frame -> key flow from a call with that frame as the key."""
    from dynamics_codec.flow import FlowBackend

    class MeanDifference(FlowBackend):  # flow = (mean(frame) - mean(key), 0) per pair: direction-sensitive
        def forward(self, key, frames):
            d = frames.mean((2, 3, 4)) - key.mean((1, 2, 3))[:, None]
            return torch.stack([d, torch.zeros_like(d)], -1)[..., None, None].expand(*frames.shape[:2], 2, *frames.shape[-2:])

    key = torch.full((2, 3, 8, 8), 0.5)
    frames = (torch.tensor([0.1, 0.9]).view(2, 1, 1, 1, 1) + 0.01 * torch.arange(3).view(1, 3, 1, 1, 1)).expand(2, 3, 3, 8, 8)
    forward, backward = MeanDifference().bidirectional(key, frames)
    assert forward.shape == backward.shape == (2, 3, 2, 8, 8)
    assert torch.allclose(backward, -forward) and forward[0, 2, 0, 0, 0] == pytest.approx(0.1 + 0.02 - 0.5)
    checked = ConsistencyCheckedFlow(MeanDifference())(key, frames)
    assert torch.equal(checked, forward)  # exact inverses everywhere: nothing is zeroed
