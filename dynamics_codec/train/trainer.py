"""Training of the tokenizer and the dense-flow generator (the only trained parts).

Loss: L1 between the generated dense flow and the target dense flow: ``target=cmp`` (the
paper: the dense motion MOFA's CMP makes from the same sparse points, so the recovered flow is
what the pretrained adaptor expects) or ``target=flow`` (the flow backend's dense flow, or the
ground truth of synthetic data; for when CMP weights are absent), weighted by ``flow_weight``.
Optional photometric term ``photometric_weight * rho(warp(key, flow) - frame_t)``: the key frame
warped by the generated flow exactly as the warp decoder does (softsplat, holes filled) against
frame t, with a robust loss ``rho`` (Charbonnier), at ``photometric_scale`` of the frame size.
It trains the motion the warp decoder can use: an L1-optimal flow is a smooth average that,
on water or fire, moves texture to the wrong place and decodes worse than no motion.

Analysis (``analysis``): ``tokenizer`` (the paper: tokens from the sparse flow) or, for a
generator with the linear head, ``projection``: the tokens are the least-squares projection of
the target flow onto the key frame's motion bases (what the encoder computes), so the bases are
trained to span the motion of their clip; the tokenizer then learns to predict those tokens
from the sparse flow (L1, weight ``tokenizer_weight``), an amortised first guess. Optional: uniform noise of
width ``token_noise`` on the tokens (the quantiser seen at training time) and a rate term
``rate_weight * bits`` from :class:`~dynamics_codec.train.rate.TokenRateModel`.

Engineering: Adam + multi-step LR (per epoch), AMP on CUDA, gradient clipping, DDP under
``torchrun`` (one process per GPU, or gloo on CPU), rank-0 logging to TensorBoard and
``metrics.jsonl``, atomic checkpoints with everything needed to continue exactly (model,
optimizer, scheduler, scaler, RNG, position in the epoch). Data order and augmentation are
functions of (seed, epoch, index) only, so a resumed run reproduces the uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import DataLoader

from dynamics_codec.data.dataset import Augment, MotionDataset, PreparedClipDataset, SyntheticMotionDataset
from dynamics_codec.decoder.warp import WarpDecoder
from dynamics_codec.entropy import TokenCoder, TokenCodingConfig
from dynamics_codec.errors import ConfigError
from dynamics_codec.flow.visualize import flow_to_rgb
from dynamics_codec.motion_model import MotionModel
from dynamics_codec.codec import build_sampler
from dynamics_codec.utils.config import section_options
from dynamics_codec.train.rate import TokenRateModel
from dynamics_codec.train.state import copy_checkpoint, load_training_state, save_training_checkpoint
from dynamics_codec.utils.files import atomic_write_text


@dataclass
class TrainSettings:
    epochs: int = 50
    batch_size: int = 24  # global batch (split over DDP ranks)
    optimizer: str = "adam"
    lr: float = 1e-4
    weight_decay: float = 0.0
    lr_milestones: list[int] = field(default_factory=lambda: [30, 45])
    lr_gamma: float = 0.1
    grad_clip: float | None = None
    amp: bool = True  # mixed precision, CUDA only
    loss: str = "l1"
    target: str = "cmp"  # cmp | flow
    flow_weight: float = 1.0  # weight of the L1 flow term
    photometric_weight: float = 0.0  # weight of the warped-key-frame term (0: off, as in the paper)
    photometric_scale: float = 0.5  # resolution of that term, fraction of the frame size
    analysis: str = "tokenizer"  # tokenizer (the paper) | projection (linear generator head: least squares)
    projection_ridge: float = 1e-3  # ridge of the projection, relative to a basis' energy
    tokenizer_weight: float = 0.1  # projection: L1 of the tokenizer's tokens against the projected ones
    token_noise: float = 0.0
    rate_weight: float = 0.0
    rate_step: float = 0.1  # quantisation step for rate estimates (TensorBoard and the rate term)
    num_workers: int = 0
    log_every: int = 10
    val_every: int = 1  # epochs
    save_every: int = 0  # steps (0 = at the end of every epoch only)
    image_every: int = 1  # validations between TensorBoard images
    max_steps: int | None = None
    stop_after_steps: int | None = None  # test hook: exit abruptly after this step (simulated crash)

    @classmethod
    def from_cfg(cls, cfg: DictConfig | dict) -> "TrainSettings":
        d = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"train: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
        s = cls(**d)
        if s.target not in ("cmp", "flow"):
            raise ConfigError(f"train.target must be 'cmp' or 'flow', got {s.target!r}")
        if s.loss != "l1":
            raise ConfigError(f"train.loss: only 'l1' (the paper's) is implemented, got {s.loss!r}")
        if s.optimizer != "adam":
            raise ConfigError(f"train.optimizer: only 'adam' is implemented, got {s.optimizer!r}")
        if s.flow_weight < 0 or s.photometric_weight < 0 or s.flow_weight + s.photometric_weight <= 0:
            raise ConfigError("train.flow_weight and train.photometric_weight must be >= 0, and not both 0")
        if s.analysis not in ("tokenizer", "projection"):
            raise ConfigError(f"train.analysis must be 'tokenizer' or 'projection', got {s.analysis!r}")
        if not 0 < s.photometric_scale <= 1:
            raise ConfigError(f"train.photometric_scale must be in (0, 1], got {s.photometric_scale}")
        return s


class TrainingModule(nn.Module):
    """Tokenizer + generator as one module (what DDP wraps): batch -> (flow, tokens)."""

    def __init__(self, model: MotionModel, analysis: str = "tokenizer", ridge: float = 1e-3,
                 train_tokenizer: bool = True) -> None:
        super().__init__()
        self.tokenizer = model.tokenizer
        self.generator = model.generator
        self.analysis = analysis
        self.ridge = ridge
        self.train_tokenizer = train_tokenizer

    def forward(self, key, sparse_flow, mask, noise: torch.Tensor | None = None, small_size=None, dense_flow=None):
        """(flow [B,2,H,W], tokens [B,V,N], flow at ``small_size`` or None, tokenizer tokens or None)
        for one frame per sample. With ``analysis="projection"`` the tokens are the projection of
        ``dense_flow`` [B,2,H,W] onto the key frame's motion bases."""
        key_features = self.generator.encode_key(key)
        predicted = None
        if self.analysis == "projection":
            tokens = self.generator.project(key_features, dense_flow[:, None], ridge=self.ridge)[:, 0]
            if self.train_tokenizer:
                predicted = self.tokenizer(sparse_flow, mask, key)
        else:
            tokens = self.tokenizer(sparse_flow, mask, key)  # [B, V, N]
        coded = tokens if noise is None else tokens + noise
        flow = self.generator(key, coded[:, None], key_features=key_features)[:, 0]
        small = None
        if small_size is not None:
            small = self.generator(key, coded[:, None], key_features=key_features, size=small_size)[:, 0]
        return flow, tokens, small, predicted


