"""Every setting a run reads, checked in one place before anything is written: known keys only (the closest
known ones suggested for a typo), each value of its type and in its range. RecBole accepts any key and most
values and fails, if at all, deep inside training; here a bad setting is one line naming it and the fix."""

import difflib
import functools
import math
import numbers
from pathlib import Path

import recbole
import yaml

from recbole_bsarec.errors import ConfigError

RECBOLE_PROPERTIES = Path(recbole.__file__).resolve().parent / "properties"
# keys RecBole reads although none of its yaml files declares them (distributed runs, a few models' options)
UNDECLARED = {
    *("encoding", "local_rank", "nproc", "world_size", "offset", "ip", "port"),
    *("eta", "cin", "has_residual", "feature_num", "norm", "tail_ratio", "token_num_threshold"),
    "xgb_early_stopping_rounds",
}
# keys that name files or folders: their command-line value is the text given, never evaluated as Python
PATH_KEYS = {"data_path", "checkpoint_dir", "run_dir", "resume", "dataset_save_path", "dataloaders_save_path"}
LEARNERS = ("adam", "adamw", "sgd", "adagrad", "rmsprop", "sparse_adam")
STATES = ("debug", "info", "warning", "error", "critical")
ACTIVATIONS = ("gelu", "relu", "swish", "tanh", "sigmoid")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def integer(low, high=None):
    """A rule: an integer in [low, high]."""
    span = f">= {low}" if high is None else f"from {low} to {high}"

    def check(value):
        wrong_type = not isinstance(value, numbers.Integral) or isinstance(value, bool)
        if wrong_type or value < low or (high is not None and value > high):
            return f"is not an integer {span}"
        return None

    return check


def real(low=-math.inf, high=math.inf, low_open=False, high_open=False):
    """A rule: a finite number in the interval from low to high (either end open)."""
    if high == math.inf:
        span = f"must be {'>' if low_open else '>='} {low:g}"
    else:
        span = f"is outside {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def check(value):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
            return "is not a finite number"
        below = value <= low if low_open else value < low
        above = value >= high if high_open else value > high
        return span if below or above else None

    return check


def one_of(choices, any_case=True):
    """A rule: one of ``choices`` (in any case where RecBole lower-cases the value before comparing)."""

    def check(value):
        if not isinstance(value, str) or (value.lower() if any_case else value) not in choices:
            return f"is not one of {', '.join(choices)}"
        return None

    return check


def path(value):
    """A rule: a file or folder name, or nothing."""
    return None if value is None or isinstance(value, str) else "is not a path"


def of_type(kind, name):
    """A rule: an instance of ``kind`` (bool is not an integer, an integer is a float)."""

    def check(value):
        if isinstance(value, bool) and kind is not bool:
            return f"is not {name}"
        if kind is float:
            return real()(value)
        return None if isinstance(value, kind) else f"is not {name}"

    return check


def optional(rule):
    """A rule: nothing (RecBole's ``~``), or what ``rule`` accepts."""
    return lambda value: None if value is None else rule(value)


def text_or_number(value):
    """A rule for RecBole's string settings: a command line may give them as numbers (``--gpu_id=0``)."""
    ok = isinstance(value, (str, int, float, tuple)) and not isinstance(value, bool)
    return None if ok else "is not a text value (e.g. a name, not a list)"


def topk_rule(value):
    """RecBole's ``topk``: a positive integer or a non-empty list of them."""
    values = value if isinstance(value, list) else [value]
    if not values or any(integer(1)(k) for k in values):
        return "is not a positive integer or a non-empty list of them"
    return None


def metrics_rule(value):
    """RecBole's ``metrics``: names of its metrics, one or a non-empty list."""
    from recbole.evaluator.register import metric_types

    names = value if isinstance(value, list) else [value]
    unknown = [name for name in names if not isinstance(name, str) or name.lower() not in metric_types]
    if not names or unknown:
        return f"names no metric of RecBole's ({', '.join(map(str, unknown))})"
    return None


