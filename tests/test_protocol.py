"""The paper protocol's switches (train_window, eval_history_mask), per-dataset BSARec settings, the preset."""

import numpy as np
import pytest
import torch
from conftest import TINY, prepare, write_rule_dataset

from recbole_bsarec.errors import ConfigError
from recbole_bsarec.pipeline import build_config, run_recbole
from recbole_bsarec.registry import get_trainer

LENGTH, WINDOW = 20, 5


@pytest.fixture
def long_data(workdir):
    """Users of 20 items each, walking the item cycle: user u's items are known from its first one."""
    return write_rule_dataset(workdir / "dataset", n_users=30, length=LENGTH)


def samples_per_user(train):
    users = train._dataset.inter_feat["user_id"].numpy()
    return np.unique(np.bincount(users)[1:])


def test_train_window_all_trains_on_every_prefix(long_data):
    _, train, _, _ = prepare("BSARec", long_data, MAX_ITEM_LIST_LENGTH=WINDOW)
    assert samples_per_user(train).tolist() == [LENGTH - 3]


def test_train_window_last_keeps_the_last_window_and_cuts_inputs_at_its_start(long_data):
    _, train, valid, test = prepare("BSARec", long_data, MAX_ITEM_LIST_LENGTH=WINDOW, train_window="last")
    assert samples_per_user(train).tolist() == [WINDOW - 1]  # the window's first item has no input: left out
    feat = train._dataset.inter_feat
    sequences = test._dataset._sequences  # every user's whole sequence
    start = LENGTH - 2 - WINDOW
    for row in range(len(feat)):
        items = sequences[int(feat["user_id"][row])]
        length = int(feat["item_length"][row])
        target = int(feat["item_id"][row])
        position = start + length  # the target's index: inputs run from the window start up to it
        assert target == items[position]
        assert feat["item_id_list"][row, :length].tolist() == items[start:position].tolist()
        assert not feat["item_id_list"][row, length:].any()
    for data, offset in ((valid, 2), (test, 1)):  # evaluation inputs are RecBole's: the last N items
        feat = data._dataset.inter_feat
        for row in range(len(feat)):
            items = sequences[int(feat["user_id"][row])]
            assert int(feat["item_id"][row]) == items[-offset]
            assert feat["item_id_list"][row].tolist() == items[-offset - WINDOW : -offset].tolist()


@pytest.mark.parametrize(("mode", "value"), [("zero", 0.0), ("exclude", -np.inf)])
def test_history_items_are_masked_over_the_whole_history(long_data, mode, value):
    config, _, valid, test = prepare("BSARec", long_data, MAX_ITEM_LIST_LENGTH=WINDOW, eval_history_mask=mode)
    model = config.model_class(config, valid._dataset).eval()
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    for data, offset in ((valid, 2), (test, 1)):
        trainer.eval_history, trainer.tot_item_num = data._dataset.history, data._dataset.item_num  # as evaluate()
        with torch.no_grad():
            interaction, scores, _, _ = trainer._full_sort_batch_eval(next(iter(data)))
        for row, user in enumerate(interaction["user_id"].tolist()):
            history = set(test._dataset._sequences[user][:-offset].tolist())
            assert len(history) > WINDOW  # more than the input window: the whole history
            masked = set(torch.nonzero(scores[row] == value).flatten().tolist()) - {0}
            assert masked == history


def test_no_history_mask_leaves_scores_alone(long_data):
    config, _, valid, _ = prepare("BSARec", long_data)
    model = config.model_class(config, valid._dataset).eval()
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer.eval_history, trainer.tot_item_num = valid._dataset.history, valid._dataset.item_num
    with torch.no_grad():
        _, scores, _, _ = trainer._full_sort_batch_eval(next(iter(valid)))
    assert torch.isfinite(scores[:, 1:]).all() and (scores[:, 1:] != 0).all()


def test_dataset_yaml_sets_bsarec_table6_settings_for_bsarec_only(workdir):
    data_path = write_rule_dataset(workdir / "dataset", name="lastfm")
    bsarec = build_config("BSARec", "lastfm", None, {"data_path": data_path})
    assert (bsarec["alpha"], bsarec["c"], bsarec["n_heads"], bsarec["learning_rate"]) == (0.9, 3, 1, 0.001)
    assert build_config("SASRec", "lastfm", None, {"data_path": data_path})["n_heads"] == 2
    assert build_config("BSARec", "lastfm", None, {"data_path": data_path}, ["--n_heads=2"])["n_heads"] == 2
    assert build_config("BSARecAttnOnly", "lastfm", None, {"data_path": data_path})["alpha"] == 0.0
    beauty = build_config("BSARec", "beauty", None, {"data_path": data_path})
    assert (beauty["alpha"], beauty["c"], beauty["n_heads"], beauty["learning_rate"]) == (0.7, 5, 1, 0.0005)


def test_paper_preset_is_found_from_any_folder(workdir, rule_data):
    config = build_config("BSARec", "rule", ["properties/protocol/paper.yaml"], {"data_path": rule_data})
    assert (config["train_window"], config["eval_history_mask"]) == ("last", "zero")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train_window": "first"}, "train_window='first' is unknown"),
        ({"eval_history_mask": "yes"}, "eval_history_mask='yes' is unknown"),
    ],
)
def test_bad_protocol_values_are_refused(rule_data, overrides, message):
    with pytest.raises(ConfigError, match=message):
        build_config("BSARec", "rule", None, {"data_path": rule_data, **overrides})


def test_protocol_switches_refuse_non_sequential_models(rule_data):
    with pytest.raises(ConfigError, match="applies to sequential models only"):
        build_config("BPR", "rule", None, {"data_path": rule_data, "train_window": "last"})


@pytest.mark.parametrize("model", ["BSARec", "SASRec"])
def test_a_whole_run_under_the_paper_protocol(rule_data, model):
    result = run_recbole(model, "rule", [TINY, "properties/protocol/paper.yaml"], {"data_path": rule_data, "epochs": 3})
    assert 0 < result["test_result"]["hit@10"] <= 1
