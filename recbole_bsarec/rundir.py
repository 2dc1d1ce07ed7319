"""One folder per run, ``runs/<Model>-<dataset>-<time>/``: its log, best and last checkpoints, metrics.json.

RecBole spreads a run over ``log/``, ``saved/`` and ``log_tensorboard/``; grouping them lets a user find,
copy, resume or delete one run as a whole, and lets tools (the compare command) find a finished run's
metrics without parsing logs.
"""

import json
import os

from recbole.utils import get_local_time

from recbole_bsarec.atomic import write_text

LOG = "run.log"
BEST = "best.pth"
LAST = "last.pth"
METRICS = "metrics.json"


def choose_run_dir(config):
    """The folder of this run: ``run_dir`` if given; the folder of the checkpoint being resumed (the run goes
    on where it was); else a new ``runs/<Model>-<dataset>-<time>``, suffixed when that name is taken."""
    if config["run_dir"]:
        folder = str(config["run_dir"])
        os.makedirs(folder, exist_ok=True)
        return folder
    if config["resume"]:
        return os.path.dirname(os.path.abspath(config["resume"]))
    base = os.path.join("runs", f"{config['model']}-{config['dataset']}-{get_local_time()}")
    folder, n = base, 1
    while True:
        try:
            os.makedirs(folder)
            return folder
        except FileExistsError:
            n += 1
            folder = f"{base}-{n}"


def read_metrics(folder):
    """A finished run's metrics.json as a dict, or None while the run has not finished."""
    try:
        with open(os.path.join(folder, METRICS), encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_metrics(folder, metrics):
    """metrics.json, written atomically once the run has its test result: its presence marks a finished run."""
    write_text(os.path.join(folder, METRICS), json.dumps(metrics, indent=1, sort_keys=True) + "\n")
