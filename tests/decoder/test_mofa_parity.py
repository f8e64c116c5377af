"""Parity of the MOFA flow adaptor and the SVD UNet with residuals against the reference fixtures.

Cases are discovered at run time (``PARITY_DIR`` honoured). Models are built on the meta device
and filled with the fixtures' parity weights tensor by tensor (``assign=True``), so that no
second copy of a ~1B-parameter state dict is held.
"""

from __future__ import annotations

import gc

import pytest
import torch
from parity import case_params, load_case, load_schema, parity_tensor

from dynamics_codec.decoder.mofa.adaptor import FlowAdaptor
from dynamics_codec.decoder.mofa.unet import UNetSpatioTemporalWithResiduals, residual_multiplicities


def _build_with_parity_weights(cls, model_dir: str):
    schema = load_schema(model_dir)
    with torch.device("meta"):
        model = cls(**schema["constructor_args"])
    state = {e["name"]: parity_tensor(e["name"], list(e["shape"]), e.get("dtype", "float32")) for e in schema["state_dict"]}
    model.load_state_dict(state, strict=True, assign=True)
    del state
    assert not any(t.is_meta for t in model.state_dict().values())
    return model.eval()


_cache: dict[str, torch.nn.Module] = {}


def _model(cls, model_dir: str):
    """One model at a time (the full ones are 2.8-3.9 GB in float32)."""
    if model_dir not in _cache:
        _cache.clear()
        gc.collect()
        _cache[model_dir] = _build_with_parity_weights(cls, model_dir)
    return _cache[model_dir]


def _timestep(case):
    inputs = case.inputs
    return inputs["timestep"] if "timestep" in inputs else float(case.meta["timestep"])


def _check_adaptor_case(model_dir: str, path) -> None:
    case = load_case(path)
    model = _model(FlowAdaptor, model_dir)
    x = case.inputs
    scale = float(case.meta.get("conditioning_scale", 1.0))
    with torch.no_grad():
        out = model(
            x["sample"], _timestep(case), x["encoder_hidden_states"], x["added_time_ids"],
            controlnet_cond=x["controlnet_cond"], controlnet_flow=x["controlnet_flow"], conditioning_scale=scale,
        )
        expected = case.outputs
        aux = {k: v for k, v in expected.items() if k.startswith("aux.")}
        if aux:
            features = model.key_frame_features(x["controlnet_cond"])
            torch.testing.assert_close(features[0], aux["aux.controlnet_cond_embedding"],
                                       **case.tolerance("out.aux.controlnet_cond_embedding"))
            for j, f in enumerate(features[1:]):
                torch.testing.assert_close(f, aux[f"aux.flow_encoder.{j}"], **case.tolerance(f"out.aux.flow_encoder.{j}"))
            b, n = x["controlnet_flow"].shape[:2]
            warped = model.warped_features(features, x["controlnet_flow"], n + 1)
            for j, s in enumerate(model.feature_scales):
                flow_s = x["controlnet_flow"][..., ::s, ::s] / s
                torch.testing.assert_close(flow_s, aux[f"aux.scaled_flow.{j}"], atol=0, rtol=0)
                # warped frames 1..T-1 of level j (frame 0 is the un-warped feature)
                w = warped[j].reshape(b, n + 1, *warped[j].shape[1:])[:, 1:]
                torch.testing.assert_close(w, aux[f"aux.warped.{j}"], **case.tolerance(f"out.aux.warped.{j}"))
    down = [k for k in expected if k.startswith("down_block_res_samples.")]
    assert len(out.down_block_res_samples) == len(down) == len(model.controlnet_down_blocks)
    for k, value in enumerate(out.down_block_res_samples):
        name = f"down_block_res_samples.{k}"
        torch.testing.assert_close(value, expected[name], **case.tolerance(f"out.{name}"))
    torch.testing.assert_close(out.mid_block_res_sample, expected["mid_block_res_sample"],
                               **case.tolerance("out.mid_block_res_sample"))


@pytest.mark.parametrize("path", case_params("mofa_flow_controlnet"))
def test_flow_adaptor_parity(path):
    _check_adaptor_case("mofa_flow_controlnet", path)


@pytest.mark.parametrize("path", case_params("mofa_flow_controlnet_full"))
def test_flow_adaptor_full_parity(path):
    _check_adaptor_case("mofa_flow_controlnet_full", path)


def _check_unet_case(model_dir: str, path) -> None:
    case = load_case(path)
    model = _model(UNetSpatioTemporalWithResiduals, model_dir)
    x = case.inputs
    n = len([k for k in x if k.startswith("down_block_additional_residuals.")])
    residuals = [x[f"down_block_additional_residuals.{k}"] for k in range(n)]
    args = (x["sample"], _timestep(case), x["encoder_hidden_states"], x["added_time_ids"])
    with torch.no_grad():
        out = model(*args, down_block_additional_residuals=residuals,
                    mid_block_additional_residual=x["mid_block_additional_residual"], return_dict=False)[0]
        zero = model(*args, down_block_additional_residuals=[torch.zeros_like(r) for r in residuals],
                     mid_block_additional_residual=torch.zeros_like(x["mid_block_additional_residual"]),
                     return_dict=False)[0]
    torch.testing.assert_close(out, case.outputs["sample"], **case.tolerance("out.sample"))
    torch.testing.assert_close(zero, case.outputs["sample_zero_residuals"], **case.tolerance("out.sample_zero_residuals"))
    counts = [1] + [len(b.resnets) + (0 if b.downsamplers is None else len(b.downsamplers)) for b in model.down_blocks]
    assert residual_multiplicities(counts) == case.meta["residual_multiplicities"]


@pytest.mark.parametrize("path", case_params("svd_unet_controlnet_micro"))
def test_unet_with_residuals_micro_parity(path):
    _check_unet_case("svd_unet_controlnet_micro", path)


@pytest.mark.slow  # 983M parameters: ~75 s on 2 cores, most of it generating the parity weights
@pytest.mark.parametrize("path", case_params("svd_unet_controlnet"))
def test_unet_with_residuals_parity(path):
    _check_unet_case("svd_unet_controlnet", path)
