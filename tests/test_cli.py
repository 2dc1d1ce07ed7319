"""run.py: the results table, and one-line errors with exit code 2 for bad input."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY

from recbole_bsarec.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_run_prints_the_metrics_table(rule_data, capsys):
    code = main(
        ["--model=BSARec", "--dataset=rule", f"--data_path={rule_data}", f"--config_files={TINY}", "--epochs=1"]
    )
    out = capsys.readouterr().out
    assert code == 0
    table = out[out.index("BSARec on rule") :].splitlines()
    assert table[1].split() == ["metric", "valid", "test"]
    assert [row.split()[0] for row in table[2:11]] == [f"{m}@{k}" for m in ("HR", "NDCG", "MRR") for k in (5, 10, 20)]
    assert table[11].startswith("run:")
    assert os.path.isfile(os.path.join(table[11].split()[1], "metrics.json"))


BAD = [
    (["--model=NoSuchModel"], "unknown model 'NoSuchModel'"),
    (["--model=sasrec"], "(did you mean SASRec?)"),
    (["--model=BSARc"], "(did you mean BSARec?)"),
    (["--alpha=1.5"], "alpha=1.5 is outside [0, 1]"),
    (["--alpha=-0.1"], "alpha=-0.1 is outside [0, 1]"),
    (["--alpha=high"], "--alpha=high is not a finite number: use e.g. --alpha=0.9"),
    (["--c=0"], "c=0 is not an integer >= 1"),
    (["--c=50"], "use c <= 49"),
    (["--c=20", "--MAX_ITEM_LIST_LENGTH=20"], "use c <= 19"),
    (["--MAX_ITEM_LIST_LENGTH=1"], "MAX_ITEM_LIST_LENGTH=1 leaves the frequency branch nothing to filter"),
    (["--n_heads=3"], "n_heads=3 does not divide hidden_size=64"),
    (["--hidden_dropout_prob=1.0"], "--hidden_dropout_prob=1.0 is outside [0, 1)"),
    (["--loss_type=XYZ"], "--loss_type=XYZ is not one of CE, BPR"),
    (["--padding_side=middle"], "padding_side='middle' is unknown"),
    (["--model=BSARecAttnOnly", "--alpha=0.5"], "contradicts BSARecAttnOnly"),
    (["--dataset=nosuch"], "dataset 'nosuch' not found"),
    (["epochs=3"], "'epochs=3' is not of the form --key=value"),
    (["--model"], "needs a value"),
    (["--config_files=missing.yaml"], "config file 'missing.yaml' does not exist"),
    (["--config_files=broken.yaml"], "config file 'broken.yaml' is not valid yaml"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_is_one_line_and_exit_2(workdir, capsys, argv, message):
    (workdir / "broken.yaml").write_text("epochs: [1, 2\n")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert sorted(os.listdir(workdir)) == ["broken.yaml"]


def run_py(args, cwd, **env):
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def test_run_py_unknown_model_exits_2_without_traceback(workdir):
    proc = run_py(["--model=NoSuchModel"], workdir)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "Traceback" not in proc.stderr and "unknown model 'NoSuchModel'" in proc.stderr


def test_ml1m_offline_says_where_to_put_the_files_and_leaves_nothing(workdir):
    unreachable = "http://127.0.0.1:9"
    proc = run_py(["--model=BSARec", "--dataset=ml-1m"], workdir, http_proxy=unreachable, https_proxy=unreachable)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "could not download dataset 'ml-1m'" in proc.stderr
    assert "ml-1m.inter" in proc.stderr and os.path.join("dataset", "ml-1m") in proc.stderr
    assert os.listdir(workdir) == []


def test_model_and_dataset_can_come_from_a_config_file(rule_data, capsys, tmp_path):
    own = tmp_path / "own.yaml"
    own.write_text(f"model: BSARecScalarBeta\ndataset: rule\ndata_path: {rule_data}\nepochs: 1\n")
    assert main([f"--config_files={TINY} {own}"]) == 0
    assert "BSARecScalarBeta on rule" in capsys.readouterr().out


def test_installed_command_is_the_same_cli(workdir):
    command = Path(sys.executable).with_name("recbole-bsarec")
    proc = subprocess.run([str(command), "--model=NoSuchModel"], cwd=workdir, capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown model 'NoSuchModel'" in proc.stderr


@pytest.mark.parametrize(
    "argv, target, hint",
    [
        ([], "recbole_bsarec.cli.run_recbole", "interrupted"),
        (["--compare"], "recbole_bsarec.compare.command.compare", "run the same command again to continue"),
        (["--search=space.yaml"], "recbole_bsarec.search.tuner.parse_search_args", "the same command and --resume"),
    ],
)
def test_ctrl_c_exits_130_with_how_to_continue(monkeypatch, capsys, argv, target, hint):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(target, interrupted)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err.strip().startswith("interrupted") and err.strip().endswith(hint)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("cpus-per-{unit}", "x", "{arg} is not a number"),
        ("cpus-per-{unit}", "nan", "{arg} is not a number"),
        ("gpus_per_{unit}", "-1", "{arg} must be at least 0"),
        ("max-failures", "0.5", "{arg} is not a number"),
        ("max-failures", "", "argument '{arg}' needs a value: write --max-failures=VALUE"),
        ("address", "", "argument '{arg}' needs a value: write --address=VALUE"),
        ("name", "a/b", "{arg} must name a folder inside --storage: no '/' or '\\', no leading '.'"),
    ],
)
def test_search_and_compare_refuse_a_bad_option_alike(option, value, message):
    from recbole_bsarec.compare.plan import parse_compare_args
    from recbole_bsarec.errors import UsageError
    from recbole_bsarec.search.tuner import parse_search_args

    for parse, unit, argv in [
        (parse_search_args, "trial", ["--search=space.yaml"]),
        (parse_compare_args, "run", ["--compare", "--datasets=lastfm"]),
    ]:
        arg = f"--{option.format(unit=unit)}={value}"
        with pytest.raises(UsageError) as caught:
            parse([*argv, arg])
        assert str(caught.value) == message.format(arg=arg)


def test_search_and_compare_say_what_they_need_when_it_is_missing_or_empty():
    from recbole_bsarec.compare.plan import parse_compare_args
    from recbole_bsarec.errors import UsageError
    from recbole_bsarec.search.tuner import parse_search_args

    for parse, argv, message in [
        (parse_search_args, ["--samples=2"], "--search needs the search space's yaml"),
        (parse_search_args, ["--search="], "--search needs the search space's yaml"),
        (parse_compare_args, ["--compare"], "--compare needs --datasets=A,B,..."),
        (parse_compare_args, ["--compare", "--datasets="], "--compare needs --datasets=A,B,..."),
        (parse_compare_args, ["--compare", "--datasets=,"], "--compare needs --datasets=A,B,..."),
    ]:
        with pytest.raises(UsageError, match=message):
            parse(argv)
