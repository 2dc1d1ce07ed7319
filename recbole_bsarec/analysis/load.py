"""A trained run rebuilt from its checkpoint: the configuration it trained with, its data splits, its model."""

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from recbole.data import data_preparation
from recbole.utils import init_seed

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


def load_run(path, data_path=None, overrides=None, use_gpu=False):
    """Rebuild the run that wrote checkpoint ``path``. Its dataset is looked up at ``data_path``, else where
    the run found it (relative paths from the folder the run started in, then from here)."""
    if not os.path.isfile(path):
        raise UsageError(f"checkpoint '{path}' does not exist; give the path of a .pth file a run saved")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # torch raises several types for a damaged file
        raise UsageError(f"checkpoint '{path}' is truncated or corrupt ({type(err).__name__}); use another") from err
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict) or "state_dict" not in state:
        raise UsageError(f"checkpoint '{path}' was not written by recbole-bsarec; use a checkpoint a run saved")
    saved = state["config"]
    given = state.get("external_config") or {key: saved[key] for key in REBUILD if key in saved}
    settings = {key: value for key, value in given.items() if key not in NOT_REBUILT}
    settings.update(overrides or {})
    settings["use_gpu"] = use_gpu
    settings["data_path"] = data_path or find_data_path(path, saved)
    config = build_config(saved["model"], saved["dataset"], None, settings)
    init_seed(config["seed"], config["reproducibility"])
    train_data, valid_data, test_data = data_preparation(config, create_dataset(config))
    mark_phases(valid_data, test_data)
    model = config.model_class(config, train_data._dataset)
    model.load_state_dict(state["state_dict"])
    model.to(config["device"]).eval()
    return TrainedRun(config, model, train_data, valid_data, test_data, state)


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
