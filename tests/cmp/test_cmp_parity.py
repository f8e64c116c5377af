"""CMP parity with MOFA-Video's reference, through the published checkpoint container.

Every case under ``<PARITY_DIR>/cmp`` is run; the parity weights are written as a
``ckpt_iter_42000.pth.tar``-style file (``{'step', 'state_dict' with 'module.' names,
'optimizer'}``) and read back with our loader, so the test also proves the loader.
"""

from __future__ import annotations

import pytest
import torch
from cmp_helpers import write_published_container
from parity import case_params, load_case, parity_state_dict

from dynamics_codec.cmp import CMP, Fuser, load_cmp_checkpoint, read_cmp_state_dict, run_cmp
from dynamics_codec.errors import ConfigError


@pytest.fixture(scope="module")
def parity_model(published_checkpoint) -> CMP:
    return load_cmp_checkpoint(published_checkpoint)


def test_state_dict_matches_schema_exactly(cmp_schema):
    expected = {e["name"].removeprefix("module."): (tuple(e["shape"]), e["dtype"]) for e in cmp_schema["state_dict"]}
    assert all(e["name"].startswith("module.") for e in cmp_schema["state_dict"])
    mine = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in CMP().state_dict().items()}
    assert mine == expected


def test_loader_loads_every_published_value(published_checkpoint, parity_model, cmp_schema):
    loaded = parity_model.state_dict()
    reference = parity_state_dict(cmp_schema)
    assert len(loaded) == len(reference)
    for name, value in reference.items():
        torch.testing.assert_close(loaded[name.removeprefix("module.")], value, atol=0, rtol=0)
    assert not parity_model.training


def test_loader_refuses_a_renamed_key(tmp_path, cmp_schema):
    state = parity_state_dict(cmp_schema)
    state["module.flow_decoder.head.weights"] = state.pop("module.flow_decoder.head.weight")
    path = write_published_container(tmp_path / "renamed.pth.tar", state)
    with pytest.raises(ConfigError, match=r"flow_decoder\.head\.weight.*flow_decoder\.head\.weights"):
        load_cmp_checkpoint(path)


def test_loader_refuses_a_wrong_shape(tmp_path, cmp_schema):
    state = parity_state_dict(cmp_schema)
    state["module.flow_encoder.features.0.weight"] = torch.zeros(16, 3, 5, 5)
    with pytest.raises(ConfigError, match=r"wrong shapes 1 .*features\.0\.weight"):
        load_cmp_checkpoint(write_published_container(tmp_path / "shape.pth.tar", state))


def test_loader_accepts_checkpoint_without_num_batches_tracked(tmp_path, cmp_schema):
    state = {k: v for k, v in parity_state_dict(cmp_schema).items() if not k.endswith("num_batches_tracked")}
    model = load_cmp_checkpoint(write_published_container(tmp_path / "old.pth.tar", state))
    torch.testing.assert_close(model.flow_decoder.head.bias, state["module.flow_decoder.head.bias"], atol=0, rtol=0)


def test_read_strips_module_prefix(published_checkpoint):
    state = read_cmp_state_dict(published_checkpoint)
    assert "image_encoder.conv1.weight" in state and not any(k.startswith("module.") for k in state)


@pytest.mark.parametrize("case_path", case_params("cmp"))
def test_cmp_matches_reference(case_path, parity_model):
    case = load_case(case_path)
    inputs = case.inputs
    expected = case.outputs
    with torch.no_grad():
        result = run_cmp(parity_model, Fuser(99, 50), inputs["image"], inputs["sparse"], inputs["mask"])
    actual = {
        "flow": result.flow,
        "cmp_output": result.logits,
        "aux.fused_flow_half_res": result.flow_half_res,
        "aux.image_encoder": result.image_features,
        "aux.flow_encoder": result.sparse_features,
    }
    unchecked = set(expected) - set(actual)
    assert not unchecked, f"case {case.name} has outputs this test does not know: {sorted(unchecked)}"
    for name, want in expected.items():
        torch.testing.assert_close(actual[name], want, **case.tolerance(f"out.{name}"), msg=lambda m: f"{name}: {m}")
