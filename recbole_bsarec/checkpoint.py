"""Checkpoints that ``torch.load(weights_only=True)`` accepts, written atomically."""

import enum
import os
import pickle
import zipfile

import torch

from recbole_bsarec.atomic import replacing
from recbole_bsarec.data.source import fingerprint
from recbole_bsarec.errors import UsageError

PRIMITIVES = (str, int, float, bool, type(None))
# settings of the machine, of a run's bookkeeping or of its output, not of what is trained or how it is scored: they
# may change when a run or a comparison is continued (``--reproducibility=False`` for Caser on a GPU, say), and a
# run adopted from elsewhere may differ in them
NOT_COMPARED = {
    *("data_path", "checkpoint_dir", "run_dir", "resume", "gpu_id", "use_gpu", "device", "seed", "state"),
    *("show_progress", "eval_batch_size", "eval_scores_per_batch", "log_wandb", "wandb_project", "local_rank"),
    *("worker", "nproc", "world_size", "offset", "ip", "port", "shuffle", "torch_compile", "benchmark_filename"),
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


def load_checkpoint(path, config, device="cpu"):
    """A checkpoint this package wrote, for ``config``'s model and dataset; anything else is a UsageError."""
    if not os.path.isfile(path):
        raise UsageError(f"checkpoint '{path}' does not exist; give the path of a .pth file a run saved")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        reason = " ".join(str(err).split())[:200]
        raise UsageError(f"checkpoint '{path}' is truncated or corrupt ({reason}); use another checkpoint") from err
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict) or "state_dict" not in state:
        raise UsageError(f"checkpoint '{path}' was not written by recbole-bsarec; use a checkpoint a run saved")
    for key in ("model", "dataset"):
        if str(state["config"].get(key)).lower() != str(config[key]).lower():
            raise UsageError(
                f"checkpoint '{path}' is for {key} {state['config'].get(key)}, not {config[key]}; "
                f"resume with --{key}={state['config'].get(key)} or use another checkpoint"
            )
    return state


def check_same_data(path, state, config):
    """A checkpoint is used only with the data it was trained on, wherever that data sits now: the sha256 of each
    atomic file it recorded must match the files at ``config``'s data_path (item ids, counts and order included)."""
    recorded, here = state.get("data"), fingerprint(config["data_path"], config["dataset"])
    if recorded is not None and recorded != here:
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
