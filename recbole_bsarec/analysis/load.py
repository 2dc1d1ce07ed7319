"""A trained run rebuilt from its checkpoint: the configuration it trained with, its data splits, its model."""

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from recbole.data import data_preparation
from recbole.utils import init_seed

from recbole_bsarec.checkpoint import check_same_data
from recbole_bsarec.data.protocol import create_dataset, mark_phases
from recbole_bsarec.errors import UsageError
from recbole_bsarec.pipeline import build_config

# what rebuilds a run whose checkpoint predates ``external_config`` (the settings the user gave)
REBUILD = [
    "seed",
    "MAX_ITEM_LIST_LENGTH",
    "train_window",
    "eval_history_mask",
    "eval_batch_size",
    "n_layers",
    "n_heads",
    "hidden_size",
    "inner_size",
    "hidden_dropout_prob",
    "attn_dropout_prob",
    "hidden_act",
    "layer_norm_eps",
    "initializer_range",
    "loss_type",
    "alpha",
    "c",
    "scalar_beta",
    "padding_side",
]
# what every checkpoint's config names, as text: what is rebuilt, and where its dataset was
NAMED = ("model", "dataset", "data_path")
# settings that belong to the machine or the run, not to the trained model
NOT_REBUILT = {
    *("data_path", "gpu_id", "use_gpu", "device", "checkpoint_dir", "run_dir", "resume", "model", "dataset", "state")
}


@dataclass
class TrainedRun:
    """A checkpoint's model (in eval mode) with the configuration and data splits it was trained on."""

    config: object
    model: torch.nn.Module
    train_data: object
    valid_data: object
    test_data: object
    checkpoint: dict

    @property
    def dataset(self):
        return self.train_data._dataset


def load_run(path, data_path=None, overrides=None, use_gpu=False, model_type=None):
    """Rebuild the run that wrote checkpoint ``path``, refused unless its model is of ``model_type`` (a ModelType
    name, e.g. "SEQUENTIAL") when given. Its dataset is looked up at ``data_path``, else where the run found it
    (relative paths from the folder the run started in, then from here)."""
    state = read_checkpoint(path)
    saved = state["config"]
    check_model_type(path, saved, model_type)
    given = state.get("external_config") or {key: saved[key] for key in REBUILD if key in saved}
    settings = {key: value for key, value in given.items() if key not in NOT_REBUILT}
    settings.update(overrides or {})
    settings["use_gpu"] = use_gpu
    settings["data_path"] = checked_data_path(path, saved, data_path) if data_path else find_data_path(path, saved)
    config = build_config(saved["model"], saved["dataset"], None, settings)
    check_same_data(path, state, config)
    init_seed(config["seed"], config["reproducibility"])
    train_data, valid_data, test_data = data_preparation(config, create_dataset(config))
    mark_phases(valid_data, test_data)
    model = config.model_class(config, train_data._dataset)
    check_fits(path, saved, model, state["state_dict"], train_data._dataset)
    model.load_state_dict(state["state_dict"])
    model.to(config["device"]).eval()
    return TrainedRun(config, model, train_data, valid_data, test_data, state)


def read_checkpoint(path):
    """The checkpoint at ``path`` as saved; a folder, a missing, damaged or foreign file is a UsageError."""
    if os.path.isdir(path):
        raise UsageError(f"checkpoint '{path}' is a folder: give a .pth file in it (a run saves best.pth)")
    if not os.path.isfile(path):
        raise UsageError(f"checkpoint '{path}' does not exist; give the path of a .pth file a run saved")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # torch raises several types for a damaged file
        raise UsageError(f"checkpoint '{path}' is truncated or corrupt ({type(err).__name__}); use another") from err
    saved = state.get("config") if isinstance(state, dict) else None
    named = isinstance(saved, dict) and all(isinstance(saved.get(key), str) for key in NAMED)
    if not named or not isinstance(state.get("state_dict"), dict):
        raise UsageError(f"checkpoint '{path}' was not written by recbole-bsarec; use a checkpoint a run saved")
    return state


