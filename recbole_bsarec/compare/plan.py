"""What a comparison runs: its options, checked before anything trains, and one run spec per model, dataset
and seed, each with its own run folder ``<storage>/<name>/runs/<Model>-<dataset>-seed<seed>``."""

import json
import os

import yaml

from recbole_bsarec.atomic import remove_partial, write_text
from recbole_bsarec.checkpoint import NOT_COMPARED
from recbole_bsarec.config import packaged
from recbole_bsarec.data.source import ensure_dataset, fingerprint
from recbole_bsarec.errors import ConfigError, UsageError
from recbole_bsarec.pipeline import build_config
from recbole_bsarec.rundir import check_storage_name
from recbole_bsarec.settings import RULES

DEFAULTS = {
    "models": "BSARec,SASRec",
    "datasets": None,
    "seeds": "42,1,2",
    "target": "BSARec",
    "name": None,
    "storage": "compare",
    "jobs": 1,
    "cpus_per_run": 1.0,
    "gpus_per_run": 0.0,
    "address": None,
    "max_failures": 1,
    "paper": False,
    "table_only": False,
    "adopt": None,
}
FLAGS = ("paper", "table_only")
NUMBERS = {"jobs": int, "cpus_per_run": float, "gpus_per_run": float, "max_failures": int}
# the config files and the data are compared by what they hold, not where they are: a comparison moved to another
# machine or checkout (a GPU, a cluster) continues there, while an edited yaml or data file is refused
SAME_ON_RERUN = ("config_files", "cmd_args")


def parse_compare_args(argv):
    """Split the compare options (``--models=A,B``, ``--seeds=42,1,2``, ``--jobs=2``, ``--paper``...) from the
    RecBole arguments shared by every run; returns (options, the other arguments)."""
    options, rest = dict(DEFAULTS), []
    for arg in argv:
        key, sep, value = arg.partition("=")
        name = key[2:].replace("-", "_")
        if key == "--compare":
            continue
        if name in FLAGS and not sep:
            options[name] = True
        elif key.startswith("--") and name in DEFAULTS and name not in FLAGS:
            if not (sep and value):
                raise UsageError(f"argument '{arg}' needs a value: write {key}=VALUE")
            options[name] = convert(key, name, value)
        else:
            rest.append(arg)
    for key in ("models", "datasets", "seeds"):
        if not options[key]:
            raise UsageError(f"--compare needs --{key}=A,B,...: e.g. --datasets=lastfm")
        options[key] = [part for part in str(options[key]).split(",") if part]
    try:
        options["seeds"] = [int(seed) for seed in options["seeds"]]
    except ValueError as err:
        raise UsageError(f"--seeds={','.join(options['seeds'])} must be integers, e.g. --seeds=42,1,2") from err
    wrong = next((seed for seed in options["seeds"] if RULES["seed"](seed)), None)
    if wrong is not None:
        raise UsageError(f"--seeds: seed {wrong} {RULES['seed'](wrong)}, e.g. --seeds=42,1,2")
    for key in ("models", "datasets", "seeds"):
        if len(set(options[key])) != len(options[key]):
            raise UsageError(f"--{key} names a value twice: give each once")
    for arg in rest:
        if arg.partition("=")[0] in ("--seed", "--run_dir", "--resume", "--gpu_id", "--use_gpu"):
            raise UsageError(f"{arg.partition('=')[0]} is set per run in a comparison: drop it")
    return options, rest


def convert(key, name, value):
    """``value`` of option ``key`` as its type; a wrong one is a UsageError naming the option."""
    if name == "name":
        check_storage_name(key, value)
    if name not in NUMBERS:
        return value
    try:
        number = NUMBERS[name](value)
    except ValueError as err:
        raise UsageError(f"{key}={value} is not a number") from err
    low = 0 if name in ("gpus_per_run", "max_failures") else 0.01 if name == "cpus_per_run" else 1
    if number < low:
        raise UsageError(f"{key}={value} must be at least {low}")
    return number


