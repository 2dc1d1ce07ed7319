"""Hostile input, systematically: malformed atomic files, odd ids, and property-based checks of the paper
importer and of configuration validation. Every refusal is one line, exit code 2, nothing written."""

import math
from pathlib import Path

import pytest
from conftest import TINY, write_rule_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recbole_bsarec.cli import main
from recbole_bsarec.data.paper import convert
from recbole_bsarec.errors import UsageError
from recbole_bsarec.pipeline import build_config, run

HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"
GOOD = "".join(f"{u}\t{i}\t{t}\n" for u in (1, 2) for t, i in enumerate((3, 4, 5, 6)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("user_id\titem_id\ttimestamp:float\n" + GOOD, "line 1: header column 'user_id' is not NAME:TYPE"),
        ("user_id:token\titem_id:int\ttimestamp:float\n" + GOOD, "line 1: header column 'item_id:int'"),
        ("user_id:token\titem_id:token\n1\t3\n1\t4\n1\t5\n", "line 1: no column 'timestamp' in the header"),
        (HEADER + GOOD + "1\t7\tyesterday\n", "line 10: timestamp 'yesterday' is not a number"),
        (HEADER + GOOD + "1\t7\t8\t9\n", "every row needs 3 fields"),
        (HEADER, "holds no interactions, only a header"),
        (HEADER + "".join(f"{u}\t{u}\t0\n{u}\t{u + 1}\t1\n" for u in range(30)), "every user has fewer than 3"),
        (HEADER + GOOD + "2\t6\t3\n", "line 10 repeats line 9 (user_id, item_id, timestamp): remove duplicate rows"),
        (HEADER + GOOD + " \t7\t9\n", "line 10: user_id is empty"),
        (HEADER + GOOD, "has 4 distinct items, fewer than topk=20 to rank"),
    ],
    ids=[
        "no-type",
        "bad-type",
        "missing-column",
        "text-timestamp",
        "extra-field",
        "empty",
        "all-short",
        "dup",
        "no-id",
        "few-items",
    ],
)
def test_malformed_atomic_file_is_one_line_exit_2_nothing_written(workdir, capsys, text, message):
    folder = workdir / "dataset" / "bad"
    folder.mkdir(parents=True)
    (folder / "bad.inter").write_text(text, encoding="utf-8")
    argv = ["--model=BSARec", "--dataset=bad", f"--config_files={TINY}", f"--data_path={workdir / 'dataset'}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "bad.inter" in err
    assert sorted(p.name for p in workdir.iterdir()) == ["dataset"]  # no log/, saved/ or anything else


def test_file_in_another_encoding_is_one_line(workdir, capsys):
    folder = workdir / "dataset" / "latin"
    folder.mkdir(parents=True)
    rows = "".join(f"{u}\tcaf\xe9 {i}\t{i}\n" for u in range(3) for i in range(25))
    (folder / "latin.inter").write_bytes((HEADER + rows).encode("latin-1"))
    assert main(["--model=BSARec", "--dataset=latin", f"--data_path={workdir / 'dataset'}"]) == 2
    assert "latin.inter is not utf-8 text (invalid continuation byte): save it as utf-8" in capsys.readouterr().err


def test_ids_with_spaces_and_unicode_train_like_any_other(workdir):
    folder = workdir / "dataset" / "odd"
    folder.mkdir(parents=True)
    users = ["ана", "user two", "東京", "x y z"]
    items = ["café", "naïve item", "ß", "日本", "a b"] + [f"élément {n}" for n in range(20)]
    rows = [f"{u}\t{items[(k + t) % len(items)]}\t{t}" for k, u in enumerate(users) for t in range(len(items))]
    (folder / "odd.inter").write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    result = run("BSARec", "odd", [TINY], {"data_path": str(workdir / "dataset"), "epochs": 1})
    assert 0 <= result["test_result"]["hit@10"] <= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.integers(1, 10**9), st.lists(st.integers(1, 10**9), min_size=3, max_size=12), min_size=1, max_size=8
    )
)
def test_importer_round_trips_any_valid_file(tmp_path_factory, sequences):
    folder = tmp_path_factory.mktemp("import")
    txt = folder / "Data.txt"
    txt.write_text("".join(f"{u} {' '.join(map(str, items))}\n" for u, items in sequences.items()))
    inter = convert(txt, folder / "dataset")
    lines = Path(inter).read_text().splitlines()
    assert lines[0] == HEADER.strip()
    read_back = {}
    for line in lines[1:]:
        user, item, step = line.split("\t")
        assert int(float(step)) == len(read_back.setdefault(int(user), []))
        read_back[int(user)].append(int(item))
    assert read_back == sequences


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(max_size=30), min_size=1, max_size=6))
def test_importer_refuses_garbage_with_a_line_number_and_writes_nothing(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("garbage")
    txt = folder / "Data.txt"
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        convert(txt, folder / "dataset")
    except UsageError as err:
        assert "\n" not in str(err) and str(txt) in str(err)
        assert not (folder / "dataset" / "data").exists()
        assert not [p for p in (folder / "dataset").glob("*")] if (folder / "dataset").exists() else True


NUMBERS = st.one_of(
    st.integers(-5, 100), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["x", None, True])
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(alpha=NUMBERS, c=NUMBERS, n_heads=NUMBERS, dropout=NUMBERS)
def test_any_hyperparameter_values_build_or_fail_with_one_clear_line(tmp_path_factory, alpha, c, n_heads, dropout):
    data = write_rule_dataset(tmp_path_factory.mktemp("data"))
    values = {"alpha": alpha, "c": c, "n_heads": n_heads, "hidden_dropout_prob": dropout}
    try:
        config = build_config("BSARec", "rule", [TINY], {"data_path": data, **values})
    except UsageError as err:
        assert "\n" not in str(err)
        return
    assert 0 <= config["alpha"] <= 1 and not math.isnan(config["alpha"])
    assert isinstance(config["c"], int) and config["c"] >= 1
    assert config["alpha"] == 1 or config["hidden_size"] % config["n_heads"] == 0  # alpha 1 builds no attention
    assert 0 <= config["hidden_dropout_prob"] < 1