MAPPINGS = ("train_neg_sample_args", "clip_grad_norm", "seq_len", "threshold", "unload_col", "unused_col")
MAPPINGS += ("val_interval", "preload_weight", "discretization")
NAME_LISTS = ("additional_feat_suffix", "normalize_field", "benchmark_filename")
NAME_LISTS += tuple(f"alias_of_{name}_id" for name in ("user", "item", "entity", "relation"))
# explicit rules; other keys are checked against the type of their default (a float default: a finite number)
RULES = {
    "epochs": integer(1),
    "eval_step": integer(1),
    "stopping_step": integer(0),
    "MAX_ITEM_LIST_LENGTH": integer(1),
    "seed": integer(0, 2**32 - 1),  # numpy's seeds are 32-bit
    "worker": integer(0),
    "learning_rate": real(0, low_open=True),
    "weight_decay": real(0),
    "layer_norm_eps": real(0, low_open=True),
    "initializer_range": real(0),
    "eval_scores_per_batch": integer(1),
    "learner": one_of(LEARNERS),
    "stopping_rule": one_of(("recbole", "reference"), any_case=False),
    "torch_compile_mode": one_of(COMPILE_MODES, any_case=False),
    "state": one_of(STATES),
    "hidden_act": one_of(ACTIVATIONS, any_case=False),
    **dict.fromkeys(PATH_KEYS, path),
    "topk": topk_rule,
    "metrics": metrics_rule,
    "custom_keys": lambda value: None if isinstance(value, list) else "is not a list of setting names, e.g. [my_key]",
    # RecBole's settings without a default value, typed as its yaml comments say
    "rm_dup_inter": optional(one_of(("first", "last"), any_case=False)),
    "transform": optional(text_or_number),
    "normalize_all": optional(of_type(bool, "True or False")),
    **dict.fromkeys(MAPPINGS, optional(of_type(dict, "a mapping, e.g. {key: value}"))),
    **dict.fromkeys(NAME_LISTS, optional(of_type((list, str), "a list, e.g. [a, b]"))),
}
# rules by name for integer settings of any model: sizes, layer and head counts
INTEGER_PATTERNS = (("_size", integer(1)), ("n_layers", integer(1)), ("n_heads", integer(1)))
DROPOUT = real(0, 1, high_open=True)


def rule_for(key, default):
    """The rule of ``key`` whose default value is ``default`` (None: any value)."""
    if key in RULES:
        return RULES[key]
    if key == "loss_type":  # sequential models take CE or BPR; the one RecBole model with BCE, BCE or MSE
        return one_of(("CE", "BPR") if default in ("CE", "BPR") else ("BCE", "MSE"), any_case=False)
    if key.endswith("dropout_prob") and isinstance(default, float):
        return DROPOUT
    if isinstance(default, int) and not isinstance(default, bool):
        rule = next((rule for suffix, rule in INTEGER_PATTERNS if key.endswith(suffix)), None)
        return rule or of_type(int, "an integer")
    if isinstance(default, bool):
        return of_type(bool, "True or False")
    if isinstance(default, float):
        return of_type(float, "a finite number")
    if isinstance(default, str):
        return text_or_number
    if isinstance(default, list):
        return of_type(list, "a list, e.g. [1, 2]")
    if isinstance(default, dict):
        return of_type(dict, "a mapping, e.g. {key: value}")
    return None


def yaml_keys(folder, exclude=()):
    """Every top-level key (and ``model_config`` key) of the yaml files under ``folder``."""
    keys = set()
    for file in folder.rglob("*.yaml"):
        if any(part in exclude for part in file.parts):
            continue
        content = yaml.safe_load(file.read_text(encoding="utf-8"))
        if isinstance(content, dict):
            keys |= set(content)
            for section in (content.get("model_config") or {}).values():
                keys |= set(section)
    return keys


@functools.cache
def vocabulary():
    """Every key some model of RecBole's or this package's declares, with the keys RecBole reads undeclared."""
    from recbole_bsarec.config import PROPERTIES

    return yaml_keys(RECBOLE_PROPERTIES, exclude={"dataset_example"}) | yaml_keys(PROPERTIES) | UNDECLARED