def plan(options, config_files, cmd_args, config_dict=None):
    """Every run of the comparison, with each model's configuration on each dataset built (and its dataset
    found) before anything trains; paths become absolute, as runs may execute elsewhere (Ray workers)."""
    config_files = [os.path.abspath(packaged(file)) for file in config_files]
    config_dict = dict(config_dict or {})
    for arg in [a for a in cmd_args if a.startswith("--data_path=")]:
        config_dict["data_path"] = arg.partition("=")[2]
    cmd_args = [arg for arg in cmd_args if not arg.startswith("--data_path=")]
    runs, data_paths, data = [], {}, {}
    for dataset in options["datasets"]:
        for model in options["models"]:
            try:
                config = build_config(model, dataset, config_files, config_dict, cmd_args)
            except ConfigError as err:
                raise UsageError(f"{model} on {dataset}: {err}") from err
            ensure_dataset(config)
            data_paths[dataset] = os.path.dirname(os.path.abspath(config["data_path"]))
            data[dataset] = data.get(dataset) or fingerprint(config["data_path"], dataset)
            for seed in options["seeds"]:
                runs.append(
                    {
                        "model": config["model"],
                        "dataset": dataset,
                        "seed": seed,
                        "epochs": config["epochs"],
                        "config_files": config_files,
                        "config_dict": {**config_dict, "data_path": data_paths[dataset]},
                        "cmd_args": cmd_args,
                    }
                )
    name = options["name"] or "-".join(options["datasets"])
    folder = os.path.join(os.path.abspath(options["storage"]), name)
    for spec in runs:
        spec["run_dir"] = os.path.join(folder, "runs", f"{spec['model']}-{spec['dataset']}-seed{spec['seed']}")
    shared = {
        "config_files": [file_content(file) for file in config_files],
        "cmd_args": [arg for arg in cmd_args if arg.partition("=")[0][2:] not in {"epochs", *NOT_COMPARED}],
        "data": data,
    }
    return {"name": name, "folder": folder, "runs": runs, "shared": shared, "data_path": config_dict.get("data_path")}


def check_folder(spec):
    """A comparison folder holds runs of one protocol: adding models, datasets or seeds, or raising --epochs,
    continues it; other shared settings or other data need a new --name. compare.json records them. What a killed
    write left half-done in the folder is removed."""
    record = os.path.join(spec["folder"], "compare.json")
    if os.path.isdir(spec["folder"]):
        remove_partial(spec["folder"])
    shared = json.loads(json.dumps(spec["shared"]))
    saved = {}
    if os.path.exists(record):
        with open(record, encoding="utf-8") as handle:
            saved = json.load(handle)
        earlier = {key: saved.get(key) for key in SAME_ON_RERUN}
        earlier["config_files"] = [file_content(e) if isinstance(e, str) else e for e in earlier["config_files"] or []]
        changed = [key for key in SAME_ON_RERUN if shared[key] != earlier[key]]
        recorded = recorded_data(saved, spec)
        changed += [f"data of {name}" for name, now in shared["data"].items() if recorded.get(name, now) != now]
        if changed:
            raise UsageError(
                f"comparison '{spec['folder']}' was run with other {', '.join(changed)}: "
                "give the same options and data, or --name=OTHER for a new comparison"
            )
        shared["data"] = {**recorded, **shared["data"]}
    if shared != saved:
        write_text(record, json.dumps(shared, indent=1) + "\n")


def recorded_data(saved, spec):
    """The data a record holds, per dataset. Records of earlier versions hold the --data_path given instead: the
    same path stands for this call's data, another for data that matches nothing."""
    if "data" in saved:
        return saved["data"]
    same = saved.get("data_path") == spec["data_path"]
    return {name: digests if same else None for name, digests in spec["shared"]["data"].items()}


def file_content(path):
    """What a config file holds, as compare.json records it: its name and parsed yaml. A record written by
    earlier versions holds paths; one not on this machine has no content and so matches nothing."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = yaml.safe_load(handle) or {}
    except OSError:
        content = None
    return {"file": os.path.basename(path), "yaml": content}
