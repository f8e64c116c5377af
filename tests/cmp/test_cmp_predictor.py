"""CMPMotionPredictor: MOFA's pipeline around CMP (resizing, folding, loading, eval mode) and the Fuser."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from parity import case_params, load_case

from dynamics_codec.cmp import CMPMotionPredictor, Fuser, build_cmp, build_cmp_predictor, load_cmp_checkpoint, run_cmp
from dynamics_codec.errors import ConfigError, InputError, MissingWeightsError

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "cmp" / "mofa.yaml"


def random_predictor(size: int = 64, seed: int = 0, **kwargs) -> CMPMotionPredictor:
    return CMPMotionPredictor(None, size=size, allow_random_weights=True,
                              generator=torch.Generator().manual_seed(seed), **kwargs)


def sparse_inputs(batch: int, frames: int | None, height: int, width: int, seed: int = 1):
    """Random key image(s) in [0,1], sparse flow and a 2-channel mask with ~2% points."""
    g = torch.Generator().manual_seed(seed)
    lead = (batch,) if frames is None else (batch, frames)
    image = torch.rand(batch, 3, height, width, generator=g)
    mask = (torch.rand(*lead, 1, height, width, generator=g) < 0.02).float().expand(*lead, 2, height, width)
    flow = (torch.rand(*lead, 2, height, width, generator=g) * 2 - 1) * 6 * mask
    return image, flow, mask


# ---------------------------------------------------------------- Fuser

def test_fuser_bin_centres_and_expectation():
    fuser = Fuser(99, 50)
    step = 100 / 99
    centres = torch.tensor([k * step - 50 + step / 2 for k in range(99)], dtype=torch.float64)
    torch.testing.assert_close(fuser.mesh.flatten().double(), centres, atol=1e-5, rtol=0)
    assert fuser.mesh.flatten()[0].item() == pytest.approx(-50 + step / 2)
    logits = torch.full((1, 198, 2, 3), -1e4)
    logits[:, 10] = 0.0        # all x mass on bin 10
    logits[:, 99 + 70] = 0.0   # all y mass on bin 70
    flow = fuser(logits)
    assert flow.shape == (1, 2, 2, 3)
    torch.testing.assert_close(flow[:, 0], torch.full((1, 2, 3), centres[10].item()), atol=1e-4, rtol=0)
    torch.testing.assert_close(flow[:, 1], torch.full((1, 2, 3), centres[70].item()), atol=1e-4, rtol=0)
    torch.testing.assert_close(fuser(torch.zeros(1, 198, 1, 1)), torch.zeros(1, 2, 1, 1), atol=1e-5, rtol=0)
    with pytest.raises(InputError, match="198"):
        fuser(torch.zeros(1, 196, 2, 2))


# ---------------------------------------------------------------- building and loading

def test_random_weights_are_reproducible_and_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    a = build_cmp(generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    b = build_cmp(generator=torch.Generator().manual_seed(3))
    c = build_cmp(generator=torch.Generator().manual_seed(4))
    w = "flow_decoder.fusion8.0.weight"
    assert torch.equal(a.state_dict()[w], b.state_dict()[w])
    assert not torch.equal(a.state_dict()[w], c.state_dict()[w])
    assert not a.training


def test_missing_checkpoint_file_says_what_where_and_how(tmp_path):
    missing = tmp_path / "cmp" / "ckpt_iter_42000.pth.tar"
    with pytest.raises(MissingWeightsError) as err:
        CMPMotionPredictor(missing)
    text = str(err.value)
    assert str(missing) in text
    assert "resnet50_vip+mpii_liteflow/checkpoints" in text and "third_party/README.md" in text


def test_no_checkpoint_needs_explicit_random_weights():
    with pytest.raises(ConfigError, match="allow_random_weights"):
        CMPMotionPredictor(None)


class NotATensor:
    """Any pickled object other than tensors/containers must be refused (weights_only)."""


def test_loader_never_unpickles_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pth.tar"
    torch.save({"state_dict": {"module.x": torch.zeros(1)}, "extra": NotATensor()}, path)
    with pytest.raises(ConfigError, match="weights-only"):
        load_cmp_checkpoint(path)


def test_file_without_state_dict_is_refused(tmp_path):
    path = tmp_path / "empty.pth.tar"
    torch.save({"step": 1, "state_dict": {}}, path)
    with pytest.raises(ConfigError, match="not a CMP checkpoint"):
        load_cmp_checkpoint(path)


def test_config_group_builds_a_predictor():
    root = OmegaConf.create({"paths": {"checkpoint_dir": "/ckpts"}, "cmp": OmegaConf.load(CONFIG)})
    cfg = root.cmp
    assert cfg.checkpoint == "/ckpts/cmp/ckpt_iter_42000.pth.tar"
    with pytest.raises(MissingWeightsError, match="/ckpts/cmp/ckpt_iter_42000.pth.tar"):
        build_cmp_predictor(cfg)
    assert (cfg.size, cfg.nbins, cfg.fmax, cfg.img_enc_dim, cfg.sparse_enc_dim) == (384, 99, 50.0, 256, 16)
    cfg.checkpoint, cfg.allow_random_weights, cfg.size = None, True, 64
    predictor = build_cmp_predictor(cfg)
    assert predictor.size == 64 and predictor.chunk_size == cfg.chunk_size


# ---------------------------------------------------------------- eval mode, folding, chunking

def test_predictor_stays_in_eval_mode():
    predictor = random_predictor()
    image, flow, mask = sparse_inputs(2, None, 64, 64)
    before = predictor(image, flow, mask)
    predictor.train()
    assert not predictor.training and not any(m.training for m in predictor.modules())
    torch.testing.assert_close(predictor(image, flow, mask), before, atol=0, rtol=0)
    assert all(not p.requires_grad for p in predictor.parameters())


def test_key_frame_is_shared_over_frames_and_chunks_do_not_matter():
    predictor = random_predictor()
    image, flow, mask = sparse_inputs(2, 3, 64, 64)
    shared = predictor(image, flow, mask)                       # image [B,3,H,W], flow [B,T,2,H,W]
    assert shared.shape == (2, 3, 2, 64, 64) and shared.dtype == torch.float32
    repeated = image[:, None].expand(2, 3, 3, 64, 64)
    torch.testing.assert_close(predictor(repeated, flow, mask), shared, atol=1e-5, rtol=1e-5)
    per_frame = torch.stack([predictor(image, flow[:, t], mask[:, t]) for t in range(3)], dim=1)
    torch.testing.assert_close(per_frame, shared, atol=1e-5, rtol=1e-5)
    chunked = random_predictor(chunk_size=4)(image, flow, mask)
    torch.testing.assert_close(chunked, shared, atol=1e-5, rtol=1e-5)
    one_channel = predictor(image, flow, mask[:, :, :1])
    torch.testing.assert_close(one_channel, shared, atol=0, rtol=0)


def test_shape_errors_are_input_errors():
    predictor = random_predictor()
    image, flow, mask = sparse_inputs(1, None, 64, 64)
    with pytest.raises(InputError, match="mask"):
        predictor(image, flow, mask[..., :16])
    with pytest.raises(InputError, match="image"):
        predictor(image[:, :2], flow, mask)
    with pytest.raises(InputError, match="sparse_flow"):
        predictor(image, flow[:, :1], mask)


# ---------------------------------------------------------------- MOFA's 384 resizing

def test_predictor_at_its_own_size_is_cmp_run(published_checkpoint):
    """With the parity weights and ``size`` = the case's (square) size, the predictor gives the case's flow."""
    square = [p for p in case_params("cmp") if p.values[0] is not None]
    square = [load_case(p.values[0]) for p in square]
    square = [c for c in square if c.inputs["image"].shape[-1] == c.inputs["image"].shape[-2]]
    if not square:
        pytest.skip("no square CMP parity case")
    for case in square:
        inputs = case.inputs
        predictor = CMPMotionPredictor(published_checkpoint, size=inputs["image"].shape[-1])
        flow = predictor(inputs["image"], inputs["sparse"], inputs["mask"])
        torch.testing.assert_close(flow, case.outputs["flow"], **case.tolerance("out.flow"))


def test_non_384_input_is_run_at_384_with_mofa_nearest_resizing(published_checkpoint):
    """Written out with F.interpolate as train_stage2 does it, independently of the predictor's helpers."""
    height, width = 48, 40
    image, flow, mask = sparse_inputs(1, None, height, width, seed=5)
    predictor = CMPMotionPredictor(published_checkpoint, size=64)
    with pytest.raises(ConfigError, match="at least 64"):
        CMPMotionPredictor(published_checkpoint, size=56)
    model, fuser = load_cmp_checkpoint(published_checkpoint), Fuser(99, 50)
    image_w = F.interpolate(image, (64, 64))
    flow_w = F.interpolate(flow, (64, 64))
    flow_w[:, 0] *= 64 / width
    flow_w[:, 1] *= 64 / height
    mask_w = F.interpolate(mask, (64, 64))
    with torch.no_grad():
        dense = run_cmp(model, fuser, image_w, flow_w * mask_w, mask_w).flow
    expected = F.interpolate(dense, (height, width), mode="nearest")
    expected[:, 0] *= width / 64
    expected[:, 1] *= height / 64
    torch.testing.assert_close(predictor(image, flow, mask), expected, atol=1e-5, rtol=1e-5)


