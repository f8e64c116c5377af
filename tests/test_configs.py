"""Every top-level config and every experiment composes and resolves (a YAML typo fails CI)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
TOP_LEVEL = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))
GROUPS = sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name not in {"local", "hydra"})


def _compose(name: str, overrides: list[str] = ()):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=name, overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    job_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg.keys() if k != "hydra"])
    # resolve every interpolation except mandatory values (???), which scripts demand at run time
    container = OmegaConf.to_container(job_cfg, resolve=True, throw_on_missing=False)
    return job_cfg, container


def _uses_experiments(name: str) -> bool:
    text = (CONFIG_DIR / f"{name}.yaml").read_text()
    return "- experiment: null" in text


def test_expected_top_level_configs_exist():
    assert {"train", "encode", "decode", "eval_bdrate", "demo"} <= set(TOP_LEVEL)


def test_every_package_block_has_a_config_group():
    expected = {"flow", "sampler", "tokenizer", "generator", "entropy", "keyframe", "decoder", "data", "train",
                "eval", "anchor", "paths", "experiment"}
    assert expected <= set(GROUPS)


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_top_level_config_composes(name):
    cfg, container = _compose(name)
    assert "paths" in container
    assert container["paths"]["checkpoint_dir"].endswith("third_party/checkpoints")


def _overridden_groups(experiment: str) -> set[str]:
    text = (CONFIG_DIR / "experiment" / f"{experiment}.yaml").read_text()
    return set(re.findall(r"override /(\w+)", text))


def _hosts(experiment: str) -> list[str]:
    """Top-level configs with an experiment slot and every group the experiment overrides."""
    out = []
    for name in TOP_LEVEL:
        text = (CONFIG_DIR / f"{name}.yaml").read_text()
        if _uses_experiments(name) and all(f"- {g}:" in text for g in _overridden_groups(experiment)):
            out.append(name)
    return out


PAIRS = [(name, e) for e in EXPERIMENTS for name in _hosts(e)]


def test_every_experiment_has_a_host_config():
    assert all(_hosts(e) for e in EXPERIMENTS), {e: _hosts(e) for e in EXPERIMENTS}


@pytest.mark.parametrize("name,experiment", PAIRS)
def test_experiment_composes(name, experiment):
    base, base_c = _compose(name)
    cfg, container = _compose(name, [f"experiment={experiment}"])
    assert container != base_c, f"experiment {experiment} changes nothing in {name}"


@pytest.mark.parametrize("group", [g for g in GROUPS if g != "experiment"])
def test_every_group_option_composes(group):
    """Each option of each group composes into some top-level config that uses the group."""
    options = sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))
    hosts = [n for n in TOP_LEVEL if f"- {group}:" in (CONFIG_DIR / f'{n}.yaml').read_text()
             or f"- {group}@" in (CONFIG_DIR / f'{n}.yaml').read_text()]
    if not options:
        pytest.skip(f"config group '{group}' has no options yet (its issue adds them)")
    assert hosts, f"no top-level config uses group '{group}'"
    for option in options:
        text = (CONFIG_DIR / f"{hosts[0]}.yaml").read_text()
        if f"- {group}:" in text:
            _compose(hosts[0], [f"{group}={option}"])
        else:
            _compose(hosts[0], [f"+{group}@_probe_={option}"])


def test_decode_takes_every_experiment_encode_takes():
    """A stream encoded with experiment=X decodes with the same override."""
    for experiment in EXPERIMENTS:
        if "encode" in _hosts(experiment):
            assert "decode" in _hosts(experiment), experiment
            _, c = _compose("decode", [f"experiment={experiment}", "input=x", "output=y"])
            _, e = _compose("encode", [f"experiment={experiment}", "input=x", "output=y"])
            assert c["tokenizer"] == e["tokenizer"] and c["generator"] == e["generator"]
            assert c["decoder"] == e["decoder"] and c["model"] == e["model"]


def test_tiny_experiment_selects_tiny_networks():
    _, c = _compose("encode", ["experiment=tiny", "input=x", "output=y"])
    assert c["tokenizer"]["unet_channels"] == [8, 8]
    assert c["generator"]["num_values"] == c["tokenizer"]["num_values"]


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_sweep_dir_resolves_before_any_job_runs(name):
    """A launcher resolves hydra.sweep.dir before a job's HydraConfig exists (the ${hydra:...}
    resolver is unset then: every multirun failed)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name=name):
        cfg = compose(config_name=name, return_hydra_config=True)
    HydraConfig.instance().cfg = None
    assert re.fullmatch(rf"multirun/{name}/\d{{4}}-\d\d-\d\d_\d\d-\d\d-\d\d", str(cfg.hydra.sweep.dir))


def test_submitit_slurm_launcher_composes():
    """The documented cluster evaluation: hydra/launcher=submitit_slurm (the `cluster` extra)."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3", job_name="eval_bdrate"):
        cfg = compose(config_name="eval_bdrate", return_hydra_config=True,
                      overrides=["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu", "eval.stage=encode",
                                 "eval.shard.count=8", "eval.shard.index=3"])
    HydraConfig.instance().cfg = None
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.partition == "gpu"
    assert str(launcher.submitit_folder).startswith("multirun/eval_bdrate/") and launcher.submitit_folder.endswith(
        "/.submitit/%j")
    assert cfg.eval.shard.count == 8 and cfg.eval.shard.index == 3


def test_encoder_presets_trade_work_for_time_as_documented():
    """default refines and decides on full-size renders; fast skips refinement and decides at half
    size; raw does neither. The flow for training targets (prepare_data) is DIS medium whatever
    the encoder's flow is."""
    _, default = _compose("encode", ["input=x", "output=y"])
    _, fast = _compose("encode", ["encoder=fast", "input=x", "output=y"])
    _, raw = _compose("encode", ["encoder=raw", "input=x", "output=y"])
    assert default["encoder"]["refine"]["enabled"] and default["encoder"]["decision"]["scale"] == 1.0
    assert not fast["encoder"]["refine"]["enabled"] and fast["encoder"]["decision"]["scale"] == 0.5
    assert fast["encoder"]["decision"]["enabled"] and fast["encoder"]["temporal_smoothing"] == 1.5
    assert not raw["encoder"]["refine"]["enabled"] and not raw["encoder"]["decision"]["enabled"]
    _, prepare = _compose("prepare_data", ["input=x", "output=y"])
    assert prepare["flow"]["name"] == "dis" and prepare["flow"]["preset"] == "medium"
