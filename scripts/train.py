"""Train the tokenizer and the dense-flow generator: python scripts/train.py [experiment=...] (see configs/train.yaml).

Multi-GPU: torchrun --nproc_per_node=K scripts/train.py device=cuda ...
"""

import logging

import hydra
from omegaconf import DictConfig

from dynamics_codec.utils.log import user_errors

log = logging.getLogger("dynamics_codec.scripts.train")


@hydra.main(config_path="../configs", config_name="train", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    from dynamics_codec.train import Trainer

    trainer = Trainer(cfg, cfg.out_dir)
    result = trainer.fit(resume=cfg.get("resume"))
    if trainer.rank == 0:
        log.info(f"done: step {trainer.step}, epoch {trainer.epoch}; validation {result}; "
              f"checkpoints in {trainer.out_dir / 'checkpoints'} (last, best); TensorBoard: {trainer.out_dir / 'tb'}")


if __name__ == "__main__":
    main()
