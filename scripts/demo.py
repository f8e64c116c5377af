"""make demo: encode and decode a synthetic clip, print bits per part, kbps and PSNR, write outputs/demo/latest/."""

import hydra
from omegaconf import DictConfig

from dynamics_codec.utils.log import user_errors


@hydra.main(config_path="../configs", config_name="demo", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    from dynamics_codec.cli import demo_command

    demo_command(cfg)


if __name__ == "__main__":
    main()
