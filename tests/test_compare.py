"""The compare command: models x seeds in run folders, resumable, summarised as Table 2 with a paired test."""

import csv
import gzip
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY

from recbole_bsarec.cli import main
from recbole_bsarec.compare.table import baseline_tests, holm, mean_interval, paired_test, per_user_ndcg


def compare_args(data_path, *extra, models="BSARec,SASRec", seeds="42,7"):
    return [
        "--compare",
        f"--models={models}",
        "--datasets=rule",
        f"--seeds={seeds}",
        f"--config_files={TINY}",
        f"--data_path={data_path}",
        "--epochs=2",
        *extra,
    ]


def read_csv(path):
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_ranks(folder, values):
    """A record folder holding only ranks.csv.gz, one user per value."""
    folder.mkdir(parents=True)
    text = "user,length,rank\n" + "".join(f"u{i},5,{r}\n" for i, r in enumerate(values))
    (folder / "ranks.csv.gz").write_bytes(gzip.compress(text.encode()))
    return folder


def test_compare_runs_every_model_and_seed_and_writes_the_table(rule_data, workdir, capsys):
    assert main(compare_args(rule_data)) == 0
    out = capsys.readouterr().out
    folder, records = workdir / "compare" / "rule", workdir / "results" / "rule"
    runs = sorted(p.name for p in (folder / "runs").iterdir())
    assert runs == ["BSARec-rule-seed42", "BSARec-rule-seed7", "SASRec-rule-seed42", "SASRec-rule-seed7"]
    rows = read_csv(records / "table.csv")
    for row in rows:
        run_dirs = [folder / "runs" / f"{row['model']}-rule-seed{seed}" for seed in (42, 7)]
        seeds = [json.loads((run_dir / "metrics.json").read_text()) for run_dir in run_dirs]
        values = [m["test_result"][row["metric"]] for m in seeds]
        assert float(row["mean"]) == pytest.approx(np.mean(values))
        assert float(row["std"]) == pytest.approx(np.std(values, ddof=1))
        assert row["seeds_done"] == row["seeds"] == "2"
        assert all(m["seed"] == s for m, s in zip(seeds, (42, 7), strict=True))
    test = read_csv(records / "significance.csv")[0]
    assert (test["target"], test["baseline"]) == ("BSARec", "SASRec")
    assert 0 <= float(test["wilcoxon_p"]) <= 1 and int(test["users"]) == 150
    text = (records / "table.md").read_text()
    assert "| metric | BSARec | SASRec | Improv. (BSARec vs best baseline) |" in text
    assert "| baseline | seeds | users (differ) | BSARec | baseline | difference | Wilcoxon p (Holm) |" in text
    assert "| SASRec | 2 | 150 (" in text and text in out
    metric_rows = [line for line in text.splitlines() if line.startswith(("| HR@", "| NDCG@"))]
    assert len(metric_rows) == 6 and all("**" in line for line in metric_rows)  # the best (ties: all) marked


def test_per_user_ndcg_from_ranks_reproduces_the_runs_test_ndcg(rule_data, workdir):
    assert main(compare_args(rule_data, models="BSARec", seeds="42")) == 0
    record = workdir / "results" / "rule" / "BSARec-rule-seed42"
    logged = json.loads((record / "metrics.json").read_text())["test_result"]["ndcg@10"]
    per_user = per_user_ndcg([record])
    assert np.mean(list(per_user.values())) == pytest.approx(logged, abs=1e-4)


def test_a_second_call_trains_nothing_and_more_epochs_continue_the_runs(rule_data, workdir, capsys):
    args = ["--state=INFO", *compare_args(rule_data, models="BSARec", seeds="42")]
    assert main(args) == 0
    run_dir = workdir / "compare" / "rule" / "runs" / "BSARec-rule-seed42"
    best = (run_dir / "best.pth").stat().st_mtime_ns
    assert main(args) == 0
    assert (run_dir / "best.pth").stat().st_mtime_ns == best
    assert "resumes" not in (run_dir / "run.log").read_text()

    assert main([*args[:-1], "--epochs=3"]) == 0  # a larger budget: the run goes on from its last checkpoint
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 3
    assert "training resumes at epoch 2" in (run_dir / "run.log").read_text()


