"""Training samples: (key frame, frame t, flow key->t, sparse flow + mask) with augmentations.

Every sample is a pure function of ``(seed, epoch, index)``: the frame choice, the crop, the
flip and the sampler's random choices all draw from a generator seeded with those three
numbers, so a dataset is deterministic under a seed whatever the number of DataLoader workers,
and a resumed run sees exactly the batches the interrupted one would have seen.

Augmentations keep the geometry of motion consistent: a horizontal flip mirrors the images
and the flow field and negates its x component; a crop cuts the same window from images and
flow. Colours are never changed (the flow belongs to the pixels as they are).

Sample (a dict of tensors, float32): ``key`` [3,h,w] and ``frame`` [3,h,w] in [0,1], ``flow``
[2,h,w] (key -> frame t, pixels), ``sparse_flow`` / ``mask`` [2,h,w] from the watershed sampler,
``clip`` and ``t`` (int64 scalars).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors import safe_open
from torch.utils.data import Dataset

from dynamics_codec.data.synthetic import BUNDLED_IMAGES, bundled_image, smooth_motion_field
from dynamics_codec.warping import backward_warp, invert_flow
from dynamics_codec.errors import ConfigError, InputError
from dynamics_codec.sampler import WatershedSampler


@dataclass
class Augment:
    crop: int | None = None  # square crop side (None = full frame)
    hflip: bool = True


def _rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(epoch), int(index)])


class MotionDataset(Dataset):
    """Base class: subclasses provide ``num_clips``, ``clip_frames(i)`` and ``load(i, t, rng)``."""

    def __init__(
        self,
        sampler: WatershedSampler,
        *,
        augment: Augment | None = None,
        samples_per_clip: int = 1,
        seed: int = 0,
        sequential: bool = False,
        with_frame: bool = True,
    ) -> None:
        self.sampler = sampler
        self.with_frame = with_frame  # training needs only key, flow and sparse motion: skip rendering/reading frame t
        self.augment = augment or Augment(crop=None, hflip=False)
        self.samples_per_clip = int(samples_per_clip)
        self.seed = int(seed)
        # validation: ``samples_per_clip`` frames evenly spread over the clip, in order, no augmentation
        self.sequential = sequential
        self.epoch = 0

    # -- subclass API
    num_clips: int

    def clip_frames(self, clip: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def load(self, clip: int, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """uint8 key [H,W,3], uint8 frame t [H,W,3] (None when ``with_frame`` is off), flow_t [2,H,W],
        flow of the last frame [2,H,W]."""
        raise NotImplementedError  # pragma: no cover

    # -- common
    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_clips * self.samples_per_clip

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        clip, k = divmod(index, self.samples_per_clip)
        rng = _rng(self.seed, 0 if self.sequential else self.epoch, index)
        n_frames = self.clip_frames(clip)
        if n_frames < 2:
            raise InputError(f"clip {clip} has {n_frames} frame(s); training needs at least 2")
        if self.sequential:
            t = 1 + round((k + 1) * (n_frames - 2) / self.samples_per_clip) if self.samples_per_clip > 1 else n_frames - 1
            t = min(max(t, 1), n_frames - 1)
        else:
            t = int(rng.integers(1, n_frames))
        key, frame, flow, flow_last = self.load(clip, t, rng)
        key_t = torch.from_numpy(np.ascontiguousarray(key)).permute(2, 0, 1).float() / 255
        frame_t = key_t if frame is None else torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float() / 255
        flow_t = torch.from_numpy(np.ascontiguousarray(flow)).float()
        last_t = torch.from_numpy(np.ascontiguousarray(flow_last)).float()
        if not self.sequential:
            key_t, frame_t, flow_t, last_t = self._augment(rng, key_t, frame_t, flow_t, last_t)
        if self.sampler.mask_mode == "sequence":
            # one set of points per clip (as the codec samples once per sequence): the sampler's
            # randomness depends on the clip, not on the frame
            source = last_t
            clip_rng = _rng(self.seed, 0 if self.sequential else self.epoch, 1_000_003 + clip)
            gen = torch.Generator().manual_seed(int(clip_rng.integers(0, 2**62)))
        else:
            source = flow_t
            gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
        sparse = self.sampler(source[None], generator=gen)
        mask = sparse.mask[0]
        sample = {
            "key": key_t,
            "flow": flow_t,
            "sparse_flow": flow_t * mask,
            "mask": mask,
            "clip": torch.tensor(clip),
            "t": torch.tensor(t),
        }
        if self.with_frame:
            sample["frame"] = frame_t
        return sample

    def _augment(self, rng, *tensors):
        key, frame, flow, last = tensors
        h, w = key.shape[-2:]
        crop = self.augment.crop
        if crop is not None and (crop < h or crop < w):
            if crop > min(h, w):
                raise ConfigError(f"data crop {crop} is larger than the clip ({w}x{h})")
            y0 = int(rng.integers(0, h - crop + 1))
            x0 = int(rng.integers(0, w - crop + 1))
            key, frame, flow, last = (x[..., y0 : y0 + crop, x0 : x0 + crop] for x in (key, frame, flow, last))
        if self.augment.hflip and rng.random() < 0.5:
            key, frame = key.flip(-1), frame.flip(-1)
            sign = torch.tensor([-1.0, 1.0]).view(2, 1, 1)
            flow, last = flow.flip(-1) * sign, last.flip(-1) * sign
        return key.contiguous(), frame.contiguous(), flow.contiguous(), last.contiguous()


def _square(image: np.ndarray, size: int, rng: np.random.Generator, zoom: tuple[float, float]) -> np.ndarray:
    """A random square window (side = short side x U(zoom)) resized to ``size``."""
    h, w = image.shape[:2]
    side = max(16, int(min(h, w) * rng.uniform(*zoom)))
    y0 = int(rng.integers(0, h - side + 1))
    x0 = int(rng.integers(0, w - side + 1))
    crop = image[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


class SyntheticMotionDataset(MotionDataset):
    """Bundled photos animated by smooth oscillating flow (ground truth known exactly).

    Clip ``i`` is fixed by ``(clip_seed, i)``: a random square window of a bundled photo and a
    random motion field (:func:`~dynamics_codec.data.synthetic.smooth_motion_field`); only the
    frames a sample needs are rendered. The ``flow`` of a sample is the ground truth.
    """

    def __init__(
        self,
        sampler: WatershedSampler,
        *,
        num_clips: int = 64,
        size: int = 384,
        num_frames: int = 50,
        fps: float = 25.0,
        max_displacement: float = 6.0,
        drift: float = 0.0,
        clip_seed: int = 0,
        images: tuple[str, ...] = BUNDLED_IMAGES,
        **kwargs,
    ) -> None:
        super().__init__(sampler, **kwargs)
        self.num_clips = int(num_clips)
        self.size, self.num_frames, self.fps = int(size), int(num_frames), float(fps)
        self.max_displacement, self.drift = float(max_displacement), float(drift)
        self.clip_seed = int(clip_seed)
        self.images = {name: bundled_image(name) for name in images}
        self.names = tuple(images)

    def clip_frames(self, clip: int) -> int:
        return self.num_frames

    def load(self, clip, t, rng):
        crng = np.random.default_rng([self.clip_seed, 7919, int(clip)])
        name = self.names[int(crng.integers(0, len(self.names)))]
        key = _square(self.images[name], self.size, crng, (0.45, 1.0))
        flow, _ = smooth_motion_field(
            self.size, self.size, self.num_frames, self.fps, crng,
            max_displacement=self.max_displacement * float(crng.uniform(0.3, 1.0)),
            drift=self.drift, frame_indices=np.array([t, self.num_frames - 1]),
        )
        frame_u8 = None
        if self.with_frame:
            key_f = torch.from_numpy(key).permute(2, 0, 1).float()[None] / 255
            frame = backward_warp(key_f, invert_flow(torch.from_numpy(flow[:1]), iterations=8))
            frame_u8 = frame[0].mul(255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        return key, frame_u8, flow[0], flow[1]


def _check_entry(entry: object, where: str) -> dict:
    """A manifest entry whose fields are safe to join into paths under the dataset root: ``id`` one
    plain name, ``flow_file`` a relative path without ``..``, ``frames`` an integer >= 1."""
    if not isinstance(entry, dict):
        raise InputError(f"{where}: a manifest line must be a JSON object, found {type(entry).__name__}")
    cid, flow_file, frames = entry.get("id"), entry.get("flow_file"), entry.get("frames")
    if not isinstance(cid, str) or cid in ("", ".", "..") or "/" in cid or "\\" in cid or "\0" in cid:
        raise InputError(f"{where}: clip id {cid!r} is not a plain folder name; re-run scripts/prepare_data.py")
    if flow_file is not None:
        rel = Path(flow_file) if isinstance(flow_file, str) and "\0" not in flow_file else None
        if rel is None or rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise InputError(f"{where}: flow_file {flow_file!r} must be a path relative to the dataset folder, without "
                             "'..'; re-run scripts/prepare_data.py")
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise InputError(f"{where}: frames {frames!r} must be an integer >= 1; re-run scripts/prepare_data.py")
    return entry


class PreparedClipDataset(MotionDataset):
    """Clips written by ``scripts/prepare_data.py``: PNG frames + cached flows + a manifest.

    ``root/manifest.jsonl`` has one JSON object per clip with ``id``, ``frames``, ``split``,
    ``flow_file`` (relative to root); frames are ``root/clips/<id>/frame_<t:05d>.png``.
    """

    def __init__(self, sampler: WatershedSampler, *, root: str | Path, split: str = "train", **kwargs) -> None:
        super().__init__(sampler, **kwargs)
        self.root = Path(root)
        manifest = self.root / "manifest.jsonl"
        if not manifest.is_file():
            raise InputError(f"{manifest} not found: run scripts/prepare_data.py input=<videos> output={self.root}")
        entries = []
        for number, line in enumerate(manifest.read_text().splitlines(), 1):
            if line.strip():
                try:
                    entries.append(_check_entry(json.loads(line), f"{manifest}:{number}"))
                except json.JSONDecodeError as err:
                    raise InputError(f"{manifest}:{number}: not JSON ({err}); re-run scripts/prepare_data.py") from err
        self.entries = [e for e in entries if e.get("split") == split and e.get("flow_file")]
        if not self.entries:
            raise InputError(f"{manifest}: no prepared clips in split '{split}' (have: "
                             f"{sorted({e.get('split') for e in entries})})")
        self.num_clips = len(self.entries)

    def clip_frames(self, clip: int) -> int:
        return int(self.entries[clip]["frames"])

    def _frame(self, clip: int, t: int) -> np.ndarray:
        path = self.root / "clips" / self.entries[clip]["id"] / f"frame_{t:05d}.png"
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise InputError(f"cannot read {path}; re-run scripts/prepare_data.py")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def load(self, clip, t, rng):
        entry = self.entries[clip]
        with safe_open(str(self.root / entry["flow_file"]), framework="pt") as f:
            flows = f.get_slice("flow")
            flow_t = flows[t - 1 : t].float()[0].numpy()
            last = flows[entry["frames"] - 2 : entry["frames"] - 1].float()[0].numpy()
        return self._frame(clip, 0), self._frame(clip, t) if self.with_frame else None, flow_t, last
