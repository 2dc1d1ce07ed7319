"""recommend, case-study and by-length: top-k lists from full-sort scores, and test-target ranks that
reproduce the run's test metrics."""

import csv

import numpy as np
import pytest
import torch
from conftest import TINY, write_rule_dataset

from recbole_bsarec.analysis.__main__ import main
from recbole_bsarec.analysis.load import load_run
from recbole_bsarec.analysis.recommend import (
    bucket_metrics,
    hit_ndcg,
    item_tokens,
    pick_user,
    target_ranks,
    top_k,
    user_inputs,
)
from recbole_bsarec.data.protocol import history_entries
from recbole_bsarec.pipeline import run as train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny BSARec evaluated with the reference code's history masking, a tiny SASRec without, on 'rule'."""
    root = tmp_path_factory.mktemp("recommend")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        data_path = write_rule_dataset(root / "dataset")
        settings = {"data_path": data_path, "epochs": 1}
        results = {
            "BSARec": train("BSARec", "rule", [TINY], {**settings, "eval_history_mask": "zero"}),
            "SASRec": train("SASRec", "rule", [TINY], settings),
        }
        yield data_path, results


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_masked_top_k_holds_no_history_item(trained):
    data_path, results = trained
    run = load_run(results["BSARec"]["checkpoint"], data_path)
    users = run.test_data._dataset.inter_feat[run.dataset.uid_field].tolist()
    items, _ = top_k(run, users, 10, mask_history=True)
    rows, seen = history_entries(run.test_data, torch.tensor(users))
    for row in range(len(users)):
        assert not set(items[row].tolist()) & set(seen[rows == row].tolist())


def test_top_k_is_the_argsort_of_full_sort_predict(trained):
    data_path, results = trained
    run = load_run(results["SASRec"]["checkpoint"], data_path)
    users = run.test_data._dataset.inter_feat[run.dataset.uid_field].tolist()[:20]
    items, scores = top_k(run, users, 10, mask_history=False)
    with torch.no_grad():
        expected = run.model.full_sort_predict(user_inputs(run, users))[:, 1:]  # item 0 pads
    order = torch.argsort(expected, dim=1, descending=True)[:, :10] + 1
    assert [set(row) for row in items.tolist()] == [set(row) for row in order.tolist()]
    assert torch.allclose(scores, expected.gather(1, items - 1))


@pytest.mark.parametrize("mask", [[], ["--mask-history"]], ids=["unmasked", "masked"])
def test_typed_history_gives_the_users_top_k(trained, tmp_path, mask):
    data_path, results = trained
    checkpoint = results["BSARec"]["checkpoint"]
    run = load_run(checkpoint, data_path)
    user = run.test_data._dataset.inter_feat[run.dataset.uid_field][3].item()
    _, history = history_entries(run.test_data, torch.tensor([user]))  # longer than the input window
    base = ["recommend", "--checkpoint", checkpoint, "--data_path", data_path, *mask]
    token = str(run.dataset.id2token(run.dataset.uid_field, user))
    assert main([*base, "--users", token, "--csv", str(tmp_path / "user.csv")]) == 0
    typed = " ".join(item_tokens(run, history.tolist()))
    assert main([*base, "--history", typed, "--csv", str(tmp_path / "typed.csv")]) == 0

    by_user, by_history = read_csv(tmp_path / "user.csv"), read_csv(tmp_path / "typed.csv")
    assert len(by_user) == 10
    assert [(r["rank"], r["item"], r["score"]) for r in by_user] == [
        (r["rank"], r["item"], r["score"]) for r in by_history
    ]


@pytest.mark.parametrize(("option", "value"), [("--users", "nosuchuser"), ("--history", "3 nosuchitem 5")])
def test_unknown_token_is_one_line_and_exit_2(trained, capsys, option, value):
    data_path, results = trained
    argv = ["recommend", "--checkpoint", results["BSARec"]["checkpoint"], "--data_path", data_path]
    assert main([*argv, option, value]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "nosuch" in err


@pytest.mark.parametrize("model", ["BSARec", "SASRec"])
def test_target_ranks_reproduce_the_test_metrics(trained, model):
    data_path, results = trained
    run = load_run(results[model]["checkpoint"], data_path)
    ranks = target_ranks(run)
    hit, ndcg = hit_ndcg(ranks["rank"])
    assert hit == pytest.approx(results[model]["test_result"]["hit@10"], abs=1e-4)
    assert ndcg == pytest.approx(results[model]["test_result"]["ndcg@10"], abs=1e-4)
    buckets = bucket_metrics(ranks["rank"], ranks["length"], (5, 20))
    assert sum(bucket["users"] for bucket in buckets) == len(ranks["rank"]) == run.dataset.user_num - 1


def test_bucket_metrics_by_hand():
    ranks, lengths = np.array([1, 11, 3, 40, 2, 9]), np.array([3, 5, 6, 20, 21, 90])
    rows = bucket_metrics(ranks, lengths, (5, 20))
    assert [(r["bucket"], r["history_length"], r["users"]) for r in rows] == [
        ("short", "<=5", 2),
        ("medium", "6-20", 2),
        ("long", ">20", 2),
    ]
    assert [r["hit@10"] for r in rows] == [0.5, 0.5, 1.0]
    assert rows[2]["ndcg@10"] == pytest.approx((1 / np.log2(3) + 1 / np.log2(10)) / 2)
    assert np.isnan(bucket_metrics(ranks, lengths, (100, 200))[1]["hit@10"])


def test_case_study_reports_the_ranks_target_ranks_computes(trained, tmp_path, capsys):
    data_path, results = trained
    paths = [results["BSARec"]["checkpoint"], results["SASRec"]["checkpoint"]]
    argv = ["case-study", "--checkpoint", paths[0], "--checkpoint", paths[1], "--out", str(tmp_path)]
    assert main([*argv, "--data_path", data_path]) == 0
    assert capsys.readouterr().out.startswith("## Case study: rule user ")
    assert (tmp_path / "case_study.md").read_text().count("| target rank |") == 1

    rows = read_csv(tmp_path / "case_study.csv")
    runs = [load_run(path, data_path) for path in paths]
    ranks = [target_ranks(run) for run in runs]
    index = pick_user(ranks[0]["rank"], ranks[1]["rank"])
    user = str(runs[0].dataset.id2token(runs[0].dataset.uid_field, ranks[0]["user"][index]))
    targets = [row for row in rows if row["kind"] == "target"]
    assert [(r["user"], r["model"], int(r["rank"])) for r in targets] == [
        (user, "BSARec", ranks[0]["rank"][index]),
        (user, "SASRec", ranks[1]["rank"][index]),
    ]
    assert [sum(r["kind"] == "top-k" and r["model"] == m for r in rows) for m in ("BSARec", "SASRec")] == [10, 10]


def test_by_length_writes_figure_and_counts(trained, tmp_path):
    data_path, results = trained
    paths = [results["BSARec"]["checkpoint"], results["SASRec"]["checkpoint"]]
    argv = ["by-length", "--checkpoint", paths[0], "--checkpoint", paths[1], "--edges", "5", "10"]
    assert main([*argv, "--out", str(tmp_path), "--data_path", data_path]) == 0
    rows = read_csv(tmp_path / "by_length.csv")
    assert (tmp_path / "by_length.png").stat().st_size > 0
    assert [r["model"] for r in rows] == ["BSARec"] * 3 + ["SASRec"] * 3
    assert sum(int(r["users"]) for r in rows if r["model"] == "BSARec") == 150
