"""The paper's Figure 5 (y-t space-time slices + frame strips): python scripts/visualize.py original=<video> videos.anchor=<decoded> videos.ours=<decoded> [x=190 width=5]."""

import hydra
from omegaconf import DictConfig

from dynamics_codec.utils.log import user_errors


@hydra.main(config_path="../configs", config_name="visualize", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    from dynamics_codec.evaluation.figures import visualize_command

    visualize_command(cfg)


if __name__ == "__main__":
    main()
