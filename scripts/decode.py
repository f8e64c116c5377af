"""Decode a .dcv file: python scripts/decode.py input=<file.dcv> output=<video.mp4|.mkv|.y4m|.yuv|png folder> [decoder=warp]."""

import hydra
from omegaconf import DictConfig

from dynamics_codec.utils.log import user_errors


@hydra.main(config_path="../configs", config_name="decode", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    from dynamics_codec.cli import decode_command

    decode_command(cfg)


if __name__ == "__main__":
    main()
