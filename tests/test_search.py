"""Hyperparameter search on Ray Tune, on CPU with tiny data: outputs, device assignment, clusters, resume."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import TINY, run_py_argv
from ray.tune.search import Searcher

from recbole_bsarec.cli import main
from recbole_bsarec.errors import UsageError
from recbole_bsarec.options import parse_args
from recbole_bsarec.pipeline import build_config
from recbole_bsarec.search.distinct import DistinctHyperOptSearch
from recbole_bsarec.search.tuner import parse_search_args, plan, search


def write_space(folder, text):
    path = Path(folder) / "space.yaml"
    path.write_text(text)
    return str(path)


def options(**changes):
    return {**parse_search_args(["--search=space.yaml"])[1], **changes}


def read_rows(folder):
    with open(Path(folder) / "trials.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def run_search(rule_data, space, **changes):
    args = ["--epochs=2", f"--data_path={rule_data}"]
    return search("BSARec", "rule", [TINY], args, space, options(**changes))


# --- checked before Ray starts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("alpha: [0.1, 0.2]\n", "give one of"),
        ("alpha: {choice: []}\n", "non-empty list"),
        ("learning_rate: {uniform: [0.1, 0.01]}\n", "low < high"),
        ("learning_rate: {loguniform: [0, 0.01]}\n", "positive low end"),
        ("alhpa: {choice: [0.1]}\n", "alhpa is not a setting BSARec can search"),
        ("c: {choice: [3, 99]}\n", "impossible configuration"),
        ("alpha: {choice: [0.5, 1.5]}\n", "impossible configuration"),
        ("gpu_id: {choice: ['0']}\n", "not a setting BSARec can search"),
        ("[1, 2\n", "not valid yaml"),
    ],
)
def test_bad_search_space_is_one_clear_line(rule_data, tmp_path, text, message):
    space = write_space(tmp_path, text)
    with pytest.raises(UsageError, match=message) as caught:
        plan("BSARec", "rule", [TINY], [f"--data_path={rule_data}"], space, options())
    assert "\n" not in str(caught.value) and "space.yaml" in str(caught.value)


def test_search_options_are_parsed_and_checked():
    space, parsed, rest = parse_search_args(
        ["--search=s.yaml", "--samples=8", "--gpus-per-trial=0.5", "--resume", "--epochs=3", "--algo=grid"]
    )
    assert (space, parsed["samples"], parsed["gpus_per_trial"], parsed["resume"], parsed["algo"]) == (
        "s.yaml",
        8,
        0.5,
        True,
        "grid",
    )
    assert rest == ["--epochs=3"]
    for bad, message in [
        (["--search=s.yaml", "--samples=x"], "not a number"),
        (["--search=s.yaml", "--samples=0"], "at least 1"),
        (["--search=s.yaml", "--algo=random"], "use one of hyperopt, grid"),
        (["--search="], "needs the search space"),
    ]:
        with pytest.raises(UsageError, match=message):
            parse_search_args(bad)


@pytest.mark.parametrize("name", ["runs/a", "a\\b", ".", "..", ".old"])
def test_a_name_that_leaves_the_storage_folder_is_refused(rule_data, tmp_path, capsys, name):
    space = write_space(tmp_path, "alpha: {choice: [0.3, 0.9]}\n")
    argv = ["--model=BSARec", "--dataset=rule", f"--config_files={TINY}", f"--data_path={rule_data}"]
    assert main([*argv, f"--search={space}", f"--name={name}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --name={name} must name a folder inside --storage") and err.count("\n") == 1
    assert not (Path.cwd() / "searches").exists()


def test_searched_key_fixed_on_the_command_line_or_a_ray_key_is_refused(rule_data, tmp_path):
    space = write_space(tmp_path, "alpha: {choice: [0.3, 0.9]}\n")
    with pytest.raises(UsageError, match="alpha is both searched and fixed"):
        plan("BSARec", "rule", [TINY], ["--alpha=0.5", f"--data_path={rule_data}"], space, options())
    with pytest.raises(UsageError, match="--gpu_id is set per trial from Ray's assignment"):
        plan("BSARec", "rule", [TINY], ["--gpu_id=1", f"--data_path={rule_data}"], space, options())


def test_planning_leaves_cuda_visible_devices_alone(rule_data, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    space = write_space(tmp_path, "alpha: {choice: [0.3, 0.9]}\n")
    plan("BSARec", "rule", [TINY], [f"--data_path={rule_data}"], space, options())
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"


def test_grid_needs_choices(rule_data, tmp_path):
    space = write_space(tmp_path, "learning_rate: {uniform: [0.001, 0.01]}\n")
    with pytest.raises(UsageError, match="--algo=grid needs 'choice' domains only"):
        run_search(rule_data, space, algo="grid")


def test_cli_bad_search_input_exits_2(rule_data, tmp_path, capsys):
    argv = ["--model=BSARec", "--dataset=rule", f"--config_files={TINY}", f"--data_path={rule_data}"]
    assert main([*argv, f"--search={tmp_path / 'missing.yaml'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: search space") and err.count("\n") == 1
    assert not (Path.cwd() / "searches").exists()


def test_hyperopt_never_repeats_a_configuration_and_ends_when_the_space_is_spent():
    from ray import tune
    from ray.tune.search.hyperopt import HyperOptSearch

    space = {"alpha": tune.choice([0.1, 0.3, 0.5]), "c": tune.choice([1, 3])}
    drawn = {}
    for searcher in (HyperOptSearch, DistinctHyperOptSearch):
        searcher = searcher(n_initial_points=2, random_state_seed=0)
        searcher.set_search_properties("score", "max", space)
        drawn[type(searcher)] = configs = []
        for trial in range(8):
            config = searcher.suggest(str(trial))
            if config == Searcher.FINISHED:
                configs.append(config)
                break
            configs.append(tuple(config.values()))
            searcher.on_trial_complete(str(trial), {"score": config["alpha"] * config["c"]})
    assert len(set(drawn[HyperOptSearch])) < 6  # what the stock searcher does with this seed: repeats
    distinct = drawn[DistinctHyperOptSearch]
    assert len(set(distinct[:6])) == 6 and distinct[6] == Searcher.FINISHED
    assert distinct[:2] == drawn[HyperOptSearch][:2]  # draws that do not repeat are left as hyperopt made them


# --- searches ------------------------------------------------------------------------------------------


def test_three_trial_search_writes_table_and_a_best_yaml_run_py_accepts(rule_data, tmp_path):
    space = write_space(tmp_path, "alpha: {choice: [0.3, 0.9]}\nc: {choice: [1, 3]}\n")
    outcome = run_search(rule_data, space, samples=3, max_concurrent=2)
    folder = Path(outcome["spec"]["folder"])
    assert folder == Path.cwd() / "searches" / "BSARec-rule"

    rows = read_rows(folder)
    assert len(rows) == 3 and len({(row["alpha"], row["c"]) for row in rows}) == 3
    for row in rows:
        assert row["status"] in ("max epochs", "early stopping", "stopped by scheduler")
        assert 0 < float(row["best_valid"]) <= 1 and 0 <= float(row["test_ndcg@10"]) <= 1
        assert row["device"] == "cpu" and row["gpu_id"] == ""
    assert [float(r["best_valid"]) for r in rows] == sorted((float(r["best_valid"]) for r in rows), reverse=True)
    assert (folder / "trials.md").read_text().count("\n") == 2 + 3

    best = yaml.safe_load((folder / "best.yaml").read_text())
    assert best == {"model": "BSARec", "dataset": "rule", "alpha": float(rows[0]["alpha"]), "c": int(rows[0]["c"])}
    model, dataset, files, overrides = parse_args([f"--config_files={TINY} {folder / 'best.yaml'}"])
    config = build_config(model, dataset, files, {"data_path": rule_data}, overrides)
    assert (config["alpha"], config["c"]) == (best["alpha"], best["c"])

    with pytest.raises(UsageError, match="exists: add --resume to continue it, or --name=OTHER"):
        run_search(rule_data, space, samples=3)
    with pytest.raises(UsageError, match="was started with other samples"):
        run_search(rule_data, space, samples=4, resume=True)


def test_more_samples_than_configurations_runs_each_once(rule_data, tmp_path):
    space = write_space(tmp_path, "alpha: {choice: [0.3, 0.9]}\n")
    outcome = run_search(rule_data, space, samples=4, scheduler="none")
    assert sorted(row["alpha"] for row in read_rows(outcome["spec"]["folder"])) == ["0.3", "0.9"]


def test_crashing_trial_is_retried_and_reported(rule_data, tmp_path, capsys):
    # a learning rate this large passes every check but diverges: RecBole stops with "Training loss is nan"
    space = write_space(tmp_path, "learning_rate: {choice: [1.0e+30, 0.005]}\n")
    argv = ["--model=BSARec", "--dataset=rule", f"--config_files={TINY}", f"--data_path={rule_data}", "--epochs=2"]
    assert main([*argv, f"--search={space}", "--algo=grid", "--max-failures=1", "--scheduler=none"]) == 1
    out = capsys.readouterr().out
    assert "failed: trial" in out and "Traceback" not in out and "\x1b[" not in out
    folder = Path.cwd() / "searches" / "BSARec-rule"
    rows = {float(row["learning_rate"]): row for row in read_rows(folder)}
    assert rows[1e30]["status"] == "error: ValueError: Training loss is nan"  # no traceback, no colour codes
    assert rows[0.005]["status"] == "max epochs"
    assert yaml.safe_load((folder / "best.yaml").read_text())["learning_rate"] == 0.005
    trial_dir = next(folder.glob("run_trial_*learning_rate=1000000*"))
    assert len(list(trial_dir.glob("error*.txt"))) >= 1


def test_trials_run_on_the_gpus_ray_assigns(rule_data, tmp_path, monkeypatch):
    import ray

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # earlier RecBole configs in this process set it

    space = write_space(tmp_path, "alpha: {choice: [0.3, 0.9]}\n")
    ray.init(num_cpus=2, num_gpus=2, log_to_driver=False, include_dashboard=False)  # fake GPUs on a CPU
    try:
        outcome = run_search(rule_data, space, algo="grid", gpus_per_trial=1, scheduler="none")
    finally:
        ray.shutdown()
    rows = read_rows(outcome["spec"]["folder"])
    # RecBole's config got Ray's GPU for the trial (not its default '0'), and CUDA_VISIBLE_DEVICES agrees;
    # the two trials ran side by side on the two GPUs
    assert sorted(row["gpu_id"] for row in rows) == ["0", "1"]
    progress = [json.loads(line) for row in rows for line in open(trial_result(outcome, row))]
    assert all(p["cuda_visible_devices"] == p["gpu_id"] for p in progress)
    assert all(row["device"] == "cpu" for row in rows)  # no CUDA here, so RecBole falls back to the CPU


def trial_result(outcome, row):
    return next(Path(outcome["spec"]["folder"]).glob(f"run_trial_{row['trial']}_*/result.json"))


def test_fractional_gpus_share_one_device(rule_data, tmp_path, monkeypatch):
    import ray

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    space = write_space(tmp_path, "alpha: {choice: [0.3, 0.9]}\n")
    ray.init(num_cpus=2, num_gpus=1, log_to_driver=False, include_dashboard=False)
    try:
        outcome = run_search(rule_data, space, algo="grid", gpus_per_trial=0.5, scheduler="none")
    finally:
        ray.shutdown()
    assert [row["gpu_id"] for row in read_rows(outcome["spec"]["folder"])] == ["0", "0"]


def test_two_node_cluster_runs_trials_on_both_nodes(rule_data, tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        space = write_space(tmp_path, "alpha: {choice: [0.3, 0.9]}\n")
        outcome = run_search(rule_data, space, algo="grid", scheduler="none", address=cluster.address)
    finally:
        cluster.shutdown()
    nodes = {row["node"] for row in read_rows(outcome["spec"]["folder"])}
    assert len(nodes) == 2


def test_killed_search_resumes_without_rerunning_finished_trials(rule_data, tmp_path):
    space = write_space(tmp_path, "alpha: {choice: [0.1, 0.5, 0.9]}\n")
    argv = run_py_argv(
        rule_data,
        "--epochs=2",
        f"--search={space}",
        "--algo=grid",
        "--scheduler=none",
        "--max-concurrent=1",
    )
    folder = Path.cwd() / "searches" / "BSARec-rule"
    killed_after_a_trial(argv, folder)
    first = [path.parent for path in finished_trials(folder)]
    checkpoints = {path: path.read_bytes() for trial in first for path in trial.glob("runs/*/*.pth")}
    assert checkpoints and not (folder / "trials.csv").exists()

    assert main([*argv[1:], "--resume"]) == 0
    rows = read_rows(folder)
    assert sorted(row["alpha"] for row in rows) == ["0.1", "0.5", "0.9"]
    assert all(row["status"] == "max epochs" for row in rows)
    # the trials that had finished before the kill were not trained again: one log, the same checkpoint
    assert all(len(list(trial.glob("runs/*/run.log"))) == 1 for trial in first)
    assert all(path.read_bytes() == data for path, data in checkpoints.items())


def finished_trials(folder):
    """Result files of trials whose last report says they ended."""
    done = []
    for path in folder.glob("run_trial_*/result.json"):
        lines = path.read_text().splitlines()
        if lines and json.loads(lines[-1]).get("end"):
            done.append(path)
    return done


def test_resumed_search_decides_as_the_same_search_uninterrupted(rule_data, tmp_path):
    """hyperopt and ASHA, one trial at a time: a search killed after its first finished trial and resumed stops
    the same trials at the same epochs and picks the same best as the same search run without a kill."""
    space = write_space(tmp_path, "alpha: {choice: [0.1, 0.3, 0.5, 0.7, 0.9]}\nc: {choice: [1, 3, 5]}\n")
    argv = run_py_argv(
        rule_data,
        "--epochs=3",
        "--learning_rate=0.002",
        f"--search={space}",
        "--samples=6",
        "--grace-period=1",
        "--max-concurrent=1",
    )
    assert main([*argv[1:], "--name=whole"]) == 0
    folder = Path.cwd() / "searches" / "resumed"
    killed_after_a_trial([*argv, "--name=resumed"], folder)
    assert not (folder / "trials.csv").exists()  # killed before its end
    assert main([*argv[1:], "--name=resumed", "--resume"]) == 0

    def outcome(name):
        rows = read_rows(Path.cwd() / "searches" / name)
        table = sorted((r["alpha"], r["c"], r["status"], r["best_valid"], r["epochs"]) for r in rows)
        return table, yaml.safe_load((Path.cwd() / "searches" / name / "best.yaml").read_text())

    whole, resumed = outcome("whole"), outcome("resumed")
    assert "stopped by scheduler" in {row[2] for row in whole[0]}  # ASHA decided something
    assert resumed == whole


def killed_after_a_trial(argv, folder, deadline=240):
    """Run ``python ARGV`` (a search into ``folder``) and SIGKILL its process group once a trial finished."""
    proc = subprocess.Popen([sys.executable, *argv], start_new_session=True, stdout=subprocess.DEVNULL)
    deadline += time.time()
    try:
        while time.time() < deadline and proc.poll() is None and not finished_trials(folder):
            time.sleep(0.5)
        assert finished_trials(folder), "no trial finished before the deadline"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
