"""Hostile input, systematically: malformed atomic files, odd ids, and property-based checks of the paper
importer and of configuration validation. Every refusal is one line, exit code 2, nothing written."""

import functools
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, write_rule_dataset
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from recbole_bsarec.cli import main
from recbole_bsarec.data.paper import convert
from recbole_bsarec.errors import UsageError
from recbole_bsarec.pipeline import build_config, run_recbole
from recbole_bsarec.settings import MAPPINGS, NAME_LISTS, PATH_KEYS, rule_for, vocabulary

ROOT = Path(__file__).resolve().parents[1]
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
    result = run_recbole("BSARec", "odd", [TINY], {"data_path": str(workdir / "dataset"), "epochs": 1})
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


def first_bad_line(lines):
    """The number of the first line the importer must refuse (None if every line is valid), decided here
    independently of the importer: at least 4 integer tokens, all positive, the user not seen before."""
    users = set()
    for number, line in enumerate(lines, 1):
        try:
            ids = [int(token) for token in line.split()]
        except ValueError:
            return number
        if len(ids) < 4 or min(ids) <= 0 or ids[0] in users:
            return number
        users.add(ids[0])
    return None


# garbage, or a line of integers that may be valid or nearly (too short, zero or negative ids, a repeated user)
GARBAGE_LINE = st.one_of(
    st.text(max_size=30), st.lists(st.integers(-1, 30), max_size=5).map(lambda ids: " ".join(map(str, ids)))
)


@st.composite
def paper_lines(draw):
    """A valid file's lines (distinct users, 3-8 items, space or tab separated), then up to 2 lines replaced by
    garbage, by a copy of a line (a repeated user) or by a line cut to 0-3 tokens (too few items)."""
    users = draw(st.lists(st.integers(1, 30), min_size=1, max_size=6, unique=True))
    separator = draw(st.sampled_from([" ", "\t", "  "]))
    lines = [separator.join(map(str, [u, *draw(st.lists(st.integers(1, 30), min_size=3, max_size=8))])) for u in users]
    for _ in range(draw(st.integers(0, 2))):
        cut = st.tuples(st.sampled_from(lines), st.integers(0, 3)).map(lambda cut: " ".join(cut[0].split()[: cut[1]]))
        lines[draw(st.integers(0, len(lines) - 1))] = draw(st.one_of(GARBAGE_LINE, st.sampled_from(lines), cut))
    return lines


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paper_lines())
def test_importer_refuses_garbage_with_a_line_number_and_writes_nothing(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("garbage")
    txt = folder / "Data.txt"
    txt.write_text("\n".join(lines) + "\n", encoding="utf-8")
    file_lines = txt.read_text(encoding="utf-8").splitlines()  # as the importer reads them
    bad = first_bad_line(file_lines)
    if bad is None:  # every line valid: the atomic file holds exactly those lines, position as timestamp
        inter = convert(txt, folder / "dataset")
        rows = Path(inter).read_text().splitlines()
        assert rows[0] == HEADER.strip()
        ids = [[int(token) for token in line.split()] for line in file_lines]
        assert rows[1:] == [f"{line[0]}\t{item}\t{step}" for line in ids for step, item in enumerate(line[1:])]
    else:  # refused in one line naming the file and its first bad line, and nothing written
        with pytest.raises(UsageError) as refused:
            convert(txt, folder / "dataset")
        message = str(refused.value)
        assert "\n" not in message and message.startswith(f"{txt}, line {bad} ")
        assert not (folder / "dataset").exists()


NUMBERS = st.one_of(
    st.integers(-5, 100), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["x", None, True])
)


def is_number(value, kind):
    return isinstance(value, kind) and not isinstance(value, bool)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(alpha=NUMBERS, c=NUMBERS, n_heads=NUMBERS, dropout=NUMBERS)
@example(alpha=0.7, c=3, n_heads=2, dropout=0.5)  # valid: must build (a validator refusing everything fails here)
@example(alpha=1.5, c=3, n_heads=2, dropout=0.5)
def test_any_hyperparameter_values_build_or_fail_with_one_clear_line(tmp_path_factory, alpha, c, n_heads, dropout):
    data = write_rule_dataset(tmp_path_factory.mktemp("data"))
    values = {"alpha": alpha, "c": c, "n_heads": n_heads, "hidden_dropout_prob": dropout}
    # plainly valid for hidden_size 16 and MAX_ITEM_LIST_LENGTH 10 (tiny.yaml): such values must build
    valid = is_number(alpha, float) and 0 <= alpha <= 1 and is_number(c, int) and 1 <= c <= 3
    valid = valid and is_number(n_heads, int) and n_heads in (1, 2, 4, 8, 16)
    valid = valid and is_number(dropout, float) and 0 <= dropout < 1
    try:
        config = build_config("BSARec", "rule", [TINY], {"data_path": data, **values})
    except UsageError as err:
        assert "\n" not in str(err) and not valid, err
        return
    assert 0 <= config["alpha"] <= 1 and not math.isnan(config["alpha"])
    assert isinstance(config["c"], int) and config["c"] >= 1
    assert config["alpha"] == 1 or config["hidden_size"] % config["n_heads"] == 0  # alpha 1 builds no attention
    assert 0 <= config["hidden_dropout_prob"] < 1