def check_model_type(path, saved, model_type):
    """A UsageError if the checkpoint's model is not of ``model_type``: said before its run is rebuilt."""
    kind = saved.get("MODEL_TYPE")
    if model_type is not None and kind != model_type:
        raise UsageError(
            f"checkpoint '{path}' is of {saved['model']}, a {str(kind).lower()} model: "
            f"give a {model_type.lower()} model's checkpoint"
        )


def checked_data_path(path, saved, data_path):
    """``data_path`` if it holds the folder of the checkpoint's dataset, else a UsageError saying so."""
    if not (Path(data_path) / saved["dataset"]).is_dir():
        raise UsageError(
            f"data_path '{data_path}' has no folder {saved['dataset']}/ for the dataset of checkpoint '{path}': "
            "give the folder that holds it"
        )
    return data_path


def check_fits(path, saved, model, state_dict, dataset):
    """A UsageError if ``state_dict`` does not fit ``model`` as rebuilt on ``dataset``: the data is not what the
    checkpoint was trained on (another item or user count), so its weights have other shapes."""
    problem = state_dict_mismatch(model, state_dict)
    if problem:
        raise UsageError(
            f"checkpoint '{path}' does not fit dataset {saved['dataset']} at {dataset.config['data_path']} "
            f"({dataset.item_num - 1} items, {dataset.user_num - 1} users there; {problem}): "
            f"pass the data_path it was trained with ({Path(saved['data_path']).parent})"
        )


def state_dict_mismatch(model, state_dict):
    """The first reason ``state_dict`` cannot load into ``model`` (a missing, extra or other-shaped entry), or None."""
    expected = model.state_dict()
    for key, tensor in expected.items():
        shape = getattr(state_dict.get(key), "shape", None)
        if shape is None:
            return f"the checkpoint lacks {key}"
        if tuple(shape) != tuple(tensor.shape):
            return f"{key} is {shape_text(shape)} in the checkpoint, {shape_text(tensor.shape)} here"
    extra = [key for key in state_dict if key not in expected]
    return f"the checkpoint has {extra[0]}, which this model lacks" if extra else None


def shape_text(shape):
    """A tensor shape as 41x16 (a 0-d tensor as "a scalar")."""
    return "x".join(map(str, shape)) or "a scalar"


def find_data_path(checkpoint_path, saved):
    """The data_path of the run (RecBole stores it with the dataset name appended)."""
    stored = Path(saved["data_path"])
    candidates = [stored.parent] if stored.is_absolute() else []
    homes = Path(checkpoint_path).resolve().parents[1:3]  # saved/X.pth, or runs/<run>/best.pth, from the run's cwd
    candidates += [home / stored.parent for home in homes] + [Path.cwd() / stored.parent, Path("dataset")]
    for candidate in candidates:
        if (candidate / saved["dataset"]).is_dir():
            return str(candidate)
    raise UsageError(
        f"dataset '{saved['dataset']}' of checkpoint '{checkpoint_path}' is not at {stored}: pass --data_path"
    )


def check_distinct(paths):
    """A UsageError if one checkpoint is given twice: its model would only be compared with itself."""
    seen = {}
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            also = "" if seen[real] == path else f" (also as '{seen[real]}')"
            raise UsageError(f"checkpoint '{path}' is given twice{also}: give different checkpoints")
        seen[real] = path


def checkpoint_labels(paths, names):
    """Each checkpoint's model name, followed where names repeat by the shortest tail of its path that tells the
    checkpoints apart (runs/A/best.pth and runs/B/best.pth: 'BSARec (A/best.pth)', 'BSARec (B/best.pth)')."""
    parts = [Path(path).parts for path in paths]
    depth = next(d for d in range(1, max(map(len, parts)) + 1) if len({p[-d:] for p in parts}) == len(parts))
    return [
        name if names.count(name) == 1 else f"{name} ({Path(*part[-depth:])})"
        for name, part in zip(names, parts, strict=True)
    ]
