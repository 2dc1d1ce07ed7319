"""recommend, case-study and by-length: top-k lists from full-sort scores, and test-target ranks that
reproduce the run's test metrics."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, write_rule_dataset

from recbole_bsarec.analysis.__main__ import main
from recbole_bsarec.analysis.recommend import (
    bucket_metrics,
    hit_ndcg,
    item_tokens,
    pick_user,
    target_ranks,
    top_k,
    user_inputs,
)
from recbole_bsarec.pipeline import load_run
from recbole_bsarec.pipeline import run_recbole as train


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
    rows, seen = run.test_data._dataset.history.entries(torch.tensor(users))
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
    _, history = run.test_data._dataset.history.entries(torch.tensor([user]))  # longer than the input window
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


def one_line_error(capsys):
    """The stderr of a refused command, checked to be one line starting with 'error: '."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize(
    ("who", "k", "message"),
    [
        (["--history", " ".join(str(item) for item in range(1, 41))], [], "leaves 0 of the 40 items of rule to rank "),
        (["--history", "1 2 3"], ["--k", "38"], "leaves 37 of the 40 items of rule to rank for the --history, fewer"),
        (["--users", "1"], ["--k", "39"], "leaves 29 of the 40 items of rule to rank for user 1, fewer than --k 39"),
    ],
    ids=["history-covers-all-items", "history-leaves-fewer-than-k", "user-history-leaves-fewer-than-k"],
)
def test_mask_history_leaving_fewer_than_k_items_is_refused(trained, tmp_path, capsys, who, k, message):
    data_path, results = trained
    csv_path = tmp_path / "top.csv"
    argv = ["recommend", "--checkpoint", results["BSARec"]["checkpoint"], "--data_path", data_path, "--mask-history"]
    assert main([*argv, *who, *k, "--csv", str(csv_path)]) == 2
    err = one_line_error(capsys)
    assert "--mask-history " + message in err and err.rstrip().endswith("drop --mask-history")
    assert not csv_path.exists()


@pytest.mark.parametrize("kind", ["fewer items", "same counts, other items"])
def test_checkpoint_on_other_data_is_one_line(trained, tmp_path, capsys, kind):
    data_path, results = trained
    folder = tmp_path / "rule"
    folder.mkdir()
    original = (Path(data_path) / "rule" / "rule.inter").read_text().splitlines()
    if kind == "fewer items":
        rows = [f"{user}\t{(user + step) % 20 + 1}\t{step}" for user in range(1, 31) for step in range(12)]
    else:  # every item relabelled: the same users, items and shapes, so the weights load, but mean other items
        rows = [f"{u}\t{int(i) % 40 + 1}\t{t}" for u, i, t in (line.split("\t") for line in original[1:])]
    (folder / "rule.inter").write_text("\n".join([original[0], *rows]) + "\n")
    argv = ["recommend", "--checkpoint", results["BSARec"]["checkpoint"], "--data_path", str(tmp_path)]
    assert main([*argv, "--users", "1"]) == 2
    err = one_line_error(capsys)
    assert f"was trained on other data than {folder} (rule.inter differ)" in err
    assert err.rstrip().endswith("give the data_path of the data it was trained on")


def test_a_checkpoint_finds_its_data_moved_elsewhere(trained, tmp_path, capsys):
    data_path, results = trained
    shutil.copytree(Path(data_path) / "rule", tmp_path / "rule")
    argv = ["recommend", "--checkpoint", results["BSARec"]["checkpoint"], "--data_path", str(tmp_path)]
    assert main([*argv, "--users", "1"]) == 0
    assert "rank" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["recommend", "--users", "1", "--csv", "{folder}"], "--csv {folder} is a folder: give a file name, e.g. "),
        (["recommend", "--users", "1", "--csv", "{file}/top.csv"], "{file} is a file, so no folder can be made"),
        (["recommend", "--users", "1", "--csv", ""], "--csv is empty: give a file name"),
        (["case-study", "--checkpoint", "other.pth", "--out", "{file}"], "--out {file} is a file, not a folder"),
        (["by-length", "--out", "{file}/figures"], "{file} is a file, so no folder can be made there"),
        (["by-length", "--out", ""], "--out is empty: give a folder"),
        (["oversmoothing", "--out", "{file}"], "--out {file} is a file, not a folder"),
        (["sensitivity", "--trials", "{file}", "--out", "{file}"], "--out {file} is a file, not a folder"),
    ],
    ids=["csv-folder", "csv-under-file", "csv-empty", "case-study", "by-length", "out-empty", "figure", "sensitivity"],
)
def test_output_paths_are_refused_before_any_work(tmp_path, capsys, argv, message):
    (tmp_path / "a-file").write_text("keep me")
    paths = {"folder": str(tmp_path), "file": str(tmp_path / "a-file")}
    argv = [arg.format(**paths) for arg in argv]
    assert main([*argv, "--checkpoint", str(tmp_path / "missing.pth")]) == 2  # refused before loading it
    assert message.format(**paths) in one_line_error(capsys)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file"]
    assert (tmp_path / "a-file").read_text() == "keep me"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nosuch"], "invalid choice: 'nosuch' (choose from 'oversmoothing', "),
        (["recommend", "--users", "1"], "the following arguments are required: --checkpoint"),
        (["recommend", "--checkpoint", "x", "--users", "1", "--k", "abc"], "argument --k: invalid int value: 'abc'"),
        (["recommend", "--checkpoint", "x", "--users", "1", "--bogus"], "unrecognized arguments: --bogus"),
        (["by-length", "--checkpoint", "x", "--edges", "5"], "argument --edges: expected 2 arguments"),
    ],
    ids=["unknown-command", "missing-checkpoint", "k-not-a-number", "unknown-option", "one-edge"],
)
def test_argument_errors_are_one_line_pointing_to_help(capsys, argv, message):
    assert main(argv) == 2
    err = one_line_error(capsys)
    command = "" if argv[0] == "nosuch" else f" {argv[0]}"
    assert message in err and err.rstrip().endswith(f"see python -m recbole_bsarec.analysis{command} --help")


