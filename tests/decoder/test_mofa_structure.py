"""Structure of the adaptor and UNet on the meta device (no memory) against the parity schemas,
and loading components from folders in the published layouts."""

from __future__ import annotations

import json

import pytest
import torch
from parity import load_schema, parity_root
from safetensors.torch import save_file

from dynamics_codec.decoder.mofa.adaptor import FlowAdaptor
from dynamics_codec.decoder.mofa.components import SVD_UNET_CONFIG, build_random_components
from dynamics_codec.decoder.mofa.loading import load_components, load_flow_adaptor
from dynamics_codec.decoder.mofa.unet import UNetSpatioTemporalWithResiduals, residual_multiplicities
from dynamics_codec.errors import MissingWeightsError

SCHEMAS = {
    "mofa_flow_controlnet": FlowAdaptor,
    "mofa_flow_controlnet_full": FlowAdaptor,
    "svd_unet_controlnet": UNetSpatioTemporalWithResiduals,
    "svd_unet_controlnet_micro": UNetSpatioTemporalWithResiduals,
}


def _schema_or_skip(model_dir: str) -> dict:
    if not (parity_root() / model_dir / "schema.json").is_file():
        pytest.skip(f"no parity schema for '{model_dir}' under {parity_root()}")
    return load_schema(model_dir)


def _shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("model_dir", sorted(SCHEMAS))
def test_meta_structure_matches_schema(model_dir):
    schema = _schema_or_skip(model_dir)
    with torch.device("meta"):
        model = SCHEMAS[model_dir](**schema["constructor_args"])
    expected = {e["name"]: list(e["shape"]) for e in schema["state_dict"]}
    shapes = _shapes(model)
    assert set(shapes) == set(expected), (sorted(set(shapes) - set(expected))[:5], sorted(set(expected) - set(shapes))[:5])
    assert {k: v for k, v in shapes.items() if expected[k] != v} == {}
    assert sum(p.numel() for p in model.parameters()) == schema["num_parameters"]
    if "num_controlnet_down_blocks" in schema:
        assert len(model.controlnet_down_blocks) == schema["num_controlnet_down_blocks"]
    if "residual_multiplicities" in schema:
        assert len(schema["residual_multiplicities"]) == model.num_skip_connections


def test_full_size_adaptor_and_unet_on_meta():
    schema = _schema_or_skip("mofa_flow_controlnet_full")
    with torch.device("meta"):
        adaptor = FlowAdaptor()  # the published structure (the reference ignores config.json)
        unet = UNetSpatioTemporalWithResiduals(**SVD_UNET_CONFIG)
    expected = {e["name"]: list(e["shape"]) for e in schema["state_dict"]}
    assert _shapes(adaptor) == expected
    assert sum(p.numel() for p in adaptor.parameters()) == schema["num_parameters"] == 694_314_017
    # the adaptor is a copy of the UNet's encoder half: same names and shapes
    unet_shapes = _shapes(unet)
    shared = {k: v for k, v in expected.items() if k.startswith(("conv_in.", "time_embedding.", "add_embedding.", "down_blocks.", "mid_block."))}
    assert len(shared) > 600
    assert {k: unet_shapes.get(k) for k in shared} == shared
    # one residual per UNet skip connection, added with the multiplicities the schemas record
    assert unet.num_skip_connections == schema["num_controlnet_down_blocks"] == 12
    counts = [1] + [len(b.resnets) + (0 if b.downsamplers is None else 1) for b in unet.down_blocks]
    assert residual_multiplicities(counts) == [4, 4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1]
    assert 1.4e9 < sum(p.numel() for p in unet.parameters()) < 1.6e9  # SVD-xt's UNet: ~1.5B


def test_adaptor_copies_the_unet_encoder():
    c = build_random_components("tiny", seed=3)
    copied = c.adaptor.load_unet_encoder_weights(c.unet.state_dict())
    assert copied and all(torch.equal(c.adaptor.state_dict()[k], c.unet.state_dict()[k]) for k in copied)
    assert not any(k.startswith(("controlnet_", "flow_encoder")) for k in copied)


def test_missing_weights_are_listed(tmp_path):
    (tmp_path / "svd" / "unet").mkdir(parents=True)
    (tmp_path / "svd" / "unet" / "config.json").write_text("{}")
    with pytest.raises(MissingWeightsError) as error:
        load_components(tmp_path / "svd", tmp_path / "nowhere")
    message = str(error.value)
    for item in ("unet/diffusion_pytorch_model", "vae/config.json", "image_encoder/model", "scheduler/scheduler_config.json",
                 "nowhere"):
        assert item in message
    with pytest.raises(MissingWeightsError, match="adaptor_path"):
        load_components(tmp_path / "svd", None)
    with pytest.raises(MissingWeightsError, match="not-a/real-repo"):  # HF_HUB_OFFLINE is set by conftest
        load_components("not-a/real-repo", tmp_path)


def test_components_load_from_published_layouts(tmp_path):
    c = build_random_components("tiny", seed=1)
    svd = tmp_path / "stable-video-diffusion-img2vid-xt-1-1"
    c.unet.save_pretrained(svd / "unet")
    c.vae.save_pretrained(svd / "vae")
    c.image_encoder.save_pretrained(svd / "image_encoder")
    c.scheduler.save_pretrained(svd / "scheduler")
    controlnet = tmp_path / "ckpts" / "controlnet"
    controlnet.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in c.adaptor.state_dict().items()}, str(controlnet / "diffusion_pytorch_model.safetensors"))
    (controlnet / "config.json").write_text(json.dumps(dict(c.adaptor.config)))

    # like the reference, the default builds the published SVD-xt structure: tiny weights do not fit
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_flow_adaptor(controlnet)
    loaded = load_components(svd, controlnet, adaptor_structure="config")
    for name, module in c.networks().items():
        reloaded = loaded.networks()[name].state_dict()
        assert all(torch.equal(v, reloaded[k]) for k, v in module.state_dict().items()), name
    assert loaded.scheduler.config.prediction_type == "v_prediction"
    assert loaded.scheduler.config.use_karras_sigmas


def test_hub_ids_are_used_only_at_a_pinned_revision(tmp_path, monkeypatch):
    import huggingface_hub

    from dynamics_codec.decoder.mofa.loading import resolve_folder

    calls = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, **kw: calls.append((repo, kw)) or str(tmp_path))
    with pytest.raises(MissingWeightsError, match="decoder.svd_revision=<commit sha"):
        resolve_folder("owner/svd", ["*.json"], "SVD")
    assert calls == []  # refused before any download
    with pytest.raises(MissingWeightsError, match="decoder.adaptor_revision"):
        load_components(tmp_path, "owner/adaptor")
    assert resolve_folder("owner/svd", ["*.json"], "SVD", revision="0123abcd") == tmp_path
    assert calls[-1][0] == "owner/svd" and calls[-1][1]["revision"] == "0123abcd"
