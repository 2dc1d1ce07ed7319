"""BSARec from a plain RecBole script (RecBole's data_preparation, a trainer's fit and evaluate) and the Python API
that mirrors RecBole's run_recbole / load_data_and_model: the same numbers as the command line's pipeline."""

import pytest
import recbole.data
from conftest import TINY
from recbole.data import data_preparation
from recbole.utils import init_seed

from recbole_bsarec.config import Config
from recbole_bsarec.data.protocol import create_dataset
from recbole_bsarec.errors import ConfigError
from recbole_bsarec.model import BSARec
from recbole_bsarec.pipeline import load_data_and_model, run_recbole
from recbole_bsarec.registry import get_trainer

PAPER = "properties/protocol/paper.yaml"


def recbole_script(config_files, settings, make_dataset):
    """What a user's RecBole script does, with this package's Config (its yaml defaults) and trainer lookup."""
    config = Config(model=BSARec, dataset="rule", config_file_list=config_files, config_dict=settings)
    init_seed(config["seed"], config["reproducibility"])
    dataset = make_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = BSARec(config, train_data.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    best_valid_score, best_valid_result = trainer.fit(train_data, valid_data, saved=False)
    return config, best_valid_result, trainer.evaluate(test_data, load_best_model=False)


@pytest.mark.parametrize(
    ("config_files", "make_dataset"),
    [([TINY], recbole.data.create_dataset), ([TINY, PAPER], create_dataset)],
    ids=["recbole-protocol-recbole-dataset", "paper-protocol"],
)
def test_a_plain_recbole_script_gives_the_pipelines_results(workdir, rule_data, config_files, make_dataset):
    settings = {"data_path": rule_data, "epochs": 2}
    config, valid, test = recbole_script(config_files, settings, make_dataset)
    assert (config["alpha"], config["c"]) == (0.9, 3)  # properties/model/BSARec.yaml: RecBole has neither key
    result = run_recbole("BSARec", "rule", config_files, {**settings}, saved=False)
    assert dict(test) == pytest.approx(result["test_result"], abs=1e-12)
    assert dict(valid) == pytest.approx(result["best_valid_result"], abs=1e-12)


def test_recboles_own_dataset_under_the_paper_protocol_is_refused(workdir, rule_data):
    with pytest.raises(ConfigError, match="train_window=last needs the training split"):
        recbole_script([TINY, PAPER], {"data_path": rule_data, "epochs": 1}, recbole.data.create_dataset)


def test_load_data_and_model_rebuilds_the_run_of_a_checkpoint(workdir, rule_data):
    result = run_recbole("BSARec", "rule", [TINY, PAPER], {"data_path": rule_data, "epochs": 2, "alpha": 0.3})
    config, model, dataset, train_data, valid_data, test_data = load_data_and_model(result["checkpoint"])
    assert (config["alpha"], config["train_window"], config["eval_history_mask"]) == (0.3, "last", "zero")
    assert dataset.user_num - 1 == 150 and not model.training  # the whole dataset (id 0 pads), the model in eval
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    assert trainer.evaluate(test_data, load_best_model=False) == pytest.approx(result["test_result"], abs=1e-12)
    assert trainer.evaluate(valid_data, load_best_model=False) == pytest.approx(result["best_valid_result"], abs=1e-12)


def test_trainers_are_looked_up_by_the_name_of_recboles():
    from recbole import trainer as recbole_trainer
    from recbole.utils import ModelType

    from recbole_bsarec import trainer

    assert get_trainer(ModelType.SEQUENTIAL, "BSARec") is trainer.Trainer
    assert get_trainer(ModelType.SEQUENTIAL, "SASRec") is trainer.Trainer
    assert issubclass(trainer.Trainer, recbole_trainer.Trainer)
    assert get_trainer(ModelType.TRADITIONAL, "Pop") is trainer.TraditionalTrainer
    assert issubclass(trainer.TraditionalTrainer, recbole_trainer.TraditionalTrainer)
    for model_type, name, base in [
        (ModelType.SEQUENTIAL, "S3Rec", "S3RecTrainer"),
        (ModelType.KNOWLEDGE, "CKE", "KGTrainer"),
    ]:
        with pytest.raises(ConfigError, match=f"model '{name}' trains with RecBole's {base}, which recbole-bsarec"):
            get_trainer(model_type, name)
