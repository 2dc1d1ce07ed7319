"""The BSARec paper's preprocessed datasets (one line per user: ``user item item ...``, in time order)
as RecBole atomic files, with each item's position in its user's sequence as the timestamp."""

import os
import shutil
import tempfile
from pathlib import Path

from recbole_bsarec.data.source import check_data_path, check_dataset_name
from recbole_bsarec.errors import DatasetError

HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"


def read_sequences(txt_path):
    """``[(user, [item, ...]), ...]`` in file order; a malformed line raises DatasetError naming it."""
    try:
        with open(txt_path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"cannot read {txt_path} ({err}): give the path of one of the paper's .txt files") from err
    sequences, first_line = [], {}
    for number, line in enumerate(lines, 1):
        problem = line_problem(line.split(), first_line)
        if problem:
            raise DatasetError(
                f"{txt_path}, line {number} {problem}: each line must be 'user_id item_id item_id ...' "
                "with positive integer ids, one line per user; fix or remove that line"
            )
        ids = [int(token) for token in line.split()]
        first_line[ids[0]] = number
        sequences.append((ids[0], ids[1:]))
    if not sequences:
        raise DatasetError(f"{txt_path} holds no users: expected lines 'user_id item_id item_id ...'")
    return sequences


def line_problem(tokens, first_line):
    """What is wrong with one line's tokens (None if nothing), given the lines of the users seen so far."""
    if not tokens:
        return "is empty"
    if len(tokens) < 4:
        items = len(tokens) - 1
        return f"has {items} item(s), fewer than 3 (leave-one-out needs a training, a validation and a test item)"
    try:
        ids = [int(token) for token in tokens]
    except ValueError:
        return "holds a token that is not an integer"
    if min(ids) <= 0:
        return "holds an id that is not positive"
    if ids[0] in first_line:
        return f"repeats user {ids[0]} (first on line {first_line[ids[0]]})"
    return None


def inter_text(sequences):
    """The ``.inter`` file's text: one row per interaction, the timestamp being the position 0, 1, 2, ..."""
    rows = (f"{user}\t{item}\t{step}\n" for user, items in sequences for step, item in enumerate(items))
    return HEADER + "".join(rows)


def write_sequences(sequences, data_path, name):
    """Write ``<data_path>/<name>/<name>.inter`` atomically (staged in a temporary folder, then renamed).

    An existing folder whose ``.inter`` holds the same text is left alone; any other existing one is refused.
    """
    target = Path(data_path) / name
    inter_file = target / f"{name}.inter"
    check_dataset_name(name, "--name")
    check_data_path(inter_file, "--name")
    text = inter_text(sequences)
    if target.exists():
        if inter_file.is_file() and inter_file.read_text(encoding="utf-8") == text:
            return inter_file
        raise DatasetError(f"{target} already exists with other content: remove it or choose another --name")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent)
    try:
        folder = Path(staging) / name  # made with mkdir, so it gets the usual permissions, not mkdtemp's 0700
        folder.mkdir()
        (folder / inter_file.name).write_text(text, encoding="utf-8")
        os.rename(folder, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return inter_file


def convert(txt_path, data_path, name=None):
    """Import one of the paper's ``.txt`` files as RecBole dataset ``name`` (default: the file's stem in lower
    case, the name of its ``properties/dataset`` yaml: LastFM.txt -> lastfm)."""
    return write_sequences(read_sequences(txt_path), data_path, name or Path(txt_path).stem.lower())
