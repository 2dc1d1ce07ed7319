"""Checkpoints that ``torch.load(weights_only=True)`` accepts, written atomically; read back with one reader, and
checked against the settings, data and model they are used with."""

import enum
import os
import pickle
import zipfile
from pathlib import Path

import torch

from recbole_bsarec.atomic import replacing
from recbole_bsarec.data.source import fingerprint
from recbole_bsarec.errors import UsageError

PRIMITIVES = (str, int, float, bool, type(None))
# what every checkpoint's config names, as text: what was trained, on which dataset, and where that was
NAMED = ("model", "dataset", "data_path")
# settings of the machine, of a run's bookkeeping or of its output, not of what is trained or how it is scored: they
# may change when a run or a comparison is continued (``--reproducibility=False`` for Caser on a GPU, say), and a
# run adopted from elsewhere may differ in them
NOT_COMPARED = {
    *("data_path", "checkpoint_dir", "run_dir", "resume", "gpu_id", "use_gpu", "device", "seed", "state"),
    *("show_progress", "eval_batch_size", "eval_scores_per_batch", "log_wandb", "wandb_project", "local_rank"),
    *("worker", "nproc", "world_size", "offset", "ip", "port", "shuffle", "torch_compile", "benchmark_filename"),
    *("torch_compile_mode", "train_on_device"),
    "reproducibility",
}


def plain_values(mapping):
    """``mapping`` as plain values (str/number/bool/None, lists and dicts of them); enums by name."""

    def plain(value):
        if isinstance(value, enum.Enum):
            return value.name
        if isinstance(value, PRIMITIVES):
            return value
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        return str(value)

    return {str(key): plain(value) for key, value in mapping.items()}


def plain_config(config):
    """The final configuration as plain values."""
    return plain_values(config.final_config_dict)


def atomic_save(state, path):
    """Write ``state`` to a temporary file beside ``path``, then rename it over ``path``."""
    with replacing(path, "wb") as handle:
        torch.save(state, handle)


def read_checkpoint(path, device="cpu"):
    """The checkpoint at ``path`` as this package saved it; a folder, a missing, damaged or foreign file is a
    UsageError."""
    if os.path.isdir(path):
        raise UsageError(f"checkpoint '{path}' is a folder: give a .pth file in it (a run saves best.pth)")
    if not os.path.isfile(path):
        raise UsageError(f"checkpoint '{path}' does not exist; give the path of a .pth file a run saved")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        reason = " ".join(str(err).split())[:200]
        raise UsageError(f"checkpoint '{path}' is truncated or corrupt ({reason}); use another checkpoint") from err
    saved = state.get("config") if isinstance(state, dict) else None
    named = isinstance(saved, dict) and all(isinstance(saved.get(key), str) for key in NAMED)
    recorded = [state.get(key) for key in ("state_dict", "external_config", "data")]
    if not named or not all(isinstance(value, dict) for value in recorded):
        raise UsageError(f"checkpoint '{path}' was not written by recbole-bsarec; use a checkpoint a run saved")
    return state


def load_checkpoint(path, config, device="cpu"):
    """The checkpoint at ``path``, refused unless it is of ``config``'s model and dataset."""
    state = read_checkpoint(path, device)
    for key in ("model", "dataset"):
        if state["config"][key].lower() != str(config[key]).lower():
            raise UsageError(
                f"checkpoint '{path}' is for {key} {state['config'][key]}, not {config[key]}; "
                f"resume with --{key}={state['config'][key]} or use another checkpoint"
            )
    return state


def check_same_data(path, state, config):
    """A checkpoint is used only with the data it was trained on, wherever that data sits now: the sha256 of each
    atomic file it recorded must match the files at ``config``'s data_path (item ids, counts and order included)."""
    recorded, here = state["data"], fingerprint(config["data_path"], config["dataset"])
    if recorded != here:
        changed = sorted(name for name in {*recorded, *here} if recorded.get(name) != here.get(name))
        raise UsageError(
            f"checkpoint '{path}' was trained on other data than {config['data_path']} ({', '.join(changed)} "
            "differ): give the data_path of the data it was trained on"
        )


def check_resumable(path, state, config):
    """A checkpoint goes on only under the settings it was trained with (a larger ``epochs`` and the machine's or
    the bookkeeping's settings aside) and on its data: anything else is refused before anything is written."""
    saved, now = state["config"], plain_config(config)
    differ = [
        f"{key}={saved[key]!r} (here {now[key]!r})"
        for key in sorted(now)
        if key not in NOT_COMPARED and key != "epochs" and key in saved and saved[key] != now[key]
    ]
    if differ:
        raise UsageError(
            f"checkpoint '{path}' was trained with {', '.join(differ)[:300]}: resume with the options it was "
            "trained with"
        )
    check_same_data(path, state, config)


def run_data_path(path, saved, data_path=None):
    """The data_path that rebuilds checkpoint ``path``'s run: ``data_path`` if it holds the dataset's folder, else
    where the run found it (RecBole stores it with the dataset name appended; relative to the run's folder's
    parents, then to here); a UsageError when neither holds it."""
    if data_path is not None:
        if not (Path(data_path) / saved["dataset"]).is_dir():
            raise UsageError(
                f"data_path '{data_path}' has no folder {saved['dataset']}/ for the dataset of checkpoint '{path}': "
                "give the folder that holds it"
            )
        return data_path
    stored = Path(saved["data_path"])
    candidates = [stored.parent] if stored.is_absolute() else []
    homes = Path(path).resolve().parents[1:3]  # saved/X.pth, or runs/<run>/best.pth, from the run's cwd
    candidates += [home / stored.parent for home in homes] + [Path.cwd() / stored.parent, Path("dataset")]
    for candidate in candidates:
        if (candidate / saved["dataset"]).is_dir():
            return str(candidate)
    raise UsageError(f"dataset '{saved['dataset']}' of checkpoint '{path}' is not at {stored}: pass --data_path")


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
