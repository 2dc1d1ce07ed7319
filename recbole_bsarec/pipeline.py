"""The one pipeline every command uses: config -> dataset -> model -> trainer -> result, and the same steps
rebuilding a trained run from its checkpoint. ``run_recbole`` and ``load_data_and_model`` mirror RecBole's."""

import os
import sys
from dataclasses import dataclass
from logging import getLogger

import torch
from recbole.data import data_preparation
from recbole.utils import ModelType, init_seed, set_color

from recbole_bsarec.checkpoint import check_fits, check_same_data, plain_values, read_checkpoint, run_data_path
from recbole_bsarec.config import Config
from recbole_bsarec.data.device import check_padding, on_device
from recbole_bsarec.data.protocol import check_protocol, create_dataset
from recbole_bsarec.data.source import check_data_path, ensure_dataset
from recbole_bsarec.errors import UsageError
from recbole_bsarec.model.builtin_checks import builtin_check
from recbole_bsarec.provenance import environment
from recbole_bsarec.registry import get_trainer
from recbole_bsarec.rundir import check_run_dir, choose_run_dir, write_metrics
from recbole_bsarec.runlog import init_run_logger, log_file

# settings of the machine or of the run that wrote a checkpoint, not of the trained model: not carried into a rebuild
NOT_REBUILT = {"data_path", "gpu_id", "use_gpu", "device", "checkpoint_dir", "run_dir", "resume", "state"}


def build_config(model=None, dataset=None, config_file_list=None, config_dict=None, cmd_args=()):
    """The layered Config, every setting, the trainer and the run folder checked before any data is read or file
    written."""
    config = Config(model, dataset, config_file_list, config_dict, cmd_args)
    check_protocol(config)
    check_padding(config)
    check_data_path(os.path.join(config["data_path"], f"{config['dataset']}.inter"))
    check_run_dir(config)
    get_trainer(config["MODEL_TYPE"], config["model"])
    check = getattr(config.model_class, "check_config", None) or builtin_check(config.model_class)
    if check is not None:
        check(config)
    return config


def prepare(config):
    """The dataset and RecBole's train, validation and test loaders for ``config``, seeded as RecBole's
    run_recbole seeds them; the evaluation splits carry their users' histories (``eval_history_mask``). With
    ``train_on_device``, the loaders gather their batches on the run's device."""
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    loaders = data_preparation(config, dataset)
    if config["MODEL_TYPE"] == ModelType.SEQUENTIAL:
        loaders = on_device(config, *loaders)
    return dataset, *loaders


def build_model(config, train_data):
    """``config``'s model for the training split of ``train_data``, initialised from the run's seed, on its device."""
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    return config.model_class(config, train_data._dataset).to(config["device"])


def setup(model=None, dataset=None, config_file_list=None, config_dict=None, cmd_args=()):
    """Config, data loaders and a trainer holding the model, ready to fit; the run's log starts here."""
    config = build_config(model, dataset, config_file_list, config_dict, cmd_args)
    ensure_dataset(config)
    config["run_dir"] = choose_run_dir(config)
    config["checkpoint_dir"] = config["run_dir"]
    init_run_logger(config, config["run_dir"])
    logger = getLogger()
    logger.info(sys.argv)
    logger.info(f"\nmodel = {config['model']}\ndataset = {config['dataset']}")
    logger.info(config)
    data, train_data, valid_data, test_data = prepare(config)
    logger.info(data)
    net = build_model(config, train_data)
    logger.info(net)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    if config["resume"]:
        trainer.resume_checkpoint(config["resume"])
    return config, trainer, (train_data, valid_data, test_data)


def run_recbole(model=None, dataset=None, config_file_list=None, config_dict=None, cmd_args=(), saved=True):
    """Train with early stopping on validation, evaluate the best model on test; return the results, which
    also go to the run folder's metrics.json."""
    config, trainer, (train_data, valid_data, test_data) = setup(
        model, dataset, config_file_list, config_dict, cmd_args
    )
    ran_on = environment(config["device"])  # before training: the commit that trains, whatever changes later
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, saved=saved, show_progress=config["show_progress"]
    )
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
    logger = getLogger()
    logger.info(set_color("best valid ", "yellow") + f": {best_valid_result}")
    logger.info(set_color("test result", "yellow") + f": {test_result}")
    result = {
        "model": config["model"],
        "dataset": config["dataset"],
        "seed": config["seed"],
        "best_valid_score": float(best_valid_score),
        "best_valid_result": {key: float(value) for key, value in (best_valid_result or {}).items()},
        "test_result": {key: float(value) for key, value in test_result.items()},
        "run_dir": os.path.abspath(config["run_dir"]),
        "log_file": log_file(),
        "checkpoint": os.path.abspath(trainer.saved_model_file) if saved else None,
        "device": str(config["device"]),
        "environment": ran_on,
        "epochs_run": trainer.last_epoch + 1,
        "stopped_early": trainer.cur_step > trainer.stopping_step,
        "settings": plain_values(config.given_settings()),
    }
    write_metrics(config["run_dir"], result)
    return result


@dataclass
class TrainedRun:
    """A checkpoint's model (in eval mode) with the configuration and data splits it was trained on."""

    config: object
    model: torch.nn.Module
    dataset: object
    train_data: object
    valid_data: object
    test_data: object
    checkpoint: dict


def load_run(path, data_path=None, overrides=None, use_gpu=False, model_type=None):
    """Rebuild the run that wrote checkpoint ``path`` from the settings it was given, refused unless its model is
    of ``model_type`` (a ModelType name, e.g. "SEQUENTIAL") when given. Its dataset is looked up at ``data_path``,
    else where the run found it (relative paths from the folder the run started in, then from here)."""
    state = read_checkpoint(path)
    saved = state["config"]
    kind = saved.get("MODEL_TYPE")
    if model_type is not None and kind != model_type:
        raise UsageError(
            f"checkpoint '{path}' is of {saved['model']}, a {str(kind).lower()} model: "
            f"give a {model_type.lower()} model's checkpoint"
        )
    settings = {key: value for key, value in state["external_config"].items() if key not in NOT_REBUILT}
    settings.update(overrides or {})
    settings["use_gpu"] = use_gpu
    settings["data_path"] = run_data_path(path, saved, data_path)
    config = build_config(saved["model"], saved["dataset"], None, settings)
    check_same_data(path, state, config)
    dataset, train_data, valid_data, test_data = prepare(config)
    model = build_model(config, train_data)
    check_fits(path, saved, model, state["state_dict"], train_data._dataset)
    model.load_state_dict(state["state_dict"])
    model.eval()
    return TrainedRun(config, model, dataset, train_data, valid_data, test_data, state)


def load_data_and_model(model_file, data_path=None, use_gpu=False):
    """RecBole's ``load_data_and_model`` for this package's checkpoints: (config, model, dataset, train_data,
    valid_data, test_data) of the run that saved ``model_file``, the model with its trained weights."""
    run = load_run(model_file, data_path=data_path, use_gpu=use_gpu)
    return run.config, run.model, run.dataset, run.train_data, run.valid_data, run.test_data
