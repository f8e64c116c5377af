"""DIS backend: conventions and accuracy on synthetic sequences with known flow."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skdata

from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.flow import build_flow_backend
from dynamics_codec.flow.dis import DISFlow


def _texture(size: int = 256) -> np.ndarray:
    img = cv2.resize(skdata.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    return img


def _affine_sequence(img: np.ndarray, matrices: list[np.ndarray]):
    """Frames where key pixel p moves to M p; returns frames uint8 and GT key->frame flow [T,2,H,W]."""
    h, w = img.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    frames, flows = [], []
    for m in matrices:
        frames.append(cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
        nx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
        ny = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
        flows.append(np.stack([nx - xs, ny - ys]).astype(np.float32))
    return np.stack(frames), np.stack(flows)


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


def _textured_mask(img: np.ndarray, border: int = 24) -> np.ndarray:
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean = cv2.blur(gray, (9, 9))
    std = np.sqrt(np.maximum(cv2.blur(gray * gray, (9, 9)) - mean * mean, 0))
    mask = std > 12.0
    mask[:border] = mask[-border:] = False
    mask[:, :border] = mask[:, -border:] = False
    return mask


@pytest.mark.parametrize(
    "kind",
    ["translation", "rotation"],
)
def test_dis_recovers_known_flow_in_textured_regions(kind):
    img = _texture()
    h, w = img.shape[:2]
    if kind == "translation":
        mats = [np.float32([[1, 0, dx], [0, 1, dy]]) for dx, dy in [(1.5, -0.75), (3.25, 2.0), (-4.0, 1.25)]]
    else:
        mats = [cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0).astype(np.float32) for angle in (0.5, 1.0, -1.5)]
    frames, gt = _affine_sequence(img, mats)
    flow = DISFlow(preset="medium")(_to_tensor(img[None]), _to_tensor(frames)[None])[0].numpy()
    assert flow.shape == gt.shape == (3, 2, h, w)
    mask = _textured_mask(img)
    assert mask.mean() > 0.2, "test image should be mostly textured"
    epe = np.linalg.norm(flow - gt, axis=1)  # [T,H,W]
    for t in range(len(mats)):
        mean_epe = float(epe[t][mask].mean())
        assert mean_epe < 0.5, f"{kind} frame {t}: mean EPE {mean_epe:.3f} px in textured regions"
        # direction convention: the mean flow has the sign of the true motion
        assert np.sign(flow[t, 0][mask].mean()) == np.sign(gt[t, 0][mask].mean())


def test_dis_zero_motion_is_zero_flow():
    img = _texture(128)
    video = _to_tensor(np.stack([img, img]))
    flow = DISFlow()(video[:1], video[None, 1:])
    assert flow.abs().max() < 1e-3


def test_dis_batch_and_shape_any_size():
    rng = np.random.default_rng(0)
    key = torch.from_numpy(rng.random((2, 3, 70, 90), dtype=np.float32))
    frames = key[:, None].repeat(1, 3, 1, 1, 1)
    flow = DISFlow(preset="ultrafast")(key, frames)
    assert flow.shape == (2, 3, 2, 70, 90) and flow.dtype == torch.float32


def test_build_flow_backend_and_errors():
    b = build_flow_backend("dis", preset="fast")
    assert isinstance(b, DISFlow) and "fast" in b.identity()
    assert b.identity() != build_flow_backend("dis", preset="medium").identity()
    with pytest.raises(ConfigError, match="unknown flow backend"):
        build_flow_backend("raft")
    with pytest.raises(ConfigError, match="preset"):
        DISFlow(preset="slow")
    with pytest.raises(InputError, match=r"\[B,T,3,H,W\]"):
        b(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def test_dis_pairs_in_parallel_threads_give_the_serial_flow():
    """workers > 1 spreads the image pairs over threads (one DIS object each): the same flow as one
    pair after another, for every pair of a batch of two keys with different motion."""
    img = _texture(96)
    shifts = [np.array([[1, 0, dx], [0, 1, dy]], np.float64) for dx, dy in [(1.5, 0), (0, 2.0), (-1, 1), (2, -2), (0.5, 0.5)]]
    frames, _ = _affine_sequence(img, shifts)
    video = _to_tensor(frames)
    key = torch.stack([_to_tensor(img[None])[0], video[0]])
    batch = torch.stack([video, video.flip(0)])
    serial = DISFlow(preset="fast", workers=1)(key, batch)
    parallel = DISFlow(preset="fast", workers=3)(key, batch)
    assert serial.abs().max() > 0.5  # real motion in every batch
    assert torch.equal(serial, parallel)
    assert DISFlow(workers=2).identity() == DISFlow(workers=1).identity()  # a cached flow stays valid
    with pytest.raises(ConfigError, match="flow.workers"):
        DISFlow(workers=0)


def test_dis_bidirectional_is_both_single_direction_calls():
    """bidirectional (one grey conversion, one thread pool; used by the consistency check) returns
    exactly the key -> frame flow and each frame's frame -> key flow."""
    img = _texture(96)
    shifts = [np.array([[1, 0, dx], [0, 1, dy]], np.float64) for dx, dy in [(2.0, 0), (0, -1.5), (1, 1)]]
    frames, _ = _affine_sequence(img, shifts)
    key, video = _to_tensor(img[None]), _to_tensor(frames)[None]
    dis = DISFlow(preset="fast", workers=2)
    forward, backward = dis.bidirectional(key, video)
    assert torch.equal(forward, dis(key, video))
    for j in range(video.shape[1]):
        assert torch.equal(backward[:, j], dis(video[:, j], key[:, None])[:, 0])
    assert forward[0, 0, 0].mean() > 1.0 and backward[0, 0, 0].mean() < -1.0  # opposite directions
