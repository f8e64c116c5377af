"""BD-rate of our codec against anchors: python scripts/eval_bdrate.py sequences=<folder | manifest.txt>.

Writes one JSON per (sequence, codec, rate point) under eval.results_dir (resumable), then the
BD-rate / BD-quality table (CSV, Markdown) and RD plots under eval.report_dir. Options:
configs/eval_bdrate.yaml and configs/eval/default.yaml; a CPU smoke run: experiment=smoke_eval.
Sharded over jobs (Hydra multirun; on a SLURM cluster with the hydra-submitit-launcher plugin,
pip install -e ".[cluster]", add hydra/launcher=submitit_slurm hydra.launcher.partition=...):

    python scripts/eval_bdrate.py -m eval.stage=encode eval.shard.count=8 'eval.shard.index=range(8)'
    python scripts/eval_bdrate.py eval.stage=report
"""

import hydra
from omegaconf import DictConfig

from dynamics_codec.utils.log import user_errors


@hydra.main(config_path="../configs", config_name="eval_bdrate", version_base="1.3")
@user_errors
def main(cfg: DictConfig) -> None:
    from dynamics_codec.evaluation import evaluate_command

    evaluate_command(cfg)


if __name__ == "__main__":
    main()
