"""Full-sort evaluation in user chunks bounded by eval_scores_per_batch: the same ranks and metrics."""

import numpy as np
import pytest
from conftest import N_ITEMS, TINY

from recbole_bsarec.analysis.recommend import target_ranks
from recbole_bsarec.errors import ConfigError
from recbole_bsarec.pipeline import build_config, load_run, run_recbole
from recbole_bsarec.registry import get_trainer


def evaluated(checkpoint, data_path, **overrides):
    trained = load_run(checkpoint, data_path, overrides=overrides)
    trainer = get_trainer(trained.config["MODEL_TYPE"], trained.config["model"])(trained.config, trained.model)
    metrics = trainer.evaluate(trained.test_data, load_best_model=False)
    return trained, metrics


@pytest.mark.parametrize("mask", ["none", "zero"])
def test_chunked_scoring_gives_the_same_ranks_and_metrics(rule_data, mask):
    checkpoint = run_recbole(
        "BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 1, "eval_history_mask": mask}
    )["checkpoint"]
    whole, whole_metrics = evaluated(checkpoint, rule_data)
    chunked, chunked_metrics = evaluated(checkpoint, rule_data, eval_scores_per_batch=3 * (N_ITEMS + 1))
    assert whole.config["eval_batch_size"] == 256 and chunked.config["eval_batch_size"] == 3
    assert max(len(batch[0]) for batch in chunked.test_data) == 3
    first, second = target_ranks(whole), target_ranks(chunked)
    assert np.array_equal(first["user"], second["user"]) and np.array_equal(first["rank"], second["rank"])
    assert chunked_metrics == whole_metrics


def test_an_impossible_score_budget_is_named(rule_data):
    with pytest.raises(ConfigError, match="eval_scores_per_batch=0 is not an integer >= 1"):
        build_config("BSARec", "rule", [TINY], {"data_path": rule_data, "eval_scores_per_batch": 0})