def build_datasets(cfg) -> tuple[MotionDataset, MotionDataset]:
    """Train and validation datasets of a composed train config."""
    data, seed = cfg.data, int(cfg.seed)
    # frame t is read (or rendered) for training only when the photometric term needs it
    with_frame = float(cfg.train.get("photometric_weight", 0.0)) > 0
    sampler = build_sampler(cfg)
    aug = Augment(crop=data.get("crop"), hflip=bool(data.get("hflip", True)))
    val_frames = int(data.get("val_frames_per_clip", 4))
    if data.name == "synthetic":
        common = dict(size=int(data.size), num_frames=int(data.num_frames), fps=float(data.get("fps", 25)),
                      max_displacement=float(data.max_displacement), drift=float(data.get("drift", 0.0)))
        train = SyntheticMotionDataset(sampler, num_clips=int(data.num_clips), clip_seed=int(data.seed), augment=aug,
                                       samples_per_clip=int(data.get("samples_per_clip", 1)), seed=seed,
                                       with_frame=with_frame, **common)
        val = SyntheticMotionDataset(sampler, num_clips=int(data.get("val_clips", 8)), clip_seed=int(data.seed) + 10_000,
                                     samples_per_clip=val_frames, seed=seed, sequential=True, **common)
    elif data.name == "prepared":
        train = PreparedClipDataset(sampler, root=data.root, split="train", augment=aug,
                                    samples_per_clip=int(data.get("samples_per_clip", 1)), seed=seed, with_frame=with_frame)
        val = PreparedClipDataset(sampler, root=data.root, split="val", samples_per_clip=val_frames, seed=seed,
                                  sequential=True)
    else:
        raise ConfigError(f"data.name must be 'synthetic' or 'prepared', got {data.name!r}")
    return train, val


def collate(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}


