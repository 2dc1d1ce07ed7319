"""What a comparison runs: its options, checked before anything trains, and one run spec per model, dataset
and seed, each with its own run folder ``<storage>/<name>/runs/<Model>-<dataset>-seed<seed>`` and its record in
the results registry ``<results>/<name>/<Model>-<dataset>-seed<seed>`` (compare/records.py)."""

import json
import os

import yaml

from recbole_bsarec.atomic import remove_partial, write_text
from recbole_bsarec.checkpoint import NOT_COMPARED
from recbole_bsarec.data.source import fingerprint
from recbole_bsarec.errors import ConfigError, UsageError
from recbole_bsarec.options import (
    FLAG,
    Option,
    dataset_parent,
    parse_options,
    portable_inputs,
    ray_options,
    storage_options,
)
from recbole_bsarec.pipeline import build_config
from recbole_bsarec.settings import RULES

OPTIONS = {
    "compare": FLAG,
    "models": Option("BSARec,SASRec"),
    "datasets": Option(required="--compare needs --datasets=A,B,...: e.g. --datasets=lastfm"),
    "seeds": Option("42,1,2"),
    "target": Option("BSARec"),
    **storage_options("compare"),
    "results": Option("results"),
    **ray_options("run", jobs=1),
    "paper": FLAG,
    "table_only": FLAG,
    "adopt": Option(),
}
# the config files and the data are compared by what they hold, not where they are: a comparison moved to another
# machine or checkout (a GPU, a cluster) continues there, while an edited yaml or data file is refused
SAME_ON_RERUN = ("config_files", "cmd_args")


def parse_compare_args(argv):
    """Split the compare options (``--models=A,B``, ``--seeds=42,1,2``, ``--jobs=2``, ``--paper``...) from the
    RecBole arguments shared by every run; returns (options, the other arguments)."""
    options, rest = parse_options(argv, OPTIONS)
    for key in ("models", "datasets", "seeds"):
        options[key] = [part for part in options[key].split(",") if part]
        if not options[key]:
            raise UsageError(f"--compare needs --{key}=A,B,...: e.g. --datasets=lastfm")
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


def plan(options, config_files, cmd_args, config_dict=None, build=True):
    """Every run of the comparison, with each model's configuration on each dataset built (and its dataset
    found) before anything trains; paths become absolute, as runs may execute elsewhere (Ray workers). Without
    ``build``, only the runs' names and folders: a table from the registry needs neither data nor configurations."""
    config_files, cmd_args, config_dict = portable_inputs(config_files, cmd_args, config_dict)
    runs, data_paths, data = [], {}, {}
    for dataset in options["datasets"]:
        for model in options["models"]:
            if not build:
                runs += [{"model": model, "dataset": dataset, "seed": seed} for seed in options["seeds"]]
                continue
            try:
                config = build_config(model, dataset, config_files, config_dict, cmd_args)
            except ConfigError as err:
                raise UsageError(f"{model} on {dataset}: {err}") from err
            data_paths[dataset] = dataset_parent(config)
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
    records = os.path.join(os.path.abspath(options["results"]), name)
    for spec in runs:
        spec["run_dir"] = os.path.join(folder, "runs", f"{spec['model']}-{spec['dataset']}-seed{spec['seed']}")
        spec["records"] = records
    shared = {
        "config_files": [file_content(file) for file in config_files],
        "cmd_args": [arg for arg in cmd_args if arg.partition("=")[0][2:] not in {"epochs", *NOT_COMPARED}],
        "data": data,
    }
    return {"name": name, "folder": folder, "records": records, "runs": runs, "shared": shared}


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
        changed = [key for key in SAME_ON_RERUN if shared[key] != saved.get(key)]
        recorded = saved.get("data") or dict.fromkeys(shared["data"])  # a record without digests matches no data
        changed += [f"data of {name}" for name, now in shared["data"].items() if recorded.get(name, now) != now]
        if changed:
            raise UsageError(
                f"comparison '{spec['folder']}' was run with other {', '.join(changed)}: "
                "give the same options and data, or --name=OTHER for a new comparison"
            )
        shared["data"] = {**recorded, **shared["data"]}
    if shared != saved:
        write_text(record, json.dumps(shared, indent=1) + "\n")


def file_content(path):
    """What a config file holds, as compare.json records it: its name and parsed yaml."""
    with open(path, encoding="utf-8") as handle:
        return {"file": os.path.basename(path), "yaml": yaml.safe_load(handle) or {}}
