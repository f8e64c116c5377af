import json

import pytest
import torch

from dynamics_codec.errors import ConfigError, MissingWeightsError
from dynamics_codec.motion_model import BUILTIN_DIR, MotionModel

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


def test_shipped_demo_checkpoint_loads_and_matches_its_hash():
    m = MotionModel.load("builtin:demo")
    cfg = json.loads((BUILTIN_DIR / "demo" / "config.json").read_text())
    assert m.content_hash().hex() == cfg["content_hash"]
    assert m.describe() == "builtin:demo"
    assert sum(p.numel() for p in m.parameters()) < 2_000_000  # a few MB
    with pytest.raises(MissingWeightsError, match="no built-in checkpoint"):
        MotionModel.load("builtin:nonexistent")


def test_shipped_demo_model_beats_the_zero_motion_decoder_on_synthetic_motion():
    """Its decoded motion explains a held-out synthetic clip better than no motion at all."""
    import numpy as np

    from dynamics_codec.codec import Encoder, StreamDecoder
    from dynamics_codec.data import make_synthetic_clip
    from dynamics_codec.decoder import build_decoder
    from dynamics_codec.entropy import TokenCodingConfig
    from dynamics_codec.flow import build_flow_backend
    from dynamics_codec.keyframe import get_keyframe_codec
    from dynamics_codec.metrics import psnr_per_frame
    from dynamics_codec.sampler import WatershedSampler

    model = MotionModel.load("builtin:demo")
    clip = make_synthetic_clip("coffee", num_frames=12, max_displacement=6.0, rng=np.random.default_rng(50_001))
    enc = Encoder(get_keyframe_codec("x265", preset="ultrafast"), 32, build_flow_backend("dis"), WatershedSampler(),
                  model, TokenCodingConfig(step=0.1)).encode(clip.frames, clip.fps)
    dec = StreamDecoder(model, build_decoder("warp")).decode(enc.bitstream)
    ours = psnr_per_frame(clip.frames, dec.frames)[1:].mean()
    zero = psnr_per_frame(clip.frames, np.repeat(dec.frames[:1], 12, axis=0))[1:].mean()
    print(f"ours {ours:.2f} dB, zero motion {zero:.2f} dB")
    assert ours > zero + 0.3, (ours, zero)


@pytest.mark.parametrize("damage,error,names", [
    ("config_not_json", ConfigError, "config.json"),
    ("config_without_tokenizer", ConfigError, "config.json"),
    ("config_bad_option", ConfigError, "config.json"),
    ("weights_truncated", MissingWeightsError, "model.safetensors"),
    ("weights_garbage", MissingWeightsError, "model.safetensors"),
    ("weights_other_network", MissingWeightsError, "model.safetensors"),
])
def test_a_damaged_checkpoint_is_a_codec_error_naming_the_file(tmp_path, damage, error, names):
    import shutil

    folder = tmp_path / "ckpt"
    shutil.copytree(BUILTIN_DIR / "demo", folder)
    cfg_file, weights = folder / "config.json", folder / "model.safetensors"
    cfg = json.loads(cfg_file.read_text())
    if damage == "config_not_json":
        cfg_file.write_text(cfg_file.read_text()[:-20])
    elif damage == "config_without_tokenizer":
        cfg_file.write_text(json.dumps({k: v for k, v in cfg.items() if k != "tokenizer"}))
    elif damage == "config_bad_option":
        cfg["generator"]["no_such_option"] = 1
        cfg_file.write_text(json.dumps(cfg))
    elif damage == "weights_truncated":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "weights_garbage":
        weights.write_bytes(b"\xff" * 64)
    else:
        MotionModel.from_config(TOK, GEN, seed=0).save(tmp_path / "other")
        shutil.copy(tmp_path / "other" / "model.safetensors", weights)
    with pytest.raises(error) as info:
        MotionModel.load(folder)
    message = str(info.value)
    assert str(folder / names) in message and "model.checkpoint=" in message and "\n" not in message
