"""The scripts' logging and error conventions (one setup for every entry point).

Library code logs through :mod:`logging` (``logging.getLogger(__name__)``). Hydra configures
the handlers from ``configs/hydra/default.yaml``: INFO messages as plain lines on stdout (the
human report), warnings and errors as ``LEVEL: message`` on stderr, everything with time and
logger name in ``<run dir>/<script>.log``.

:func:`user_errors` wraps a script's task function: a :class:`DynamicsCodecError` (or a missing
mandatory config value) becomes one line on stderr and exit status 1, without a traceback;
``debug=true`` or ``HYDRA_FULL_ERROR=1`` re-raises it (traceback) and turns on DEBUG logging of
the package.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Any, Callable

from dynamics_codec.errors import DynamicsCodecError

__all__ = ["MaxLevelFilter", "user_errors", "wants_traceback", "EXIT_USER_ERROR"]

EXIT_USER_ERROR = 1
log = logging.getLogger("dynamics_codec")


class MaxLevelFilter(logging.Filter):
    """Passes records up to ``level`` (the stdout handler leaves warnings and errors to stderr)."""

    def __init__(self, level: int | str = logging.INFO) -> None:
        super().__init__()
        self.level = logging.getLevelName(level) if isinstance(level, str) else int(level)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno <= self.level


def wants_traceback(cfg: Any) -> bool:
    """``debug=true`` in the config or ``HYDRA_FULL_ERROR=1`` in the environment."""
    debug = bool(cfg.get("debug", False)) if hasattr(cfg, "get") else False
    return debug or os.environ.get("HYDRA_FULL_ERROR", "") == "1"


def _one_line(exc: BaseException) -> str:
    from omegaconf.errors import MissingMandatoryValue

    if isinstance(exc, MissingMandatoryValue):
        key = getattr(exc, "full_key", None) or str(exc).split(":", 1)[-1].strip().splitlines()[0]
        return f"ConfigError: missing value for '{key}': pass {key}=<value> on the command line"
    return f"{type(exc).__name__}: {exc}"


def user_errors(task: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Decorator for a Hydra task function (below ``@hydra.main``): user errors exit with one line."""
    from omegaconf.errors import MissingMandatoryValue

    @functools.wraps(task)
    def wrapper(cfg: Any) -> Any:
        debug = wants_traceback(cfg)
        if debug:
            log.setLevel(logging.DEBUG)
        try:
            return task(cfg)
        except (DynamicsCodecError, MissingMandatoryValue) as exc:
            if debug:
                raise
            log.error(_one_line(exc))
            for handler in logging.getLogger().handlers:
                handler.flush()
            sys.exit(EXIT_USER_ERROR)

    return wrapper