# --- every setting, from the command line: wrong types and ranges, unknown keys ---------------------------------

CHECKED_MODELS = ("BSARec", "SASRec", "GRU4Rec")
# values each rule rules out, beside those of the default's type
OUT_OF_RANGE = {
    "epochs": ["0", "-1"],
    "seed": ["-1", "4294967296", "1e20"],
    "learning_rate": ["0", "-1"],
    "stopping_step": ["-1"],
    "eval_step": ["0"],
    "MAX_ITEM_LIST_LENGTH": ["0"],
    "topk": ["0", "[]", "[5, 0]"],
    "metrics": ["['Foo']", "Foo"],
    "learner": ["foo"],
    "state": ["loud"],
    "hidden_act": ["GELU", "softmax"],
    "loss_type": ["XYZ", "ce"],
    "layer_norm_eps": ["0"],
}


@functools.cache
def rules_of(model):
    """(key, default) of every setting ``model`` reads that has a rule; paths aside (any text names a path)."""
    config = build_config(model, "rule", [TINY], {"data_path": "unused"})
    return tuple(
        (key, default)
        for key, default in sorted(config.internal_config_dict.items())
        if rule_for(key, default) is not None and key not in PATH_KEYS
    )


def wrong_values(key, default):
    """Command-line values that ``key``'s rule must refuse."""
    values = list(OUT_OF_RANGE.get(key, []))
    if key.endswith("_size") or key in ("n_layers", "n_heads"):
        values += ["0", "-3"]
    if key.endswith("dropout_prob"):
        values += ["1.0", "-0.1"]
    if isinstance(default, bool):
        values += ["maybe", "2", "1.5"]
    elif isinstance(default, int):
        values += ["1.5", "abc", "True"]
    elif isinstance(default, float):
        values += ["nan", "inf", "-inf", "abc"]
    elif isinstance(default, (list, dict)) or key in MAPPINGS:
        values += ["abc"] + ([] if key == "topk" else ["5"])
    elif key in NAME_LISTS:
        values += ["5", "{'a': 1}"]
    elif isinstance(default, str) or default is None:
        values += ["[1, 2]", "{'a': 1}"]
    return values


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_setting_refuses_a_wrong_type_or_range_in_one_line_writing_nothing(workdir, capsys, data):
    for path in workdir.iterdir():  # an example that wrote something fails; the next starts clean again
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    write_rule_dataset(workdir / "dataset")
    model = data.draw(st.sampled_from(CHECKED_MODELS))
    key, default = data.draw(st.sampled_from(rules_of(model)))
    value = data.draw(st.sampled_from(wrong_values(key, default)))
    argv = [f"--model={model}", "--dataset=rule", f"--config_files={TINY}", f"--data_path={workdir / 'dataset'}"]
    assert main([*argv, f"--{key}={value}"]) == 2, (model, key, value)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert f"--{key}={value}" in err
    assert any(fix in err for fix in ("e.g.", "one of", "True or False", "use c <=")), err
    assert sorted(p.name for p in workdir.iterdir()) == ["dataset"]


# the hostile inputs of the first user report, each with what the one line must say
REPORTED = [
    (["--learning_rate=nan"], "--learning_rate=nan is not a finite number: use e.g. --learning_rate=0.001"),
    (["--learning_rate=inf"], "--learning_rate=inf is not a finite number"),
    (["--learning_rate=-1"], "--learning_rate=-1 must be > 0"),
    (["--train_batch_size=0"], "--train_batch_size=0 is not an integer >= 1: use e.g. --train_batch_size=256"),
    (["--train_batch_size=-5"], "--train_batch_size=-5 is not an integer >= 1"),
    (["--hidden_size=0"], "--hidden_size=0 is not an integer >= 1"),
    (["--n_layers=0"], "--n_layers=0 is not an integer >= 1"),
    (["--seed=1.5"], "--seed=1.5 is not an integer from 0 to 4294967295"),
    (["--seed=abc"], "--seed=abc is not an integer"),
    (["--seed=1e20"], "--seed=1e20 is not an integer"),
    (["--epochs=abc"], "--epochs=abc is not an integer >= 1"),
    (["--epochs=1.5"], "--epochs=1.5 is not an integer >= 1"),
    (["--epochs=0"], "--epochs=0 is not an integer >= 1"),
    (["--epochs=-1"], "--epochs=-1 is not an integer >= 1"),
    (["--valid_metric=FOO@10"], "--valid_metric=FOO@10 is not one of the evaluated metrics (hit, ndcg, mrr)"),
    (["--valid_metric=NDCG@7"], "--valid_metric=NDCG@7 has a cut-off that topk=[5, 10, 20] does not evaluate"),
    (["--learing_rate=1e-4"], "--learing_rate=1e-4: unknown setting 'learing_rate'; did you mean learning_rate"),
    (["--model=SASRec", "--alpha=0.5"], "--alpha=0.5: alpha is not a setting of SASRec"),
]


