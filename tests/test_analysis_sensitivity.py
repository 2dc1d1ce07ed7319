"""Sensitivity to alpha and c, and the ablation table, on tiny data."""

import csv

import pytest
from conftest import TINY

from recbole_bsarec.analysis.__main__ import main
from recbole_bsarec.analysis.sensitivity import mean_by_value, rows_from_trials


def read(path):
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_trials_table_gives_the_mean_per_value(tmp_path):
    trials = tmp_path / "trials.csv"
    trials.write_text(
        "trial,alpha,c,status,best_valid,test_hit@10,test_ndcg@10,test_hit@20,test_ndcg@20\n"
        "a,0.1,3,max epochs,0.2,0.1,0.05,0.2,0.10\n"
        "b,0.1,5,stopped by scheduler,0.1,0.3,0.15,0.4,0.20\n"
        "c,0.9,3,early stopping,0.3,0.5,0.25,0.6,0.30\n"
        "d,0.9,3,error: boom,,,,,\n"
    )
    table = mean_by_value(rows_from_trials(trials))
    assert [(value, n) for value, n, _ in table["alpha"]] == [(0.1, 2), (0.9, 1)]
    assert table["alpha"][0][2]["hit@20"] == pytest.approx(0.3)
    assert [(value, n) for value, n, _ in table["c"]] == [(3, 2), (5, 1)]
    assert table["c"][0][2]["ndcg@20"] == pytest.approx(0.2)

    out = tmp_path / "figs"
    assert main(["sensitivity", f"--trials={trials}", f"--out={out}"]) == 0
    assert (out / "sensitivity.png").stat().st_size > 0
    assert len(read(out / "sensitivity.csv")) == 6  # 3 usable trials x (alpha, c)


def test_sweep_trains_one_value_at_a_time(rule_data, tmp_path, capsys):
    out = tmp_path / "figs"
    argv = ["--dataset=rule", f"--config_files={TINY}", f"--data_path={rule_data}", "--epochs=1", "--model=BSARec"]
    assert main(["sensitivity", "--sweep", "alpha=0.3,0.9", "--sweep", "c=1,3", f"--out={out}", *argv]) == 0
    rows = read(out / "sensitivity.csv")
    assert [(r["key"], r["value"]) for r in rows] == [("alpha", "0.3"), ("alpha", "0.9"), ("c", "1"), ("c", "3")]
    assert all(0 <= float(r["test_ndcg@20"]) <= 1 for r in rows)
    assert (out / "sensitivity.png").is_file()


def test_sweep_key_fixed_on_the_command_line_is_refused(rule_data, tmp_path, capsys):
    argv = ["--dataset=rule", f"--config_files={TINY}", f"--data_path={rule_data}", "--alpha=0.5"]
    assert main(["sensitivity", "--sweep", "alpha=0.3,0.9", f"--out={tmp_path}", *argv]) == 2
    assert "--alpha is both varied by this command and fixed" in capsys.readouterr().err


def test_ablation_runs_the_five_variants_on_the_same_seeds(rule_data, tmp_path):
    out = tmp_path / "figs"
    argv = ["--dataset=rule", f"--config_files={TINY}", f"--data_path={rule_data}", "--epochs=1"]
    assert main(["ablation", "--seeds=1,2", f"--out={out}", *argv]) == 0
    rows = read(out / "ablation.csv")
    assert [(r["model"], r["seed"]) for r in rows] == [
        (model, seed)
        for model in ("BSARec", "BSARecAttnOnly", "BSARecFilterOnly", "BSARecScalarBeta", "BSARecIdentityFilter")
        for seed in ("1", "2")
    ]
    table = (out / "ablation.md").read_text()
    assert sum(line.count(" ± ") for line in table.splitlines() if line.startswith("| ")) == 5 * 4
    assert "| attention only (alpha = 0) |" in table and "| identity filter (beta fixed at 1) |" in table


HEADER = "trial,alpha,c,status,test_hit@10,test_ndcg@10,test_hit@20,test_ndcg@20\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEADER + "a,0.1,3,done,x,0.1,0.2,0.1\n", "trial a has test_hit@10='x', not a number"),
        (HEADER + "a,0.1,3,done,0.1,0.1,0.2,0.1\nb,,5,done,0.1,0.1,0.2,0.1\n", "trial b has alpha='', not a number"),
        (HEADER + "a,0.1,3,stopped by scheduler,,,,\n", "has no trial with all of test_hit@10, test_ndcg@10"),
        (HEADER, "holds no trial that ran without an error"),
        ("alpha,c\n0.1,3\n", "has no trial column"),
        (b"\xff\xfe\x00 not text", "is not a search's trials.csv ('utf-8' codec can't decode byte 0xff"),
    ],
    ids=["text-metric", "empty-value", "no-metrics", "no-trials", "no-trial-column", "not-utf8"],
)
def test_unusable_trials_table_is_one_line_and_writes_nothing(tmp_path, capsys, text, message):
    trials = tmp_path / "trials.csv"
    trials.write_bytes(text if isinstance(text, bytes) else text.encode())
    out = tmp_path / "figs"
    assert main(["sensitivity", f"--trials={trials}", f"--out={out}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: --trials {trials}") and message in err
    assert not out.exists()