def test_an_unfinished_run_continues_from_its_last_checkpoint(rule_data, workdir):
    args = ["--state=INFO", *compare_args(rule_data, models="BSARec", seeds="42")]
    assert main(args) == 0
    run_dir = workdir / "compare" / "rule" / "runs" / "BSARec-rule-seed42"
    before = json.loads((run_dir / "metrics.json").read_text())
    (run_dir / "metrics.json").unlink()  # as if killed after its last epoch, before its test
    (run_dir / "ranks.csv").unlink()
    assert main(args) == 0
    after = json.loads((run_dir / "metrics.json").read_text())
    assert after["test_result"] == before["test_result"]
    assert "training resumes at epoch 2" in (run_dir / "run.log").read_text()


def test_a_finished_run_whose_checkpoints_were_removed_stays_finished(rule_data, workdir):
    args = compare_args(rule_data, models="BSARec", seeds="42")
    assert main(args) == 0
    run_dir = workdir / "compare" / "rule" / "runs" / "BSARec-rule-seed42"
    for checkpoint in ("best.pth", "last.pth"):
        (run_dir / checkpoint).unlink()  # kept only the results, to save space
    assert main(args) == 0
    assert main([*args, "--table-only"]) == 0
    assert not (run_dir / "last.pth").exists()  # nothing trained again


def test_runs_go_to_ray_workers_with_jobs(rule_data, workdir):
    assert main(compare_args(rule_data, "--jobs=2", models="BSARec,FMLPRec", seeds="42")) == 0
    folder = workdir / "compare" / "rule"
    assert len(read_csv(workdir / "results" / "rule" / "table.csv")) == 12
    for model in ("BSARec", "FMLPRec"):
        metrics = json.loads((folder / "runs" / f"{model}-rule-seed42" / "metrics.json").read_text())
        assert metrics["device"] == "cpu" and metrics["model"] == model


def test_paired_test_of_identical_and_of_better_rankings(tmp_path):
    def ranks(name, values):
        return write_ranks(tmp_path / name, values)

    same = ranks("same", [1, 3, 20, 2] * 10)
    assert paired_test(per_user_ndcg([same]), per_user_ndcg([same]))["wilcoxon_p"] == 1.0
    better = paired_test(per_user_ndcg([ranks("good", [1] * 40)]), per_user_ndcg([ranks("bad", [2, 30] * 20)]))
    assert better["target_mean"] == 1.0 and better["baseline_mean"] == pytest.approx((1 / math.log2(3)) / 2)
    assert better["wilcoxon_p"] < 1e-6 and better["users"] == 40
    assert better["difference"] == pytest.approx(1 - 1 / math.log2(3) / 2)
    assert better["difference_low"] < better["difference"] < better["difference_high"]


def test_holm_adjusts_as_computed_by_hand():
    # sorted 0.01, 0.03, 0.04, 0.5 times 4, 3, 2, 1 = 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.5
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.3, 0.6]) == pytest.approx([0.6, 0.6]) and holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_bootstrap_interval_of_a_mean_has_the_width_theory_gives():
    assert mean_interval([0.5] * 30) == (0.5, 0.5)
    values = np.random.default_rng(1).integers(0, 2, 400).astype(float)  # sd of the mean 0.5 / 20 = 0.025
    low, high = mean_interval(values)
    assert low < values.mean() < high and 0.08 < high - low < 0.115  # 2 x 1.96 x 0.025 = 0.098
    assert mean_interval(values) == (low, high)  # seeded: a rebuilt table shows the same interval