@pytest.mark.parametrize(("args", "message"), REPORTED, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_reported_hostile_settings_are_one_line_exit_2_nothing_written(workdir, capsys, args, message):
    data = write_rule_dataset(workdir / "dataset")
    argv = ["--model=BSARec", "--dataset=rule", f"--config_files={TINY}", f"--data_path={data}", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert sorted(p.name for p in workdir.iterdir()) == ["dataset"]


IDENTIFIERS = st.from_regex(r"[a-z][a-z_]{2,20}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(key=IDENTIFIERS)
def test_an_unknown_key_is_refused_with_the_closest_known_ones(key):
    assume(key not in vocabulary() | {"model", "dataset"})
    with pytest.raises(UsageError, match=rf"^--{key}=1: unknown setting '{key}'; .*custom_keys"):
        build_config("BSARec", "rule", [TINY], {"data_path": "unused"}, [f"--{key}=1"])


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_typo_of_a_known_key_suggests_that_key(data):
    key = data.draw(st.sampled_from([k for k, _ in rules_of("BSARec") if len(k) >= 6]))
    at = data.draw(st.integers(0, len(key) - 1))
    typo = key[:at] + key[at + 1 :]  # one letter dropped
    assume(typo not in vocabulary())
    with pytest.raises(UsageError, match="did you mean") as caught:
        build_config("BSARec", "rule", [TINY], {"data_path": "unused"}, [f"--{typo}=1"])
    assert key in str(caught.value).split("did you mean", 1)[1]


def test_unknown_key_in_a_yaml_names_the_file_and_custom_keys_let_one_through(workdir, capsys):
    data = write_rule_dataset(workdir / "dataset")
    (workdir / "extra.yaml").write_text("num_layres: 3\n")
    argv = ["--model=BSARec", "--dataset=rule", f"--config_files={TINY} extra.yaml", f"--data_path={data}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "num_layres: 3 in config file 'extra.yaml': unknown setting 'num_layres'" in err
    (workdir / "extra.yaml").write_text("custom_keys: [num_layres]\nnum_layres: 3\n")
    config = build_config("BSARec", "rule", [TINY, "extra.yaml"], {"data_path": data})
    assert config["num_layres"] == 3


@pytest.mark.parametrize(
    ("text", "kind"), [("- epochs\n- 3\n", "a list"), ("3\n", "one value"), ("", "nothing"), ("{}\n", "nothing")]
)
def test_a_yaml_config_that_is_not_a_mapping_names_the_file(workdir, capsys, text, kind):
    data = write_rule_dataset(workdir / "dataset")
    (workdir / "odd.yaml").write_text(text)
    argv = ["--model=BSARec", "--dataset=rule", "--config_files=odd.yaml", f"--data_path={data}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"config file 'odd.yaml' holds {kind}, not settings" in err
    assert sorted(p.name for p in workdir.iterdir()) == ["dataset", "odd.yaml"]


def test_search_space_value_that_fails_only_inside_a_trial_is_refused_before_ray_starts(workdir, capsys):
    data = write_rule_dataset(workdir / "dataset")
    (workdir / "space.yaml").write_text("train_batch_size: {choice: [0, 64]}\n")
    argv = ["--model=BSARec", "--dataset=rule", f"--config_files={TINY}", f"--data_path={data}"]
    assert main([*argv, "--search=space.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds an impossible configuration" in err and "train_batch_size=0" in err
    assert sorted(p.name for p in workdir.iterdir()) == ["dataset", "space.yaml"]


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "x" * 300])
def test_importer_name_stays_inside_its_data_path(tmp_path, capsys, name):
    from recbole_bsarec.data.__main__ import main as import_main

    txt = tmp_path / "LastFM.txt"
    txt.write_text("1 2 3 4\n2 3 4 5\n")
    assert import_main([str(txt), "--data_path", str(tmp_path / "dataset"), "--name", name]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--name" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LastFM.txt"]


def test_a_search_error_is_the_only_line_on_stderr(workdir):
    data = write_rule_dataset(workdir / "dataset")
    (workdir / "space.yaml").write_text("train_batch_size: {choice: [0, 64]}\n")
    argv = ["--model=BSARec", "--dataset=rule", f"--config_files={TINY}", f"--data_path={data}", "--search=space.yaml"]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *argv], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr  # no warning above it
    assert proc.stderr.startswith("error: search space 'space.yaml' holds an impossible configuration")