class GaussianBinsCMP:
    """Stands in for CMP's encoders/decoder: logits whose fused flow is the mean sparse flow CMP sees."""

    def __init__(self, mesh: torch.Tensor) -> None:
        self.mesh = mesh.flatten()
        self.seen_sizes: list[tuple[int, int]] = []
        self.seen_mean_flows: list[torch.Tensor] = []

    def encode_image(self, image):
        self.seen_sizes.append(tuple(image.shape[-2:]))
        return image[:, :1], [image]

    def encode_sparse(self, sparse):
        return sparse

    def decode(self, image_features, skips, sparse):
        points = sparse[:, 2].sum(dim=(1, 2)).clamp(min=1)
        mean_flow = sparse[:, :2].sum(dim=(2, 3)) / points[:, None]                     # [N, 2] pixels at CMP's size
        self.seen_mean_flows.append(mean_flow)
        half = (sparse.shape[2] // 2, sparse.shape[3] // 2)
        logits = -((self.mesh.view(1, 1, -1) - mean_flow[:, :, None]) ** 2) / (2 * 3.0 ** 2)   # [N, 2, nbins]
        return logits.reshape(sparse.shape[0], -1, 1, 1).expand(-1, -1, *half)


def test_constant_flow_keeps_its_pixel_scale_through_384():
    height, width = 96, 128
    predictor = random_predictor(size=384)
    stub = GaussianBinsCMP(predictor.fuser.mesh)
    del predictor.cmp
    predictor.cmp = stub  # plain object in place of the submodule
    image = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(2, 2, height, width)
    mask[:, :, ::8, ::8] = 1
    constant = torch.tensor([[3.0, -2.0], [-7.5, 4.0]]).view(2, 2, 1, 1)
    dense = predictor(image, constant * mask, mask)
    assert stub.seen_sizes == [(384, 384)]
    # CMP saw the flow in 384-pixel units: x * 384/128, y * 384/96 ...
    torch.testing.assert_close(stub.seen_mean_flows[0], constant.flatten(1) * torch.tensor([384 / width, 384 / height]))
    # ... and the predictor hands it back in the input's pixels.
    torch.testing.assert_close(dense, constant.expand(2, 2, height, width), atol=1e-3, rtol=0)
    assert math.isclose(dense[0, 0].mean().item(), 3.0, abs_tol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_predictor_follows_its_inputs_device():
    predictor = random_predictor()
    image, flow, mask = sparse_inputs(1, 2, 64, 64)
    on_cpu = predictor(image, flow, mask)
    on_gpu = predictor(image.cuda(), flow.cuda(), mask.cuda())
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-3, rtol=1e-3)
