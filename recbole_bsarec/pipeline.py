"""The one pipeline every command uses: config -> dataset -> model -> trainer -> result."""

import os
import sys
from logging import getLogger

from recbole.data import data_preparation
from recbole.utils import init_seed, set_color

from recbole_bsarec.checkpoint import plain_values
from recbole_bsarec.config import Config
from recbole_bsarec.data.protocol import check_protocol, create_dataset, mark_phases
from recbole_bsarec.data.source import check_data_path, ensure_dataset
from recbole_bsarec.model.builtin_checks import builtin_check
from recbole_bsarec.registry import get_trainer
from recbole_bsarec.rundir import check_run_dir, choose_run_dir, write_metrics
from recbole_bsarec.runlog import init_run_logger, log_file


def build_config(model=None, dataset=None, config_file_list=None, config_dict=None, cmd_args=()):
    """The layered Config, every setting and the run folder checked before any data is read or file written."""
    config = Config(model, dataset, config_file_list, config_dict, cmd_args)
    check_protocol(config)
    check_data_path(os.path.join(config["data_path"], f"{config['dataset']}.inter"))
    check_run_dir(config)
    check = getattr(config.model_class, "check_config", None) or builtin_check(config.model_class)
    if check is not None:
        check(config)
    return config


def setup(model=None, dataset=None, config_file_list=None, config_dict=None, cmd_args=()):
    """Config, data loaders and a trainer holding the model, ready to fit; the run's log starts here."""
    config = build_config(model, dataset, config_file_list, config_dict, cmd_args)
    ensure_dataset(config)
    config["run_dir"] = choose_run_dir(config)
    config["checkpoint_dir"] = config["run_dir"]
    init_seed(config["seed"], config["reproducibility"])
    init_run_logger(config, config["run_dir"])
    logger = getLogger()
    logger.info(sys.argv)
    logger.info(f"\nmodel = {config['model']}\ndataset = {config['dataset']}")
    logger.info(config)

    data = create_dataset(config)
    logger.info(data)
    train_data, valid_data, test_data = data_preparation(config, data)
    mark_phases(valid_data, test_data)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    net = config.model_class(config, train_data._dataset).to(config["device"])
    logger.info(net)

    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    if config["resume"]:
        trainer.resume_checkpoint(config["resume"])
    return config, trainer, (train_data, valid_data, test_data)


def run(model=None, dataset=None, config_file_list=None, config_dict=None, cmd_args=(), saved=True):
    """Train with early stopping on validation, evaluate the best model on test; return the results, which
    also go to the run folder's metrics.json."""
    config, trainer, (train_data, valid_data, test_data) = setup(
        model, dataset, config_file_list, config_dict, cmd_args
    )
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
        "epochs_run": trainer.last_epoch + 1,
        "stopped_early": trainer.cur_step > trainer.stopping_step,
        "settings": plain_values(config.given_settings()),
    }
    write_metrics(config["run_dir"], result)
    return result