def test_only_the_differences_that_survive_holm_are_marked(tmp_path):
    def ranks(name, values):
        return [write_ranks(tmp_path / name, values)]

    target = ranks("target", [1] * 60)
    baselines = {
        "Worse": ranks("worse", [3, 4] * 30),  # every user lower: p tiny, survives
        "Close": ranks("close", [1] * 57 + [2] * 3),  # three users lower: not enough
        "Same": ranks("same", [1] * 60),
    }
    tests = {test["baseline"]: test for test in baseline_tests(target, baselines)}
    assert [tests[name]["survives"] for name in ("Worse", "Close", "Same")] == [True, False, False]
    close = tests["Close"]
    assert close["wilcoxon_holm"] == pytest.approx(min(1.0, 2 * close["wilcoxon_p"]))  # the 2nd smallest of 3
    assert tests["Worse"]["wilcoxon_holm"] == pytest.approx(3 * tests["Worse"]["wilcoxon_p"])
    assert tests["Same"]["wilcoxon_p"] == 1.0 and tests["Same"]["wilcoxon_holm"] == 1.0
    gain = 1 - (1 / math.log2(4) + 1 / math.log2(5)) / 2  # NDCG@10 at rank 1 minus the mean at ranks 3 and 4
    worse = tests["Worse"]
    assert worse["difference"] == pytest.approx(gain)
    assert worse["difference_low"] < worse["difference"] < worse["difference_high"]
    assert (tests["Same"]["difference_low"], tests["Same"]["difference_high"]) == (0.0, 0.0)


BAD = [
    (["--models=BSARec,NoSuchModel"], "unknown model 'NoSuchModel'"),
    (["--seeds=1,x"], "--seeds=1,x must be integers"),
    (["--seeds=1,1"], "--seeds names a value twice"),
    (["--seeds=1,-1"], "--seeds: seed -1 is not an integer from 0 to 4294967295"),
    (["--seeds=4294967296"], "--seeds: seed 4294967296 is not an integer from 0 to 4294967295"),
    (["--seed=3"], "--seed is set per run in a comparison"),
    (["--jobs=0"], "--jobs=0 must be at least 1"),
    (["--alpha=2"], "BSARec on rule: alpha=2 is outside [0, 1]"),
    (["--datasets=nowhere"], "dataset 'nowhere' not found"),
]


