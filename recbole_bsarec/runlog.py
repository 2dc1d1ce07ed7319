"""RecBole's logger set up once per run, so every run in a process writes its own log file.

RecBole's init_logger relies on logging.basicConfig, which does nothing when the root logger already
has handlers (a previous run, pytest, Ray): the new log file would then stay empty.
"""

import logging

from recbole.utils import init_logger

_run_handlers = []


def init_run_logger(config):
    """Replace the previous run's handlers with this run's; handlers others installed stay."""
    root = logging.getLogger()
    for handler in _run_handlers:
        root.removeHandler(handler)
        handler.close()
    foreign = list(root.handlers)
    for handler in foreign:
        root.removeHandler(handler)
    init_logger(config)
    _run_handlers[:] = root.handlers
    for handler in foreign:
        root.addHandler(handler)


def log_file():
    """Where this run's log is written, if anywhere."""
    for handler in _run_handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None
