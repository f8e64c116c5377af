"""The evaluation workflow behind ``scripts/eval_bdrate.py``: sequences, per-point result files
with one schema, the resumable/sharded runner; tables and plots live in :mod:`dynamics_codec.bdrate`.
"""

from dynamics_codec.evaluation.results import SCHEMA_VERSION, iter_results, read_result, result_path, write_result
from dynamics_codec.evaluation.runner import PointJob, codec_label, evaluate_command, plan_jobs, report_command, run_points
from dynamics_codec.evaluation.sequences import Sequence, list_sequence_paths, load_sequence

__all__ = ["SCHEMA_VERSION", "iter_results", "read_result", "result_path", "write_result", "PointJob", "codec_label",
           "evaluate_command", "plan_jobs", "report_command", "run_points", "Sequence", "list_sequence_paths",
           "load_sequence"]
