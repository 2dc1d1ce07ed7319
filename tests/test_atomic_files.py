"""Atomic files are read by one parser, the check's: what the check passes, every dataset reads the same way,
and what it refuses is one line naming the file, the line and the fix, exit code 2, nothing written."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY
from recbole.data.dataset import Dataset
from recbole.utils import FeatureSource

from recbole_bsarec.cli import main
from recbole_bsarec.data.protocol import create_dataset
from recbole_bsarec.data.source import ensure_dataset
from recbole_bsarec.pipeline import build_config, run_recbole

HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"
GOOD = "".join(f"{u}\t{i}\t{t}\n" for u in (1, 2) for t, i in enumerate(range(3, 28)))  # 25 items, lines 2-51
RUN_PY = Path(__file__).resolve().parents[1] / "run.py"


def write_dataset(root, name, text):
    """``<root>/dataset/<name>/<name>.inter`` holding ``text``; returns the data_path."""
    folder = Path(root) / "dataset" / name
    folder.mkdir(parents=True)
    (folder / f"{name}.inter").write_text(text, encoding="utf-8")
    return str(Path(root) / "dataset")


def refusal(workdir, capsys, dataset, data_path):
    """stderr of training on ``dataset``, which must be refused: exit 2, one line, nothing written but the data."""
    assert main(["--model=BSARec", f"--dataset={dataset}", f"--config_files={TINY}", f"--data_path={data_path}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert sorted(p.name for p in workdir.iterdir()) == ["dataset"]  # no runs/, log/ or anything else
    return err


ODD_ITEMS = ['a"b', '"quoted"', '"', '"open', "NA", "null", "x" * 140_000]  # 140,000 > csv's 131,072 limit


def test_quotes_long_tokens_and_na_words_are_plain_ids_that_train(workdir):
    rows = [f"{u}\t{item}\t{t}" for u in (1, 2, 3) for t, item in enumerate(ODD_ITEMS + [str(n) for n in range(20)])]
    data_path = write_dataset(workdir, "odd", HEADER + "\n".join(rows) + "\n")
    for model in ("BSARec", "BPR"):  # a sequential and a general model: both read through the package's parser
        dataset = create_dataset(build_config(model, "odd", [TINY], {"data_path": data_path}))
        assert set(ODD_ITEMS) <= set(dataset.field2id_token["item_id"]), model
        assert dataset.inter_num == len(rows)
    result = run_recbole("BSARec", "odd", [TINY], {"data_path": data_path, "epochs": 1})
    assert 0 <= result["test_result"]["hit@10"] <= 1


def test_blank_lines_are_skipped_by_check_and_dataset_alike(workdir):
    lines = GOOD.splitlines(keepends=True)
    text = HEADER + "".join(lines[:10]) + "\n" + "\t\t\n" + "".join(lines[10:]) + "\n\n"
    config = build_config("BSARec", "gaps", [TINY], {"data_path": write_dataset(workdir, "gaps", text)})
    ensure_dataset(config)  # the check passes it
    assert create_dataset(config).inter_num == len(lines)


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("1\t7\tyesterday\n", "line 54: timestamp 'yesterday' is not a number: write a finite number"),
        ("1\t7\t8\t9\n", "line 54, saw 4; every row needs 3 fields"),
        ("\t7\t9\n", "line 54: user_id is empty: fill it in or remove the line"),
        ("2\t27\t24\n", "line 54 repeats line 51 (user_id, item_id, timestamp): remove duplicate rows"),
    ],
    ids=["text-timestamp", "extra-field", "no-id", "dup"],
)
def test_line_numbers_count_blank_lines(workdir, capsys, bad_row, message):
    data_path = write_dataset(workdir, "bad", HEADER + GOOD + "\n\n" + bad_row)  # blank lines 52 and 53
    err = refusal(workdir, capsys, "bad", data_path)
    assert "bad.inter" in err and message in err


def test_header_naming_a_column_twice_is_one_line(workdir, capsys):
    data_path = write_dataset(workdir, "bad", "user_id:token\titem_id:token\titem_id:float\n" + GOOD)
    err = refusal(workdir, capsys, "bad", data_path)
    assert "bad.inter, line 1: the header names column 'item_id' twice: rename or remove one" in err


@pytest.mark.parametrize(
    ("value", "problem"),
    [("inf", "is not finite"), ("-inf", "is not finite"), ("Infinity", "is not finite"), ("nan", "is not a number")],
)
def test_non_finite_float_is_refused_naming_line_and_value(workdir, capsys, value, problem):
    data_path = write_dataset(workdir, "bad", HEADER + GOOD + f"1\t7\t{value}\n")
    err = refusal(workdir, capsys, "bad", data_path)
    assert f"bad.inter, line 52: timestamp '{value}' {problem}: write a finite number, e.g. 0 or 1.5" in err


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ("a/b", "--dataset='a/b' is not a plain folder name"),
        ("a\\b", "--dataset='a\\\\b' is not a plain folder name"),
        (".", "--dataset='.' is not a plain folder name"),
        ("..", "--dataset='..' is not a plain folder name"),
        ("..x", "--dataset='..x' is not a plain folder name"),
        ("é" * 125, "--dataset is 250 bytes long: its file <dataset>.inter would exceed the file system's 255-byte"),
    ],
    ids=["slash", "backslash", "dot", "dotdot", "leading-dotdot", "name-too-long"],
)
def test_dataset_that_is_not_a_plain_name_is_refused_before_anything_is_created(workdir, capsys, dataset, message):
    folder = workdir / "dataset" / "a" / "b" / "a"  # where RecBole would look for --dataset=a/b's a/b.inter
    folder.mkdir(parents=True)
    (folder / "b.inter").write_text(HEADER + GOOD, encoding="utf-8")
    assert message in refusal(workdir, capsys, dataset, workdir / "dataset")


def test_dataset_path_too_long_for_the_system_is_refused(workdir, capsys):
    write_dataset(workdir, "x", HEADER + GOOD)
    data_path = os.path.join(str(workdir / "dataset"), *["d" * 200] * 21)  # over 4096 bytes
    err = refusal(workdir, capsys, "x", data_path)
    assert "--dataset: the path of its file <dataset>.inter would be" in err
    assert "use a shorter --dataset or move the data to a shorter --data_path" in err


def test_reader_keeps_what_recbole_does_after_reading(workdir):
    data_path = write_dataset(workdir, "plain", HEADER + GOOD)
    item_file = workdir / "plain.item"
    item_file.write_text(
        "item_id:token\ttitle:token_seq\tprice:float\tvec:float_seq\n"
        "3\tred big shoe\t1.5\t0.1 0.2 0.3\n4\t\t\t1\n5\tblue\t2\t\n",
        encoding="utf-8",
    )
    settings = {"load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": "*"}, "seq_len": {"title": 2}}
    config = build_config("BSARec", "plain", [TINY], {"data_path": data_path, **settings})
    dataset = create_dataset(config)
    ours = dataset._load_feat(str(item_file), FeatureSource.ITEM)
    ours_props = (dict(dataset.field2type), dict(dataset.field2seqlen), dict(dataset.field2bucketnum))
    recbole = Dataset._load_feat(dataset, str(item_file), FeatureSource.ITEM)
    assert ours_props == (dict(dataset.field2type), dict(dataset.field2seqlen), dict(dataset.field2bucketnum))
    assert list(ours.columns) == list(recbole.columns) == ["item_id", "title", "price", "vec"]
    for name in ours.columns:
        assert [repr(v) for v in ours[name]] == [repr(v) for v in recbole[name]], name


def test_a_run_prints_no_pandas_future_warnings(workdir):
    data_path = write_dataset(workdir, "small", HEADER + GOOD)
    argv = ["--model=BSARec", "--dataset=small", f"--config_files={TINY}", f"--data_path={data_path}", "--epochs=1"]
    done = subprocess.run([sys.executable, str(RUN_PY), *argv], cwd=workdir, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "A value is trying to be set on a copy" not in done.stderr