def check_settings(config, final):
    """Refuse unknown keys and bad values among ``config``'s given settings (``final``: its merged settings)."""
    given = config.external_config_dict
    custom = final.get("custom_keys") or []
    problem = RULES["custom_keys"](custom)
    if problem:
        fail(config, "custom_keys", custom, problem)
    own = set(config.internal_config_dict) | UNDECLARED | set(custom) | {"model", "dataset"}
    for key, value in given.items():
        if not isinstance(key, str):
            fail(config, key, value, "is not a setting name: keys are text, e.g. epochs")
        if key not in own:
            unknown_key(config, key, own)
            config.ignored_keys.add(key)
            continue
        if key in custom:
            continue
        losses = getattr(config.model_class, "LOSS_TYPES", None) if key == "loss_type" else None
        rule = one_of(losses, any_case=False) if losses else rule_for(key, config.internal_config_dict.get(key))
        problem = rule(value) if rule else None
        if problem is None and isinstance(value, float) and not math.isfinite(value):
            problem = "is not a finite number"
        if problem:
            fail(config, key, value, problem, config.internal_config_dict.get(key))
    check_valid_metric(config, final)


def check_valid_metric(config, final):
    """``valid_metric`` must be one of the evaluated metrics at one of the evaluated cut-offs (RecBole looks it up
    in the validation result only after the first training epoch)."""
    from recbole.evaluator.register import metric_types

    metric = final.get("valid_metric")
    metrics = final.get("metrics") or []
    metrics = [m.lower() for m in (metrics if isinstance(metrics, list) else [metrics])]
    topk = final.get("topk")
    topk = topk if isinstance(topk, list) else [topk]
    name, _, k = str(metric).partition("@")
    ranking = name.lower() in metric_types and metric_types[name.lower()].name == "RANKING"
    if not isinstance(metric, str) or name.lower() not in metrics or (ranking and not k.isdigit()):
        problem = f"is not one of the evaluated metrics ({', '.join(metrics)})"
    elif ranking and int(k) not in topk:
        problem = f"has a cut-off that topk={topk} does not evaluate"
    else:
        return
    fail(config, "valid_metric", metric, problem, config.internal_config_dict.get("valid_metric"))


def unknown_key(config, key, own):
    """Refuse ``key``, not a setting of this model: a typo (the closest known keys suggested), or another model's
    setting given on the command line or in code. Another model's setting in a config file passes, ignored."""
    where = source(config, key, config.external_config_dict[key])
    if key in vocabulary() and key in config.cmd_config_dict | config.variable_config_dict:
        raise ConfigError(
            f"{where}: {key} is not a setting of {config.model}: drop it, or put it in a --config_files yaml "
            "shared by several models (keys of other models are ignored there)"
        )
    if key in vocabulary():
        return  # a shared config file (a protocol, a comparison's) may hold other models' keys
    close = difflib.get_close_matches(key, sorted(own | vocabulary()), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise ConfigError(
        f"{where}: unknown setting '{key}'; {hint}(a key only a custom model reads: list it in custom_keys)"
    )


def fail(config, key, value, problem, default=None):
    """Raise the one-line error for ``key``'s ``value``, with the default as the example of a good value."""
    if default is None:
        example = ""
    elif key in config.cmd_config_dict:
        example = f": use e.g. --{key}={default}"
    else:
        example = f": use e.g. {key}: {default!r}"
    raise ConfigError(f"{source(config, key, value)} {problem}{example}")


def source(config, key, value):
    """Where ``key`` was given: ``--key=value``, a config file, or the settings passed in."""
    if key in config.cmd_config_dict:
        return f"--{key}={config.raw_args.get(key, value)}"
    if key in config.variable_config_dict:
        return f"setting {key}={value!r}"
    return f"{key}: {value!r} in config file '{config.file_of.get(key, '?')}'"
