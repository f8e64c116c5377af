"""Encode a video into one .dcv file: python scripts/encode.py input=<video> output=<file.dcv> [keyframe=x265|vtm keyframe.qp=37 entropy.step=0.1]."""

import hydra
from omegaconf import DictConfig

from dynamics_codec.utils.log import user_errors


@hydra.main(config_path="../configs", config_name="encode", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    from dynamics_codec.cli import encode_command

    encode_command(cfg)


if __name__ == "__main__":
    main()
