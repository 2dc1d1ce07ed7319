"""The benchmarks end to end on small synthetic data: the tables and the ratio lines (no timings checked).

speed.py and fearec.py read the paper's LastFM.txt; here they read a synthetic file in its format (``--shared``),
so these tests need no ../shared folder.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY_OVERRIDES = ["hidden_size=16", "inner_size=32", "MAX_ITEM_LIST_LENGTH=10"]


@pytest.fixture(scope="module")
def paper_folder(tmp_path_factory):
    """A folder holding a synthetic LastFM.txt in the paper's format: 300 users, 5-60 items each from 500,
    drawn without repeats with a popularity skew (so that users share items and targets, as in LastFM)."""
    rng = np.random.default_rng(0)
    weights = 1.0 / (np.arange(500) + 10.0)
    lines = []
    for user in range(1, 301):
        items = rng.choice(500, size=int(rng.integers(5, 61)), replace=False, p=weights / weights.sum()) + 1
        lines.append(" ".join(map(str, [user, *items])))
    folder = tmp_path_factory.mktemp("shared") / "data" / "paper"
    folder.mkdir(parents=True)
    (folder / "LastFM.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_speed_benchmark_prints_the_table_and_the_ratio(tmp_path, paper_folder):
    command = [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--max-users", "60", "--epochs", "1"]
    command += ["--shared", str(paper_folder)]
    # one thread: two would spin-wait for each other whenever other work holds a core of a 2-core machine
    command += ["--warmup", "0", "--threads", "1", "--packing", "2", "--json", str(tmp_path / "speed.json")]
    command += [arg for item in TINY_OVERRIDES for arg in ("--config", item)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("BSARec vs SASRec on LastFM (cpu): 60 users")
    header = next(line for line in lines if line.startswith("| model | path |"))
    rows = lines[lines.index(header) + 2 :][:4]
    cells = [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows]
    assert [row[:2] for row in cells] == [
        ["BSARec", "recbole"],
        ["SASRec", "recbole"],
        ["BSARec", "device"],
        ["SASRec", "device"],
    ]
    assert all(len(row) == len(header.split("|")) - 2 for row in cells)
    packed = next(line for line in lines if line.startswith("| runs at once"))
    assert lines[lines.index(packed) + 2].split("|")[1:3] == [" 2 ", " 1 "]  # two runs at once, --threads each
    number = r"\d+\.\d\d"
    assert re.fullmatch(f"ratio device/recbole \\(BSARec\\): epoch {number}, step {number}", lines[-4])
    assert re.fullmatch(
        f"ratio BSARec/SASRec \\(device\\): epoch {number}, eval {number}, peak memory {number}", lines[-1]
    )
    results = json.loads((tmp_path / "speed.json").read_text())["results"]
    for result in results:  # the --config overrides win over the benchmark's own settings, for both models
        assert (result["config"]["hidden_size"], result["config"]["MAX_ITEM_LIST_LENGTH"]) == (16, 10)
    assert sorted(tmp_path.iterdir()) == [tmp_path / "speed.json"]


def test_scale_benchmark_prints_the_cases_and_the_ratio(tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--cases", "len-50", "len-200", "--users", "3"]
    command += ["--config", "hidden_size=16", "--config", "inner_size=32", "--json", str(tmp_path / "scale.json")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rows = [line for line in lines if line.startswith("| len-")]
    assert [row.split("|")[5].strip() for row in rows] == ["50", "200"]  # MAX_ITEM_LIST_LENGTH of each case
    assert all(row.split("|")[2].strip() == "10,000" for row in rows)  # the catalogue: every item of the .item file
    number = r"\d+\.\d\d"
    assert re.fullmatch(f"ratio N=200/N=50: epoch {number}, eval {number}, peak memory {number}", lines[-1])
    assert [r["case"] for r in json.loads((tmp_path / "scale.json").read_text())] == ["len-50", "len-200"]


def test_fearec_benchmark_prints_both_models_and_the_ratio(tmp_path, paper_folder):
    command = [sys.executable, str(ROOT / "benchmarks" / "fearec.py"), "--max-users", "60", "--steps", "1"]
    command += ["--shared", str(paper_folder)]
    command += ["--warmup", "0", "--threads", "1"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith(("|", "ratio", "largest", "FEARec on"))]
    assert lines[0].startswith("FEARec on LastFM, paper protocol, batch 256, cpu, 1 threads")
    assert [row.split("|")[1].strip() for row in lines[3:5]] == ["RecBole", "recbole-bsarec"]
    number = r"\d+\.\d\d"
    assert re.fullmatch(f"ratio RecBole/recbole-bsarec: training step {number}, scoring {number}", lines[5])
    assert float(lines[6].rsplit(" ", 1)[1]) < 1e-4  # the same loss from the same weights, batch and seed


def test_fearec_benchmark_without_the_data_says_where_to_put_it(tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks" / "fearec.py"), "--shared", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 2 and "LastFM.txt not found: pass --shared DIR" in done.stderr


@pytest.mark.parametrize("rule", ["reference", "recbole"])
def test_stopping_benchmark_replays_the_other_rule_on_a_runs_log(rule_data, rule):
    from conftest import TINY

    from recbole_bsarec.pipeline import run_recbole

    settings = {"data_path": rule_data, "epochs": 6, "stopping_step": 2, "stopping_rule": rule, "state": "INFO"}
    result = run_recbole("SASRec", "rule", [TINY], settings)
    best_epoch = torch.load(result["checkpoint"], weights_only=True)["epoch"]
    command = [sys.executable, str(ROOT / "benchmarks" / "stopping.py"), result["log_file"]]
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    row = next(line for line in out.splitlines() if line.startswith(f"| {Path(result['run_dir']).name} |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    other = "recbole" if rule == "reference" else "reference"
    assert cells[1:5] == [rule, str(best_epoch), str(result["epochs_run"] - 1), other]
    assert cells[7] in ("yes", "no") or cells[7].startswith("undecided (epoch ")
    if rule == "reference" and cells[7] != "no":  # RecBole's rule trains on past the reference's stop
        assert cells[7] == f"undecided (epoch {result['epochs_run']})"
    assert "the same checkpoint under both rules, as far as the logs show:" in out
