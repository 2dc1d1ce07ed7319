"""One folder per run, ``runs/<Model>-<dataset>-<time>/``: its log, best and last checkpoints, metrics.json.

RecBole spreads a run over ``log/``, ``saved/`` and ``log_tensorboard/``; grouping them lets a user find,
copy, resume or delete one run as a whole, and lets tools (the compare command) find a finished run's
metrics without parsing logs.
"""

import json
import os

from recbole.utils import get_local_time

from recbole_bsarec.atomic import remove_partial, write_text
from recbole_bsarec.checkpoint import check_resumable, load_checkpoint
from recbole_bsarec.data.source import NAME_MAX
from recbole_bsarec.errors import UsageError

LOG = "run.log"
BEST = "best.pth"
LAST = "last.pth"
METRICS = "metrics.json"
RUN_FILES = (BEST, LAST, METRICS)  # what makes a folder a run's: continuing it is --resume's job


def check_storage_name(option, name):
    """A search's or a comparison's ``--name`` is one folder inside its ``--storage``: no path, no leading '.'."""
    if name.startswith(".") or "/" in name or "\\" in name:
        raise UsageError(f"{option}={name} must name a folder inside --storage: no '/' or '\\', no leading '.'")


def check_run_dir(config):
    """``run_dir`` must be a folder that holds no run, or the folder of the run that ``resume`` continues:
    a run never writes over another run's checkpoints or metrics."""
    folder, resume = config["run_dir"], config["resume"]
    if resume:
        check_resumable(resume, load_checkpoint(resume, config), config)  # before a log is opened
    if resume and folder and os.path.abspath(os.path.dirname(resume)) != os.path.abspath(folder):
        raise UsageError(
            f"--resume={resume} continues the run in its own folder, not --run_dir={folder}: drop --run_dir"
        )
    if not folder:
        name = default_name(config)
        if len(os.fsencode(name)) > NAME_MAX:
            raise UsageError(f"the run folder's name '{name[:40]}...' is too long for the file system: give --run_dir")
        return
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UsageError(f"--run_dir={folder} is a file, not a folder: give the path of a new folder")
    held = [name for name in RUN_FILES if os.path.isfile(os.path.join(folder, name))]
    if held and not resume:
        raise UsageError(
            f"--run_dir={folder} holds a run already ({', '.join(held)}): give a new folder, "
            f"or continue that run with --resume={os.path.join(folder, LAST)}"
        )


def choose_run_dir(config):
    """The folder of this run: ``run_dir`` if given; the folder of the checkpoint being resumed (the run goes
    on where it was); else a new ``runs/<Model>-<dataset>-<time>``, suffixed when that name is taken. Files that
    a killed write left half-done in a folder that is continued are removed."""
    if config["run_dir"] or config["resume"]:
        folder = str(config["run_dir"] or os.path.dirname(os.path.abspath(config["resume"])))
        os.makedirs(folder, exist_ok=True)
        remove_partial(folder)
        return folder
    base = os.path.join("runs", default_name(config))
    folder, n = base, 1
    while True:
        try:
            os.makedirs(folder)
            return folder
        except FileExistsError:
            n += 1
            folder = f"{base}-{n}"


def default_name(config):
    """``<Model>-<dataset>-<time>``: the name of a run folder nobody chose."""
    return f"{config['model']}-{config['dataset']}-{get_local_time()}"


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
