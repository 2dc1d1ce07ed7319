"""End to end through the same pipeline run.py uses: learning, every variant, checkpoints."""

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from conftest import N_ITEMS, TINY

from recbole_bsarec.checkpoint import atomic_save
from recbole_bsarec.pipeline import run_recbole, setup

METRIC_KEYS = {f"{m}@{k}" for m in ("hit", "ndcg", "mrr") for k in (5, 10, 20)}


def untrained_test_result(model, data_path, **settings):
    """Test metrics of ``model`` as the training run would start it (same settings and seed), not trained."""
    _, trainer, (_, _, test_data) = setup(model, "rule", [TINY], {"data_path": data_path, **settings})
    return {key: float(value) for key, value in trainer.evaluate(test_data, load_best_model=False).items()}


def test_bsarec_learns_a_next_item_rule_far_above_chance(rule_data):
    untrained = untrained_test_result("BSARec", rule_data)
    result = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 25, "stopping_step": 25})
    trained, chance = result["test_result"], 10 / N_ITEMS
    # The next item is a deterministic function of the last one, so a model that learned the rule ranks it
    # first nearly always; the same model untrained ranks it as a random ranking of 40 items does (0.25 at 10).
    assert untrained["hit@10"] < 2 * chance
    assert trained["hit@10"] >= 0.9 and trained["hit@10"] - untrained["hit@10"] >= 0.5
    assert trained["ndcg@10"] >= 0.6 and trained["ndcg@10"] - untrained["ndcg@10"] >= 0.4


VARIANTS = [
    ("BSARec", {}),
    ("BSARecAttnOnly", {}),
    ("BSARecFilterOnly", {}),
    ("BSARecScalarBeta", {}),
    ("BSARecIdentityFilter", {}),
    ("BSARec", {"loss_type": "BPR"}),
    ("BSARec", {"padding_side": "right"}),
    ("SASRec", {}),
    ("SASRec", {"loss_type": "BCE"}),
    ("GRU4Rec", {"embedding_size": 16, "hidden_size": 16}),
    ("BERT4Rec", {"train_batch_size": 256}),  # smaller batches can hold no masked item: RecBole's loss is 0/0
    ("Caser", {"embedding_size": 16}),
    ("FEARec", {"topk_factor": 1}),
    ("FMLPRec", {}),
    ("FMLPRec", {"padding_side": "right", "loss_type": "BPR"}),
    ("FMLPRec", {"loss_type": "BCE"}),
    ("Caser", {"embedding_size": 16, "loss_type": "BCE"}),
    ("DuoRec", {}),
    ("DuoRec", {"contrast": "us", "sim": "cos"}),  # its delays, int(topk_factor * ln N), must fit the tiny N = 10
]


@pytest.mark.parametrize(("model", "overrides"), VARIANTS, ids=lambda v: str(v))
def test_every_variant_trains_evaluates_and_checkpoints(rule_data, model, overrides):
    result = run_recbole(model, "rule", [TINY], {"data_path": rule_data, **overrides})
    assert result["model"] == model
    assert METRIC_KEYS <= set(result["test_result"]) and METRIC_KEYS <= set(result["best_valid_result"])
    assert all(0 <= v <= 1 for v in result["test_result"].values())
    assert os.path.isfile(result["log_file"])
    checkpoint = torch.load(result["checkpoint"], weights_only=True)
    assert checkpoint["config"]["model"] == model
    assert checkpoint["config"]["dataset"] == "rule"
    assert all(torch.is_tensor(t) for t in checkpoint["state_dict"].values())


def test_a_run_keeps_everything_in_its_own_folder(rule_data, workdir):
    result = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 1})
    folder = Path(result["run_dir"])
    assert folder.parent == workdir / "runs" and folder.name.startswith("BSARec-rule-")
    assert {"run.log", "best.pth", "last.pth", "metrics.json", "tensorboard"} <= {p.name for p in folder.iterdir()}
    assert sorted(p.name for p in workdir.iterdir()) == ["dataset", "runs"]  # no log/, saved/, log_tensorboard/
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test_result"] == result["test_result"] and metrics["seed"] == 42
    assert metrics["settings"]["epochs"] == 1
    again = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 1})
    assert again["run_dir"] != result["run_dir"]  # started in the same second: a new folder all the same


def test_checkpoint_write_is_atomic(tmp_path):
    path = tmp_path / "model.pth"
    atomic_save({"weights": torch.ones(3)}, path)
    with pytest.raises((AttributeError, pickle.PicklingError)):
        atomic_save({"weights": lambda: None}, path)
    assert torch.equal(torch.load(path, weights_only=True)["weights"], torch.ones(3))
    assert os.listdir(tmp_path) == ["model.pth"]


# Validation NDCG@20 per epoch, unrounded. Patience 3. Reference rule: epoch 4 is the last strict improvement
# (0.120004 > 0.12; epoch 2's equal 0.12 is not one), epochs 5-7 are three without one: stop after epoch 7, test
# epoch 4. RecBole's rule on the rounded scores: 0.12 at epochs 2, 4 and 5 each counts as an improvement, so the
# best is epoch 5, and it stops after the fourth epoch without one (epochs 6-9): ten epochs, test epoch 5.
SCORES = [0.10, 0.12, 0.12, 0.11, 0.120004, 0.12, 0.11, 0.09, 0.08, 0.07, 0.06, 0.05]


@pytest.mark.parametrize(("rule", "epochs_run", "best_epoch"), [("reference", 8, 4), ("recbole", 10, 5)])
def test_stopping_rule_on_known_scores(rule_data, monkeypatch, rule, epochs_run, best_epoch):
    from recbole import trainer as recbole_trainer

    settings = {"data_path": rule_data, "epochs": len(SCORES), "stopping_step": 3, "stopping_rule": rule}
    config, trainer, (train_data, valid_data, _) = setup("SASRec", "rule", [TINY], settings)

    def valid_epoch(self, valid_data, show_progress=False):  # RecBole's: rounded metrics, the evaluator's exact ones
        epoch = self.last_epoch + 1
        self.evaluator.exact = {"ndcg@20": SCORES[epoch]}
        return round(SCORES[epoch], 4), {"ndcg@20": round(SCORES[epoch], 4), "epoch": epoch}

    monkeypatch.setattr(recbole_trainer.Trainer, "_valid_epoch", valid_epoch)
    monkeypatch.setattr(trainer, "_train_epoch", lambda *args, **kwargs: 0.0)
    best_score, best_result = trainer.fit(train_data, valid_data, verbose=False)
    assert trainer.last_epoch + 1 == epochs_run
    assert best_result["epoch"] == best_epoch
    assert best_score == pytest.approx(SCORES[best_epoch], abs=1e-4)
    assert torch.load(trainer.saved_model_file, weights_only=True)["epoch"] == best_epoch


def test_reference_stopping_compares_the_unrounded_metric(rule_data):
    from recbole_bsarec.trainer import ExactEvaluator

    settings = {"data_path": rule_data, "stopping_rule": "reference", "metric_decimal_place": 2}
    config, trainer, (train_data, valid_data, _) = setup("SASRec", "rule", [TINY], settings)
    assert isinstance(trainer.evaluator, ExactEvaluator) and trainer.stopping_step == 2
    result = trainer.evaluate(valid_data, load_best_model=False)
    exact = trainer.evaluator.exact
    assert set(exact) >= {"ndcg@20", "hit@5", "mrr@10"}
    assert all(round(exact[key], 2) == result[key] for key in result)
    assert any(round(exact[key], 2) != exact[key] for key in result)  # the rounding hides digits that it keeps
