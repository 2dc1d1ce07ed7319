"""The run's log, in its run folder: RecBole's format on the console and in ``<run_dir>/run.log``.

RecBole's init_logger writes to ``./log/<Model>/`` and relies on logging.basicConfig, which does nothing when
the root logger already has handlers (a previous run, pytest, Ray): the new log file would then stay empty.
Here each run replaces the previous run's handlers; handlers others installed stay.
"""

import logging
import os

import colorlog
from recbole.utils.logger import RemoveColorFilter, log_colors_config

from recbole_bsarec.rundir import LOG

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
LEVELS["critical"] = logging.CRITICAL
_run_handlers = []


def init_run_logger(config, run_dir):
    """Log to the console and to ``run_dir/run.log`` (appended to, so a resumed run keeps one log)."""
    level = LEVELS.get(str(config["state"] or "info").lower(), logging.INFO)
    file_handler = logging.FileHandler(os.path.join(run_dir, LOG), mode="a", encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)-15s %(levelname)s  %(message)s", "%a %d %b %Y %H:%M:%S"))
    file_handler.addFilter(RemoveColorFilter())
    console = logging.StreamHandler()
    console.setFormatter(
        colorlog.ColoredFormatter(
            "%(log_color)s%(asctime)-15s %(levelname)s  %(message)s", "%d %b %H:%M", log_colors=log_colors_config
        )
    )
    root = logging.getLogger()
    for handler in _run_handlers:
        root.removeHandler(handler)
        handler.close()
    _run_handlers[:] = [console, file_handler]
    for handler in _run_handlers:
        handler.setLevel(level)
        root.addHandler(handler)
    root.setLevel(level)


def log_file():
    """Where this run's log is written, if anywhere."""
    for handler in _run_handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None
