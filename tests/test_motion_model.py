import json

import pytest
import torch

from dynamics_codec.errors import ConfigError, MissingWeightsError
from dynamics_codec.motion_model import MotionModel

TOK = dict(input_stride=4, unet_channels=[8, 8], feature_channels=8, vectorizer_channels=8, vectorizer_stages=2)
GEN = dict(image_channels=[8, 8], flow_channels=[8, 8], internal_stride=4)


def test_seeded_initialisation_is_reproducible_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a = MotionModel.from_config(TOK, GEN, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())
    b = MotionModel.from_config(TOK, GEN, seed=3)
    c = MotionModel.from_config(TOK, GEN, seed=4)
    assert a.content_hash() == b.content_hash() != c.content_hash()
    assert len(a.content_hash()) == 8
    assert "seed 3" in a.describe()


def test_save_load_round_trip(tmp_path):
    m = MotionModel.from_config(TOK, GEN, seed=1)
    m.save(tmp_path / "ckpt", info={"data": "unit test"})
    cfg = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert cfg["content_hash"] == m.content_hash().hex() and cfg["info"]["data"] == "unit test"
    loaded = MotionModel.load(tmp_path / "ckpt")
    assert loaded.content_hash() == m.content_hash()
    x = torch.rand(1, 3, 32, 32)
    tok = torch.randn(1, 2, 2, 20)
    torch.testing.assert_close(loaded.generator(x, tok), m.generator(x, tok), rtol=0, atol=0)
    assert str(tmp_path / "ckpt") in loaded.describe()
    assert not list((tmp_path / "ckpt").glob("*.tmp*"))


def test_content_hash_sees_any_weight_change():
    m = MotionModel.from_config(TOK, GEN, seed=1)
    h = m.content_hash()
    with torch.no_grad():
        next(m.generator.parameters()).view(-1)[0] += 1e-6
    assert m.content_hash() != h


def test_errors():
    with pytest.raises(MissingWeightsError, match="model.safetensors"):
        MotionModel.load("/nonexistent/ckpt")
    with pytest.raises(ConfigError, match="disagree on the token shape"):
        MotionModel.from_config({**TOK, "num_values": 10}, GEN)
    with pytest.raises(ConfigError, match="unknown option"):
        MotionModel.from_config({**TOK, "channels": 3}, GEN)
