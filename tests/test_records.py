"""The results registry: every finished run of a comparison recorded in results/<name>/, small files only, and a
fresh clone (no run folders, no data) rebuilding the table and the paired tests from them alone."""

import gzip
import json
import shutil
from pathlib import Path

import pytest
import torch
from test_compare import compare_args

from recbole_bsarec.cli import main


@pytest.fixture
def compared(rule_data, workdir, capsys):
    """A finished comparison of BSARec and SASRec over two seeds, and its printed table."""
    assert main(compare_args(rule_data)) == 0
    return capsys.readouterr().out


def test_each_finished_run_is_recorded_with_metrics_ranks_config_and_where_it_ran(compared, workdir):
    records = workdir / "results" / "rule"
    names = sorted(p.name for p in records.iterdir() if p.is_dir())
    assert names == ["BSARec-rule-seed42", "BSARec-rule-seed7", "SASRec-rule-seed42", "SASRec-rule-seed7"]
    record = records / "BSARec-rule-seed42"
    assert sorted(p.name for p in record.iterdir()) == ["config.json", "metrics.json", "ranks.csv.gz"]
    metrics = json.loads((record / "metrics.json").read_text())
    run = json.loads((workdir / "compare" / "rule" / "runs" / "BSARec-rule-seed42" / "metrics.json").read_text())
    assert metrics["test_result"] == run["test_result"] and not {"run_dir", "log_file", "checkpoint"} & set(metrics)
    assert "data_path" in run["settings"] and not {"data_path", "run_dir"} & set(metrics["settings"])
    assert metrics["environment"]["torch"] == torch.__version__ and "package_commit" in metrics["environment"]
    config = json.loads((record / "config.json").read_text())
    assert (config["model"], config["seed"], config["MAX_ITEM_LIST_LENGTH"]) == ("BSARec", 42, 10)
    assert "data_path" not in config and "checkpoint_dir" not in config
    rows = gzip.decompress((record / "ranks.csv.gz").read_bytes()).decode().splitlines()
    assert rows[0] == "user,length,rank" and len(rows) == 151
    assert sum(p.stat().st_size for p in record.iterdir()) < 20_000
    saved = json.loads((workdir / "compare" / "rule" / "compare.json").read_text())
    assert json.loads((records / "compare.json").read_text()) == saved


def test_a_fresh_clone_rebuilds_the_table_and_tests_from_the_records_alone(compared, rule_data, workdir, monkeypatch):
    records = workdir / "results" / "rule"
    table, tests = (records / "table.md").read_text(), (records / "significance.csv").read_text()
    clone = workdir / "clone"
    shutil.copytree(workdir / "results", clone / "results")
    shutil.rmtree(rule_data)  # no data, no run folders, no checkpoints
    monkeypatch.chdir(clone)
    assert main(compare_args(rule_data, "--table-only")) == 0
    assert (clone / "results" / "rule" / "table.md").read_text() == table
    assert (clone / "results" / "rule" / "significance.csv").read_text() == tests
    assert sorted(p.name for p in clone.iterdir()) == ["results"]


def test_records_stay_as_they_are_when_the_comparison_runs_again(compared, rule_data, workdir):
    record = workdir / "results" / "rule" / "SASRec-rule-seed7"
    before = {p.name: p.stat().st_mtime_ns for p in record.iterdir()}
    assert main(compare_args(rule_data)) == 0
    assert {p.name: p.stat().st_mtime_ns for p in record.iterdir()} == before


def test_an_unrecorded_run_counts_in_the_means_not_in_the_tests_and_a_real_run_replaces_it(
    compared, rule_data, workdir, monkeypatch
):
    record = workdir / "results" / "rule" / "SASRec-rule-seed7"
    metrics = json.loads((record / "metrics.json").read_text())
    for name in ("ranks.csv.gz", "config.json"):
        (record / name).unlink()
    unrecorded = {key: metrics[key] for key in ("model", "dataset", "seed", "test_result")}
    (record / "metrics.json").write_text(json.dumps({**unrecorded, "unrecorded": "numbers from an old table"}))
    clone = workdir / "clone"
    shutil.copytree(workdir / "results", clone / "results")
    monkeypatch.chdir(clone)
    assert main(compare_args(rule_data, "--table-only")) == 0
    text = (clone / "results" / "rule" / "table.md").read_text()
    assert "†" in text and "†: unrecorded runs" in text
    assert "| SASRec | 1 | 150 (" in text  # the paired test uses the one seed with ranks
    monkeypatch.chdir(workdir)
    assert main(compare_args(rule_data)) == 0  # here the run folder is: its record comes back
    assert (record / "ranks.csv.gz").is_file()
    assert json.loads((record / "metrics.json").read_text())["test_result"] == metrics["test_result"]


def test_a_record_of_a_longer_run_is_never_replaced(compared, rule_data, workdir, capsys):
    path = workdir / "results" / "rule" / "BSARec-rule-seed42" / "metrics.json"
    longer = {**json.loads(path.read_text()), "epochs_run": 99}
    path.write_text(json.dumps(longer))
    assert main(compare_args(rule_data)) == 2
    assert "holds a result that trained 99 epochs, this run 2" in capsys.readouterr().err
    assert json.loads(path.read_text()) == longer


def test_records_of_another_protocol_are_refused(compared, rule_data, workdir, capsys, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text("hidden_dropout_prob: 0.3\n")
    shutil.rmtree(workdir / "compare")
    args = compare_args(rule_data, "--table-only")
    args[args.index(next(a for a in args if a.startswith("--config_files")))] += f" {other}"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "results '" in err and "were recorded with other config_files" in err and err.count("\n") == 1


def test_a_markdown_block_is_generated_from_the_registry_and_checked(compared, rule_data, workdir):
    from recbole_bsarec.compare.report import main as report

    args = " ".join(a if " " not in a else f'"{a}"' for a in compare_args(rule_data)[1:])
    doc = workdir / "RESULTS.md"
    doc.write_text(f"# Results\n\nprose\n<!-- compare {args} -->\nold\n<!-- end compare -->\nmore prose\n")
    assert report(["--check", str(doc)]) == 1
    assert report([str(doc)]) == 0
    text = doc.read_text()
    table = (workdir / "results" / "rule" / "table.md").read_text()
    assert text == f"# Results\n\nprose\n<!-- compare {args} -->\n{table}<!-- end compare -->\nmore prose\n"
    assert report(["--check", str(doc)]) == 0
    doc.write_text(text.replace("| SASRec seed 7 |", "| SASRec seed 8 |"))
    assert report(["--check", str(doc)]) == 1


def test_docs_results_md_is_what_the_committed_registry_gives(monkeypatch):
    from recbole_bsarec.compare.report import main as report

    root = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(root)  # the blocks name results/ and properties/ relative to the repository
    blocks = (root / "docs" / "RESULTS.md").read_text().count("<!-- compare ")
    assert blocks >= 3  # the LastFM tables: shared loss, the paper's losses, the ablation
    assert report(["--check", "docs/RESULTS.md"]) == 0