def hostile_checkpoint(kind, good, folder):
    """A checkpoint path of ``kind``, made from the ``good`` checkpoint under ``folder``."""
    path = folder / f"{kind}.pth"
    state = torch.load(good, weights_only=True)
    if kind == "folder":
        path.mkdir()
    elif kind == "no-model-name":
        torch.save({"config": {}, "state_dict": {}}, path)
    elif kind == "state-dict-not-a-mapping":
        torch.save({**state, "state_dict": 5}, path)
    elif kind == "missing-weights":
        torch.save({**state, "state_dict": dict(list(state["state_dict"].items())[1:])}, path)
    return str(path)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("folder", "is a folder: give a .pth file in it"),
        ("no-model-name", "was not written by recbole-bsarec"),
        ("state-dict-not-a-mapping", "was not written by recbole-bsarec"),
        ("missing-weights", "(40 items, 150 users there; the checkpoint lacks item_embedding.weight)"),
    ],
    ids=["folder", "no-model-name", "state-dict-not-a-mapping", "missing-weights"],
)
def test_hostile_checkpoint_is_one_line(trained, tmp_path, capsys, kind, message):
    data_path, results = trained
    path = hostile_checkpoint(kind, results["BSARec"]["checkpoint"], tmp_path)
    assert main(["recommend", "--checkpoint", path, "--data_path", data_path, "--users", "1"]) == 2
    err = one_line_error(capsys)
    assert f"checkpoint '{path}' " in err and message in err


def test_data_path_without_the_dataset_is_one_line(trained, tmp_path, capsys):
    _, results = trained
    argv = ["recommend", "--checkpoint", results["BSARec"]["checkpoint"], "--data_path", str(tmp_path)]
    assert main([*argv, "--users", "1"]) == 2
    assert f"data_path '{tmp_path}' has no folder rule/ for the dataset of checkpoint" in one_line_error(capsys)


def test_checkpoint_of_a_non_sequential_model_is_refused_before_it_is_rebuilt(trained, capsys):
    data_path, _ = trained
    pop = train("Pop", "rule", [TINY], {"data_path": data_path, "epochs": 1})["checkpoint"]
    assert main(["recommend", "--checkpoint", pop, "--data_path", data_path, "--users", "1"]) == 2
    assert f"'{pop}' is of Pop, a traditional model: give a sequential model's checkpoint" in one_line_error(capsys)


def test_case_study_of_two_runs_of_one_model_labels_them_by_path(trained, tmp_path, capsys):
    data_path, results = trained
    first = results["BSARec"]["checkpoint"]
    second = tmp_path / "again" / "best.pth"
    second.parent.mkdir()
    second.write_bytes(open(first, "rb").read())
    argv = ["case-study", "--checkpoint", first, "--checkpoint", str(second), "--data_path", data_path]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    rows = read_csv(tmp_path / "case_study.csv")
    labels = list(dict.fromkeys(row["model"] for row in rows if row["model"]))
    assert labels[1] == "BSARec (again/best.pth)" and labels[0].startswith("BSARec (") and len(labels) == 2
    assert [sum(row["kind"] == "top-k" and row["model"] == label for row in rows) for label in labels] == [10, 10]
    capsys.readouterr()
    assert main([*argv[:3], "--checkpoint", first, "--data_path", data_path, "--out", str(tmp_path / "x")]) == 2
    assert f"checkpoint '{first}' is given twice: give different checkpoints" in one_line_error(capsys)
