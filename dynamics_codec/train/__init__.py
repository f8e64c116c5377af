"""Training of the tokenizer and the dense-flow generator (``scripts/train.py``)."""

from dynamics_codec.train.trainer import TrainSettings, Trainer, build_datasets

__all__ = ["TrainSettings", "Trainer", "build_datasets"]
