"""The results registry, ``<results>/<comparison>/``: what a comparison's finished runs leave that is small enough
to commit, and all its tables and tests need. Per run ``<Model>-<dataset>-seed<seed>/``: ``metrics.json`` (test
and validation results, epochs, where it ran), ``ranks.csv.gz`` (each test user's target rank) and
``config.json`` (the resolved configuration); for the comparison, ``compare.json`` (its shared settings and data
digests). No checkpoints: a fresh clone rebuilds the table and the paired tests from these files alone.

A record written from an earlier result without its run (``unrecorded``: its ranks and configuration are gone)
holds the test metrics only; it counts in the means, not in the paired tests, and a real run replaces it."""

import csv
import gzip
import io
import json
import os

from recbole_bsarec.atomic import remove_partial, replacing, write_text
from recbole_bsarec.checkpoint import read_checkpoint
from recbole_bsarec.errors import UsageError
from recbole_bsarec.pipeline import NOT_REBUILT
from recbole_bsarec.rundir import BEST, METRICS, read_metrics

RANKS_GZ = "ranks.csv.gz"
CONFIG = "config.json"
COMPARE = "compare.json"
LOCAL = ("run_dir", "log_file", "checkpoint")  # paths on the machine that ran it: meaningless in a clone


def record_dir(spec):
    """The registry folder of one run of a comparison."""
    return os.path.join(spec["records"], os.path.basename(spec["run_dir"]))


def write_json(path, value):
    """``value`` as indented, key-sorted JSON, atomically: the same record always has the same bytes."""
    write_text(path, json.dumps(value, indent=1, sort_keys=True) + "\n")


def record_run(spec, ranks_file):
    """Copy a finished run's metrics, ranks and resolved configuration into the registry. A record of the same
    run that trained further is never replaced by this one; an unrecorded one (earlier numbers only) is."""
    metrics = {key: value for key, value in read_metrics(spec["run_dir"]).items() if key not in LOCAL}
    metrics["settings"] = {key: value for key, value in metrics["settings"].items() if key not in NOT_REBUILT}
    folder = record_dir(spec)
    if os.path.isdir(folder):
        remove_partial(folder)
    held = read_metrics(folder)
    if held == metrics:
        return folder
    if held is not None and "unrecorded" not in held and held.get("epochs_run", 0) > metrics.get("epochs_run", 0):
        raise UsageError(
            f"record '{folder}' holds a result that trained {held['epochs_run']} epochs, this run "
            f"{metrics['epochs_run']}: continue the run, or compare under another --name"
        )
    config = read_checkpoint(os.path.join(spec["run_dir"], BEST))["config"]
    write_json(os.path.join(folder, CONFIG), {key: value for key, value in config.items() if key not in NOT_REBUILT})
    with open(ranks_file, "rb") as handle, replacing(os.path.join(folder, RANKS_GZ), "wb") as out:
        out.write(gzip.compress(handle.read(), mtime=0))
    write_json(os.path.join(folder, METRICS), metrics)  # last: its presence marks a complete record
    return folder


def read_ranks(folder):
    """A recorded run's ranks as rows {user, length, rank}."""
    with gzip.open(os.path.join(folder, RANKS_GZ), "rt", encoding="utf-8") as handle:
        return list(csv.DictReader(io.StringIO(handle.read())))


def has_ranks(folder):
    """True when the record holds its test users' ranks (an unrecorded one does not)."""
    return os.path.isfile(os.path.join(folder, RANKS_GZ))


def check_protocol(records, shared):
    """The registry folder holds one protocol: its compare.json must match this comparison's config files and
    arguments (and data digests, where both know them); a new folder records them."""
    path = os.path.join(records, COMPARE)
    if not os.path.isfile(path):
        if shared.get("data"):
            write_json(path, shared)
        return
    with open(path, encoding="utf-8") as handle:
        saved = json.load(handle)
    changed = [key for key in ("config_files", "cmd_args") if saved.get(key) != shared[key]]
    known = shared.get("data") or {}
    changed += [f"data of {name}" for name, digest in known.items() if saved["data"].get(name, digest) != digest]
    if changed:
        raise UsageError(
            f"results '{records}' were recorded with other {', '.join(changed)}: give the same options and data, "
            "or --name=OTHER"
        )
    if known and {**saved["data"], **known} != saved["data"]:
        write_json(path, {**saved, "data": {**saved["data"], **known}})
