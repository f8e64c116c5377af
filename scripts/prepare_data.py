"""Prepare training clips: python scripts/prepare_data.py input=<folder of videos> output=<dataset folder> (see configs/prepare_data.yaml)."""

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from dynamics_codec.utils.log import user_errors

log = logging.getLogger("dynamics_codec.scripts.prepare_data")


@hydra.main(config_path="../configs", config_name="prepare_data", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    from dynamics_codec.data.prepare import prepare_dataset

    summary = prepare_dataset(
        cfg.input, cfg.output, flow=OmegaConf.to_container(cfg.flow, resolve=True), size=int(cfg.size),
        num_frames=int(cfg.num_frames), stride=int(cfg.stride), clips_per_video=int(cfg.clips_per_video),
        val_fraction=float(cfg.val_fraction), workers=int(cfg.workers), progress=bool(cfg.progress),
        source_manifest=cfg.get("source_manifest"), split_by=str(cfg.get("split_by", "repo")),
    )
    s, g = summary["splits"], summary["groups"]
    log.info(f"{summary['videos']} videos -> {summary['clips']} clips in {cfg.output} "
          f"(train {s['train']} clips from {g['train']} groups, val {s['val']} clips from {g['val']} groups; "
          f"grouped by {summary['split_by']})")
    if s["val"] == 0:
        log.warning("the validation split is empty (train.py needs one): add videos or raise val_fraction")
    for skip in summary["skipped"]:
        log.warning(f"skipped {skip['source']}: {skip['reason']}")


if __name__ == "__main__":
    main()
