"""The paper's .txt datasets as RecBole atomic files: content, loading, leave-one-out targets, bad input."""

import os

import pytest
from conftest import TINY, shared_paper_file
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_bsarec.data import paper
from recbole_bsarec.data.__main__ import main
from recbole_bsarec.errors import DatasetError
from recbole_bsarec.pipeline import build_config

LINES = {7: [5, 6, 7, 8], 2: [8, 9, 10], 3: [5, 9, 10, 11, 12]}


@pytest.fixture
def three_users(tmp_path):
    """A 3-user file in the paper's format; users out of numeric order, items shared between users."""
    txt = tmp_path / "three.txt"
    txt.write_text("".join(f"{user} {' '.join(map(str, items))}\n" for user, items in LINES.items()))
    return txt


def test_inter_file_has_one_row_per_interaction_with_the_position_as_timestamp(three_users, tmp_path):
    inter_file = paper.convert(three_users, tmp_path / "dataset")
    assert inter_file == tmp_path / "dataset" / "three" / "three.inter"
    rows = inter_file.read_text().splitlines()
    assert rows[0] == "user_id:token\titem_id:token\ttimestamp:float"
    expected = [f"{user}\t{item}\t{step}" for user, items in LINES.items() for step, item in enumerate(items)]
    assert rows[1:] == expected
    assert os.listdir(tmp_path / "dataset") == ["three"]


def test_recbole_loads_it_and_tests_each_user_on_the_last_item_of_its_line(three_users, workdir):
    paper.convert(three_users, workdir / "dataset")
    config = build_config("BSARec", "three", [TINY], {"data_path": str(workdir / "dataset")})
    init_seed(config["seed"], config["reproducibility"])
    _, _, test = data_preparation(config, create_dataset(config))
    targets = test._dataset
    users = targets.id2token(targets.uid_field, targets.inter_feat[targets.uid_field])
    items = targets.id2token(targets.iid_field, targets.inter_feat[targets.iid_field])
    assert {int(user): int(item) for user, item in zip(users, items, strict=True)} == {
        user: line[-1] for user, line in LINES.items()
    }


def test_same_content_is_left_alone_and_other_content_is_refused(three_users, tmp_path):
    inter_file = paper.convert(three_users, tmp_path)
    before = inter_file.stat()
    assert paper.convert(three_users, tmp_path) == inter_file
    assert inter_file.stat().st_ino == before.st_ino and inter_file.stat().st_mtime_ns == before.st_mtime_ns
    three_users.write_text("1 2 3 4\n")
    with pytest.raises(DatasetError, match="already exists with other content"):
        paper.convert(three_users, tmp_path)
    assert inter_file.stat().st_mtime_ns == before.st_mtime_ns


def test_a_failed_write_leaves_nothing_behind(three_users, tmp_path, monkeypatch):
    def interrupted(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(paper.os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        paper.convert(three_users, tmp_path / "dataset")
    assert os.listdir(tmp_path / "dataset") == []


def test_command_line_prints_where_it_wrote(three_users, tmp_path, capsys):
    assert main([str(three_users), "--data_path", str(tmp_path / "data"), "--name", "small"]) == 0
    assert str(tmp_path / "data" / "small" / "small.inter") in capsys.readouterr().out


MALFORMED = [
    ("1 2 3 4\n2 4 x 5\n", "line 2 holds a token that is not an integer"),
    ("1 2 3 4\n\n2 3 4 5\n", "line 2 is empty"),
    ("1 2 3 4\n2 3 4\n", "line 2 has 2 item(s), fewer than 3"),
    ("1 2 3 4\n2\n", "line 2 has 0 item(s), fewer than 3"),
    ("1 2 3 0\n", "line 1 holds an id that is not positive"),
    ("-1 2 3 4\n", "line 1 holds an id that is not positive"),
    ("1 2 3 4\n1 4 5 6\n", "line 2 repeats user 1 (first on line 1)"),
    ("", "holds no users"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_input_is_one_line_exit_2_and_leaves_no_folder(tmp_path, capsys, text, message):
    (tmp_path / "bad.txt").write_text(text)
    assert main([str(tmp_path / "bad.txt"), "--data_path", str(tmp_path / "dataset")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "bad.txt" in err
    assert message in err
    assert os.listdir(tmp_path) == ["bad.txt"]


def test_paper_lastfm_imports_with_its_published_counts(workdir):
    inter_file = paper.convert(shared_paper_file("LastFM.txt"), workdir / "dataset")
    assert inter_file == workdir / "dataset" / "lastfm" / "lastfm.inter"
    config = build_config("BSARec", "lastfm", [TINY], {"data_path": str(workdir / "dataset")})
    data = create_dataset(config)
    assert (data.user_num - 1, data.inter_num) == (1090, 52551)  # user_num counts RecBole's padding id 0
    assert len(inter_file.read_text().splitlines()) == 1 + 52551
