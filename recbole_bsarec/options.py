"""The command line's options, parsed alike for every command: --model/--dataset/--config_files, a command's own
``--option=value`` flags from the table it declares (search, compare), their Ray options, and the inputs their
trials or runs read from elsewhere (another folder, another machine)."""

import math
import os
from typing import NamedTuple

import yaml

from recbole_bsarec.config import PROPERTIES, packaged
from recbole_bsarec.data.source import ensure_dataset
from recbole_bsarec.errors import UsageError
from recbole_bsarec.rundir import check_storage_name

DEFAULT_MODEL = "BSARec"
EMBEDDED_DATASET = "ml-100k"
QUICKSTART = PROPERTIES / "quickstart.yaml"


def parse_args(argv):
    """Split out --model, --dataset and --config_files; the rest stay RecBole overrides.

    The model and dataset come from the command line, else from the config files, else the
    defaults: BSARec on the embedded ml-100k with ``properties/quickstart.yaml``.
    """
    named, config_files, overrides = {}, [], []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if key in ("--model", "--dataset", "--config_files") and not (sep and value):
            raise UsageError(f"argument '{arg}' needs a value: write {key}=VALUE")
        if key == "--config_files":
            config_files += value.split()
        elif key in ("--model", "--dataset"):
            named[key[2:]] = value
        else:
            overrides.append(arg)
    from_files = {}
    for file in config_files:
        if os.path.isfile(file):
            with open(file, encoding="utf-8") as handle:
                try:
                    loaded = yaml.safe_load(handle)
                except yaml.YAMLError as err:
                    raise UsageError(f"config file '{file}' is not valid yaml: {' '.join(str(err).split())}") from err
            from_files.update(loaded if isinstance(loaded, dict) else {})
    model = named.get("model") or from_files.get("model") or DEFAULT_MODEL
    dataset = named.get("dataset") or from_files.get("dataset")
    if dataset is None:
        dataset, config_files = EMBEDDED_DATASET, [str(QUICKSTART), *config_files]
    return model, dataset, config_files, overrides


def text(_key, value):
    """An option's value as given."""
    return value


def number(kind, low):
    """A converter to ``kind`` (int or float), finite and at least ``low``."""

    def convert(key, value):
        try:
            result = kind(value)
        except ValueError as err:
            raise UsageError(f"{key}={value} is not a number") from err
        if not math.isfinite(result):
            raise UsageError(f"{key}={value} is not a number")
        if result < low:
            raise UsageError(f"{key}={value} must be at least {low}")
        return result

    return convert


def one_of(*choices):
    """A converter that accepts ``choices`` only."""

    def convert(key, value):
        if value not in choices:
            raise UsageError(f"{key}={value} is unknown: use one of {', '.join(choices)}")
        return value

    return convert


def folder_name(key, value):
    """A ``--name``: one folder inside ``--storage``."""
    check_storage_name(key, value)
    return value


class Option(NamedTuple):
    """One of a command's options: its value when not given, ``convert(key, text)`` to its value, whether it is
    a flag (given alone, as ``--resume``; with ``=`` it is left to RecBole), and for one that must be given, the
    error when it is missing or empty."""

    default: object = None
    convert: object = text
    flag: bool = False
    required: str = ""


FLAG = Option(False, flag=True)


def parse_options(argv, table):
    """Split the options ``table`` declares (``--gpus-per-trial=1`` or ``--gpus_per_trial=1`` for
    ``gpus_per_trial``) from the RecBole arguments; returns (options by name, the other arguments)."""
    options, rest = {name: option.default for name, option in table.items()}, []
    for arg in argv:
        key, sep, value = arg.partition("=")
        name = key[2:].replace("-", "_")
        option = table.get(name) if key.startswith("--") else None
        if option is None or (option.flag and sep):
            rest.append(arg)
        elif option.flag:
            options[name] = True
        elif not value:
            raise UsageError(option.required or f"argument '{arg}' needs a value: write {key}=VALUE")
        else:
            options[name] = option.convert(key, value)
    for name, option in table.items():
        if option.required and options[name] is None:
            raise UsageError(option.required)
    return options, rest


def storage_options(storage):
    """``--name`` and ``--storage``: a command's outputs go to ``<storage>/<name>``."""
    return {"name": Option(None, folder_name), "storage": Option(storage)}


def ray_options(unit, **concurrency):
    """How a command's trials or runs (``unit``) go on Ray: ``--address`` of a cluster, ``--cpus-per-<unit>``,
    ``--gpus-per-<unit>``, ``--max-failures`` (retries of a crashed one) and ``concurrency``'s option, with its
    default (how many at a time)."""
    return {
        "address": Option(),
        f"cpus_per_{unit}": Option(1.0, number(float, 0.01)),
        f"gpus_per_{unit}": Option(0.0, number(float, 0)),
        "max_failures": Option(1, number(int, 0)),
        **{name: Option(default, number(int, 1)) for name, default in concurrency.items()},
    }


def portable_inputs(config_files, cmd_args, config_dict=None):
    """The config files as absolute paths, and the last ``--data_path`` moved from the arguments into the
    config dict: trials and runs start in other folders, possibly on other machines."""
    config_dict = dict(config_dict or {})
    for arg in cmd_args:
        if arg.startswith("--data_path="):
            config_dict["data_path"] = arg.partition("=")[2]
    cmd_args = [arg for arg in cmd_args if not arg.startswith("--data_path=")]
    return [os.path.abspath(packaged(file)) for file in config_files], cmd_args, config_dict


def dataset_parent(config):
    """The absolute ``data_path`` that holds the configured dataset, found (or downloaded) now."""
    ensure_dataset(config)
    return os.path.dirname(os.path.abspath(config["data_path"]))