@pytest.mark.parametrize(("extra", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_compare_input_is_one_line_and_writes_nothing(rule_data, workdir, capsys, extra, message):
    assert main(compare_args(rule_data, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not Path(workdir, "compare").exists() and not Path(workdir, "runs").exists()


@pytest.mark.parametrize("name", ["runs/a", "a\\b", ".", "..", ".old"])
def test_a_name_that_leaves_the_storage_folder_is_refused(rule_data, workdir, capsys, name):
    assert main(compare_args(rule_data, f"--name={name}")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --name={name} must name a folder inside --storage") and err.count("\n") == 1
    assert not Path(workdir, "compare").exists()


def test_another_protocol_in_the_same_comparison_is_refused(rule_data, workdir, capsys):
    assert main(compare_args(rule_data, models="BSARec", seeds="42")) == 0
    assert main(compare_args(rule_data, "--train_window=last", models="BSARec", seeds="42")) == 2
    assert "was run with other cmd_args" in capsys.readouterr().err


def test_a_comparison_continues_with_its_config_file_elsewhere(rule_data, workdir, capsys):
    """compare.json holds what the config files say, not where they are: the folder and its protocol may move
    to another machine or checkout (a GPU, a cluster) and continue; an edited protocol is refused."""
    assert main(compare_args(rule_data, models="BSARec", seeds="42")) == 0
    moved = workdir / "elsewhere" / Path(TINY).name
    moved.parent.mkdir()
    moved.write_text(Path(TINY).read_text())
    args = [arg.replace(TINY, str(moved)) for arg in compare_args(rule_data, models="BSARec", seeds="42")]
    assert main(args) == 0
    run_dir = workdir / "compare" / "rule" / "runs" / "BSARec-rule-seed42"
    assert "resumes" not in (run_dir / "run.log").read_text()
    moved.write_text(Path(TINY).read_text() + "hidden_size: 8\n")
    assert main(args) == 2
    assert "was run with other config_files" in capsys.readouterr().err


def test_a_comparison_continues_with_its_data_elsewhere_and_refuses_other_data(rule_data, workdir, capsys):
    """compare.json identifies the data by its files' digests: the data may move (another --data_path) and the
    comparison continues; an edited interaction file under the same name is refused, and nothing trains."""
    assert main(compare_args(rule_data, models="BSARec", seeds="42")) == 0
    moved = shutil.copytree(rule_data, workdir / "moved")
    assert main(compare_args(moved, models="BSARec,SASRec", seeds="42")) == 0
    runs = workdir / "compare" / "rule" / "runs"
    assert "resumes" not in (runs / "BSARec-rule-seed42" / "run.log").read_text()
    inter = Path(moved) / "rule" / "rule.inter"
    inter.write_text("".join(inter.read_text().splitlines(keepends=True)[:-1]))
    assert main(compare_args(moved, models="BSARec,SASRec", seeds="42,7")) == 2
    assert "was run with other data of rule" in capsys.readouterr().err
    assert not (runs / "SASRec-rule-seed7").exists()


def test_machine_settings_may_change_when_a_comparison_continues(rule_data, workdir):
    """Determinism, batch sizes for scoring and compilation change how a run executes, not what it trains: a
    comparison continues under them (Caser wants ``--reproducibility=False`` on a GPU), and its runs stay done."""
    assert main(compare_args(rule_data, models="BSARec", seeds="42")) == 0
    machine = ("--reproducibility=False", "--eval_batch_size=64")
    assert main(compare_args(rule_data, *machine, models="BSARec,SASRec", seeds="42")) == 0
    runs = workdir / "compare" / "rule" / "runs"
    assert "resumes" not in (runs / "BSARec-rule-seed42" / "run.log").read_text()
    settings = json.loads((runs / "SASRec-rule-seed42" / "metrics.json").read_text())["settings"]
    assert settings["reproducibility"] is False


def test_a_run_trained_before_is_adopted_and_evaluated_as_it_was(rule_data, workdir):
    from recbole_bsarec.pipeline import run_recbole

    earlier = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 2, "seed": 7})
    args = compare_args(rule_data, f"--adopt={earlier['checkpoint']}", "--table-only", models="BSARec", seeds="7")
    assert main(args) == 0
    run_dir = workdir / "compare" / "rule" / "runs" / "BSARec-rule-seed7"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_result"] == earlier["test_result"]
    assert metrics["adopted_from"] == earlier["checkpoint"] and (run_dir / "ranks.csv").is_file()
    assert read_csv(workdir / "results" / "rule" / "table.csv")[0]["seeds_done"] == "1"


def test_a_run_with_other_settings_is_not_adopted(rule_data, workdir, capsys):
    from recbole_bsarec.pipeline import run_recbole

    other = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 2, "alpha": 0.5})
    assert main(compare_args(rule_data, f"--adopt={other['checkpoint']}", models="BSARec", seeds="42")) == 2
    err = capsys.readouterr().err
    assert "was trained with other settings: alpha=0.5 (here 0.9)" in err
    assert not (workdir / "compare").exists()


def test_a_run_killed_during_its_final_test_is_tested_again_on_its_best_checkpoint(rule_data, workdir):
    assert main(compare_args(rule_data, models="BSARec", seeds="42")) == 0
    run_dir = workdir / "compare" / "rule" / "runs" / "BSARec-rule-seed42"
    first = json.loads((run_dir / "metrics.json").read_text())
    best = (run_dir / "best.pth").read_bytes()
    for name in ("metrics.json", "ranks.csv"):  # what a kill during the final test leaves out
        (run_dir / name).unlink()
    assert main(compare_args(rule_data, models="BSARec", seeds="42")) == 0
    again = json.loads((run_dir / "metrics.json").read_text())
    assert again["test_result"] == first["test_result"] and again["best_valid_result"] == first["best_valid_result"]
    assert (run_dir / "best.pth").read_bytes() == best