class Trainer:
    def __init__(self, cfg: DictConfig, out_dir: str | os.PathLike) -> None:
        self.cfg = cfg
        self.settings = s = TrainSettings.from_cfg(cfg.train)
        self.out_dir = Path(out_dir)
        self._setup_distributed(cfg)
        self.model = MotionModel.from_config(
            section_options(cfg.tokenizer, ()), section_options(cfg.generator, ()), seed=int(cfg.model.seed)
        )
        self.model.to(self.device)
        module = TrainingModule(self.model, s.analysis, s.projection_ridge, s.tokenizer_weight > 0)
        if self.world_size > 1:
            module = nn.parallel.DistributedDataParallel(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.module = module
        self.rate_model = TokenRateModel(self.model.num_vectors, self.model.num_values).to(self.device)
        params = list(self.model.parameters()) + (list(self.rate_model.parameters()) if s.rate_weight > 0 else [])
        self.optimizer = torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, milestones=list(s.lr_milestones), gamma=s.lr_gamma)
        self.use_amp = bool(s.amp and self.device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.noise_gen = torch.Generator().manual_seed(int(cfg.seed) * 1000 + 17 + self.rank)
        self.train_set, self.val_set = build_datasets(cfg)
        if s.batch_size % self.world_size:
            raise ConfigError(f"train.batch_size {s.batch_size} must be divisible by the {self.world_size} processes")
        self.local_batch = s.batch_size // self.world_size
        self.steps_per_epoch = len(self.train_set) // s.batch_size
        if self.steps_per_epoch == 0:
            raise ConfigError(f"the training set has {len(self.train_set)} samples, fewer than one batch of {s.batch_size}")
        self.target_maker = self._build_target(cfg)
        self.warp = WarpDecoder(mode="softsplat")
        self.step = self.epoch = self.offset = 0
        self.best = math.inf
        self.writer = None
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out_dir / "tb"))
            self.metrics_path = self.out_dir / "metrics.jsonl"

    # ------------------------------------------------------------------ setup
    def _setup_distributed(self, cfg) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        want = str(cfg.get("device", "cpu"))
        if want.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("device=cuda but CUDA is not available; use device=cpu")
        if self.world_size > 1:
            backend = "nccl" if want.startswith("cuda") else "gloo"
            if not dist.is_initialized():
                dist.init_process_group(backend=backend)
            self.device = torch.device(f"cuda:{local_rank}") if want.startswith("cuda") else torch.device("cpu")
            if self.device.type == "cuda":
                torch.cuda.set_device(self.device)
        else:
            self.device = torch.device(want)

    def _build_target(self, cfg):
        if self.settings.target == "flow":
            return None
        from dynamics_codec.cmp import build_cmp_predictor  # needs the CMP checkpoint (configs/cmp/mofa.yaml)

        return build_cmp_predictor(cfg.cmp, device=self.device)

    # ------------------------------------------------------------------ data
    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of ``epoch`` (global order from (seed, epoch); ranks interleave)."""
        order = np.random.default_rng([int(self.cfg.seed), 4242, epoch]).permutation(len(self.train_set))
        batches = []
        for b in range(self.steps_per_epoch):
            glob = order[b * self.settings.batch_size : (b + 1) * self.settings.batch_size]
            batches.append([int(i) for i in glob[self.rank :: self.world_size]])
        return batches

    def _loader(self, batches: list[list[int]], dataset: MotionDataset) -> DataLoader:
        return DataLoader(dataset, batch_sampler=batches, num_workers=self.settings.num_workers, collate_fn=collate,
                          persistent_workers=False)

    def _target(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.target_maker is None:
            return batch["flow"]
        with torch.no_grad():
            return self.target_maker(batch["key"], batch["sparse_flow"], batch["mask"])

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step, "epoch": self.epoch, "offset": self.offset, "best": self.best,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "rate_model": self.rate_model.state_dict(),
            "noise_gen": self.noise_gen.get_state(), "world_size": self.world_size,
        }

    def load_state(self, folder: str | os.PathLike) -> None:
        st = load_training_state(folder)
        self.model.load_state_dict(MotionModel.load(folder).state_dict())
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self.scaler.load_state_dict(st["scaler"])
        self.rate_model.load_state_dict(st["rate_model"])
        self.noise_gen.set_state(st["noise_gen"])
        self.step, self.epoch, self.offset, self.best = int(st["step"]), int(st["epoch"]), int(st["offset"]), float(st["best"])
        if int(st["world_size"]) != self.world_size:
            raise ConfigError(f"checkpoint was written by {st['world_size']} processes; resume with the same number "
                              f"(now {self.world_size}) to continue exactly")

    def save(self, name: str = "last") -> Path | None:
        if self.rank != 0:
            return None
        info = {"trained_steps": self.step, "epoch": self.epoch, "train_config": OmegaConf.to_container(self.cfg.train),
                "data": OmegaConf.to_container(self.cfg.data, resolve=True)}
        path = save_training_checkpoint(self.out_dir / "checkpoints" / name, self.model, self.state(), info=info)
        return path

    # ------------------------------------------------------------------ logging
    def log(self, tag: str, values: dict[str, float]) -> None:
        if self.rank != 0:
            return
        for k, v in values.items():
            self.writer.add_scalar(f"{tag}/{k}", v, self.step)
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps({"tag": tag, "step": self.step, "epoch": self.epoch, **values}) + "\n")

    def photometric_loss(self, key: torch.Tensor, flow: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """Charbonnier loss of the key frame warped by ``flow`` (at the flow's size, as the warp
        decoder warps) against ``frame``; key and frame are area-resized to that size."""
        size = flow.shape[-2:]
        if key.shape[-2:] != size:
            key = F.interpolate(key, size=size, mode="area")
            frame = F.interpolate(frame, size=size, mode="area")
        warped = self.warp.decode(key, flow[:, None])[:, 0]
        d = warped - frame
        return (torch.sqrt(d * d + 1e-6) - 1e-3).mean()

    # ------------------------------------------------------------------ loop
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        s = self.settings
        batch = {k: v.to(self.device) for k, v in batch.items()}
        target = self._target(batch)
        noise = None
        if s.token_noise > 0:
            shape = (batch["key"].shape[0], self.model.num_vectors, self.model.num_values)
            noise = ((torch.rand(shape, generator=self.noise_gen) - 0.5) * s.token_noise).to(self.device)
        self.module.train()
        small_size = None
        if s.photometric_weight > 0:
            h, w = batch["key"].shape[-2:]
            small_size = (max(8, round(h * s.photometric_scale)), max(8, round(w * s.photometric_scale)))
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp):
            flow, tokens, small_flow, predicted = self.module(batch["key"], batch["sparse_flow"], batch["mask"], noise,
                                                              small_size, target)
        loss_flow = (flow.float() - target).abs().mean()
        loss = s.flow_weight * loss_flow
        out = {"loss": 0.0, "l1": float(loss_flow.detach())}
        if predicted is not None:
            loss_tok = (predicted.float() - tokens.detach().float()).abs().mean()
            loss = loss + s.tokenizer_weight * loss_tok
            out["tokenizer_l1"] = float(loss_tok.detach())
        if small_flow is not None:
            photo = self.photometric_loss(batch["key"], small_flow.float(), batch["frame"])
            loss = loss + s.photometric_weight * photo
            out["photometric"] = float(photo.detach())
        if s.rate_weight > 0:
            bits = self.rate_model.bits(tokens.float(), s.rate_step).mean()  # per frame
            loss = loss + s.rate_weight * bits
            out["rate_bits_per_frame"] = float(bits.detach())
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if s.grad_clip:
            self.scaler.unscale_(self.optimizer)
            out["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        out["loss"] = float(loss.detach())
        return out

    def fit(self, resume: str | None = None) -> dict[str, float]:
        from tqdm import tqdm

        s = self.settings
        if resume:
            self.load_state(resume)
        last_val: dict[str, float] = {}
        while self.epoch < s.epochs:
            batches = self._epoch_batches(self.epoch)[self.offset :]
            self.train_set.set_epoch(self.epoch)
            bar = tqdm(total=self.steps_per_epoch, initial=self.offset, desc=f"epoch {self.epoch}",
                       disable=self.rank != 0, leave=False)
            for batch in self._loader(batches, self.train_set):
                t0 = time.perf_counter()
                values = self.train_step(batch)
                self.step += 1
                self.offset += 1
                bar.update()
                if self.step % s.log_every == 0 or self.offset == self.steps_per_epoch:
                    values.update(lr=self.optimizer.param_groups[0]["lr"], step_time_s=time.perf_counter() - t0)
                    self.log("train", values)
                    bar.set_postfix(loss=f"{values['loss']:.4f}")
                if s.save_every and self.step % s.save_every == 0:
                    self.save("last")
                if s.stop_after_steps is not None and self.step >= s.stop_after_steps:
                    os._exit(3)  # simulated crash: no cleanup, no final checkpoint
                if s.max_steps is not None and self.step >= s.max_steps:
                    break
            bar.close()
            improved = False
            if self.offset >= self.steps_per_epoch:
                self.epoch += 1
                self.offset = 0
                self.scheduler.step()
                if self.epoch % s.val_every == 0 or self.epoch >= s.epochs:
                    last_val = self.validate(images=(self.epoch // s.val_every) % s.image_every == 0)
                    improved = bool(last_val) and last_val["epe"] < self.best
                    if improved:
                        self.best = last_val["epe"]
            self.save("last")
            if improved and self.rank == 0:
                copy_checkpoint(self.out_dir / "checkpoints" / "last", self.out_dir / "checkpoints" / "best")
            if s.max_steps is not None and self.step >= s.max_steps:
                break
        if self.rank == 0:
            atomic_write_text(self.out_dir / "final.json", json.dumps({"step": self.step, "epoch": self.epoch, **last_val}, indent=2))
        if self.world_size > 1:
            dist.barrier()
        return last_val

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self, images: bool = True) -> dict[str, float]:
        """EPE of the generated flow, warped-reconstruction PSNR, and exact token bits per frame."""
        if self.rank != 0:
            return {}
        self.model.eval()
        n = len(self.val_set)
        sums = {"epe": 0.0, "epe_zero": 0.0, "l1": 0.0, "psnr": 0.0, "psnr_zero": 0.0}
        tokens_by_clip: dict[int, list[tuple[int, np.ndarray]]] = {}
        first = None
        for batch in self._loader([list(range(i, min(i + self.local_batch, n))) for i in range(0, n, self.local_batch)], self.val_set):
            batch = {k: v.to(self.device) for k, v in batch.items()}
            target = self._target(batch)
            if self.settings.analysis == "projection":  # what the encoder does
                feats = self.model.generator.encode_key(batch["key"])
                tokens = self.model.generator.project(feats, target[:, None], ridge=self.settings.projection_ridge)[:, 0]
            else:
                tokens = self.model.tokenizer(batch["sparse_flow"], batch["mask"], batch["key"])
            flow = self.model.generator(batch["key"], tokens[:, None])[:, 0]
            b = flow.shape[0]
            sums["epe"] += float(torch.linalg.vector_norm(flow - target, dim=1).mean()) * b
            sums["epe_zero"] += float(torch.linalg.vector_norm(target, dim=1).mean()) * b
            sums["l1"] += float((flow - target).abs().mean()) * b
            recon = self.warp.decode(batch["key"], flow[:, None])[:, 0]
            sums["psnr"] += float(_psnr(recon, batch["frame"]).sum())
            sums["psnr_zero"] += float(_psnr(batch["key"], batch["frame"]).sum())
            for c, t, tok in zip(batch["clip"].tolist(), batch["t"].tolist(), tokens.float().cpu().numpy()):
                tokens_by_clip.setdefault(c, []).append((t, tok))
            if first is None:
                first = (batch, target, flow, recon)
        values = {k: v / n for k, v in sums.items()}
        coder = TokenCoder(TokenCodingConfig(step=self.settings.rate_step))
        bits, frames = 0, 0
        for seq in tokens_by_clip.values():
            seq.sort(key=lambda x: x[0])
            arr = np.stack([tok for _, tok in seq]).astype(np.float32)
            bits += coder.encode(arr).bits
            frames += arr.shape[0]
        values["token_bits_per_frame"] = bits / max(frames, 1)
        self.log("val", values)
        if images and first is not None:
            self._log_images(*first)
        return values

    def _log_images(self, batch, target, flow, recon, count: int = 4) -> None:
        k = min(count, flow.shape[0])
        scale = float(max(target[:k].abs().max(), 1e-3))
        rows = [
            batch["key"][:k].cpu(),
            torch.from_numpy(flow_to_rgb(target[:k].cpu(), scale)).permute(0, 3, 1, 2).float() / 255,
            torch.from_numpy(flow_to_rgb(flow[:k].cpu(), scale)).permute(0, 3, 1, 2).float() / 255,
            recon[:k].cpu().clamp(0, 1),
            batch["frame"][:k].cpu(),
        ]
        for name, imgs in zip(("key_frame", "target_flow", "generated_flow", "warped_reconstruction", "frame"), rows):
            self.writer.add_images(f"val/{name}", imgs, self.step)
        self.writer.flush()


def _psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    mse = F.mse_loss(a.clamp(0, 1), b.clamp(0, 1), reduction="none").flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))
