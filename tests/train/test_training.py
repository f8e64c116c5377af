"""Training: one step learns, exact resume after a crash, 2-process DDP on CPU (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from safetensors.torch import load_file

from dynamics_codec.train import Trainer
from dynamics_codec.train.trainer import collate

ROOT = Path(__file__).resolve().parents[2]
TINY = ["experiment=tiny_train", "train.log_every=1"]


def _cfg(overrides, out_dir):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[*TINY, *overrides, f"out_dir={out_dir}"])
    return cfg


def _run(args: list[str], out_dir: Path, torchrun: int = 0) -> subprocess.CompletedProcess:
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={torchrun}", "--master_port=29533"]
    else:
        cmd = [sys.executable]
    cmd += [str(ROOT / "scripts" / "train.py"), *TINY, *args, f"hydra.run.dir={out_dir}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=out_dir.parent, capture_output=True, text=True, timeout=900, env=env)


def _losses(out_dir: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if r["tag"] == "train"}


def test_training_steps_reduce_the_loss_on_a_fixed_batch(tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(_cfg(["train.lr=3e-3", "train.token_noise=0"], tmp_path), tmp_path)
    batch = collate([trainer.train_set[i] for i in range(4)])
    first = trainer.train_step(batch)["l1"]
    for _ in range(14):
        last = trainer.train_step(batch)["l1"]
    assert last < 0.8 * first, f"L1 {first:.4f} -> {last:.4f}"


def test_exact_resume_after_a_crash_mid_epoch(tmp_path):
    common = ["data.num_clips=12", "train.epochs=2", "train.save_every=2"]  # 3 steps per epoch
    full = tmp_path / "full"
    assert _run(common, full).returncode == 0
    crashed = tmp_path / "crashed"
    proc = _run([*common, "train.stop_after_steps=5"], crashed)
    assert proc.returncode == 3, proc.stderr  # the simulated crash
    state = json.loads((crashed / "checkpoints" / "last" / "train_state.json").read_text())
    assert "__dict__" in state  # written at step 4 = epoch 1, one batch into it (mid-epoch)
    resumed = tmp_path / "resumed"
    proc = _run([*common, f"resume={crashed / 'checkpoints' / 'last'}"], resumed)
    assert proc.returncode == 0, proc.stderr
    a, b = _losses(full), _losses(resumed)
    assert sorted(b) == [5, 6]
    assert [a[s] for s in (5, 6)] == [b[s] for s in (5, 6)]  # bit-identical losses
    wa = load_file(str(full / "checkpoints" / "last" / "model.safetensors"))
    wb = load_file(str(resumed / "checkpoints" / "last" / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_two_process_ddp_on_cpu_matches_one_process(tmp_path):
    common = ["train.epochs=1", "train.token_noise=0", "data.num_clips=8"]
    single = tmp_path / "single"
    assert _run(common, single).returncode == 0
    ddp = tmp_path / "ddp"
    proc = _run(common, ddp, torchrun=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    la, lb = _losses(single), _losses(ddp)
    assert sorted(la) == sorted(lb) == [1, 2]
    # gradients are averaged over the ranks, so the two runs train the same model: weights agree except
    # where Adam's first step divides a ~zero gradient by itself (sign of rounding noise, +-lr)
    wa = load_file(str(single / "checkpoints" / "last" / "model.safetensors"))
    wb = load_file(str(ddp / "checkpoints" / "last" / "model.safetensors"))
    diff = torch.cat([(wa[k] - wb[k]).abs().flatten() for k in wa if wa[k].is_floating_point()])
    assert float(diff.quantile(0.99)) < 1e-6
    assert float((diff > 1e-4).float().mean()) < 0.01
    va = json.loads((single / "final.json").read_text())
    vb = json.loads((ddp / "final.json").read_text())
    assert vb["epe"] == pytest.approx(va["epe"], rel=1e-5)
    assert (ddp / "tb").is_dir() and (ddp / "final.json").exists()


def test_cmp_target_is_cmps_dense_motion_from_the_same_sparse_points(tmp_path):
    cfg = _cfg(["train.target=cmp", "cmp.checkpoint=null", "cmp.allow_random_weights=true", "cmp.size=64"], tmp_path)
    trainer = Trainer(cfg, tmp_path)
    batch = collate([trainer.train_set[i] for i in range(2)])
    target = trainer._target(batch)
    expected = trainer.target_maker(batch["key"], batch["sparse_flow"], batch["mask"])
    assert target.shape == batch["flow"].shape
    torch.testing.assert_close(target, expected)
    assert not torch.allclose(target, batch["flow"])
    assert torch.isfinite(torch.tensor(trainer.train_step(batch)["loss"]))


def test_photometric_term_trains_the_motion_the_warp_decoder_uses(tmp_path):
    """With the photometric term on, samples carry frame t, the step logs it, and a few steps on one
    batch lower it (the warped key frame moves toward the frame)."""
    import torch
    from hydra import compose, initialize_config_dir

    from dynamics_codec.train import Trainer
    from dynamics_codec.train.trainer import collate

    root = Path(__file__).resolve().parents[2]
    with initialize_config_dir(config_dir=str(root / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=tiny_train", f"out_dir={tmp_path}", "train.photometric_weight=50",
                                          "train.flow_weight=0.1", "train.token_noise=0", "train.lr=3e-3",
                                          "hydra.run.dir=x", "paths.root_dir=."])
    trainer = Trainer(cfg, tmp_path)
    batch = collate([trainer.train_set[i] for i in range(4)])
    assert "frame" in batch
    first = trainer.train_step(batch)
    for _ in range(25):
        last = trainer.train_step(batch)
    assert "photometric" in first and last["photometric"] < 0.9 * first["photometric"], (first, last)
    with pytest.raises(Exception, match="photometric_scale"):
        from dynamics_codec.train.trainer import TrainSettings

        TrainSettings.from_cfg({**dict(cfg.train), "photometric_scale": 0})
    assert torch.isfinite(torch.tensor(last["loss"]))
