"""Prepare training clips: python scripts/prepare_data.py input=<folder of videos> output=<dataset folder> (see configs/prepare_data.yaml)."""

import hydra
from omegaconf import DictConfig, OmegaConf


@hydra.main(config_path="../configs", config_name="prepare_data", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from dynamics_codec.data.prepare import prepare_dataset

    summary = prepare_dataset(
        cfg.input, cfg.output, flow=OmegaConf.to_container(cfg.flow, resolve=True), size=int(cfg.size),
        num_frames=int(cfg.num_frames), stride=int(cfg.stride), clips_per_video=int(cfg.clips_per_video),
        val_fraction=float(cfg.val_fraction), workers=int(cfg.workers), progress=bool(cfg.progress),
    )
    print(f"{summary['videos']} videos -> {summary['clips']} clips in {cfg.output} "
          f"(train {summary['splits']['train']}, val {summary['splits']['val']})")
    for skip in summary["skipped"]:
        print(f"skipped {skip['source']}: {skip['reason']}")


if __name__ == "__main__":
    main()
