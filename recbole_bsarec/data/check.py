"""Reading atomic files, and an interaction file checked before RecBole builds a dataset from it, so that a
malformed one is one line naming the file, the line and the fix, not a traceback from deep inside pandas or
RecBole. ``read_atomic`` is the one parser: the check and the package's datasets both read through it, so a
file the check passes is a file the dataset reads the same way."""

import csv
import math
from collections import Counter

import numpy as np
import pandas as pd

from recbole_bsarec.errors import DatasetError

TYPES = ("token", "token_seq", "float", "float_seq")
MIN_ITEMS = 3  # leave-one-out: one training, one validation and one test item
FIRST_ROW = 2  # line number of the first row after the header


def header_fields(path, separator, encoding):
    """``[(name, type), ...]`` from the header line."""
    try:
        with open(path, encoding=encoding) as handle:
            head = handle.readline().rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path} is not {encoding} text ({err.reason}): save it as {encoding}") from err
    fields = []
    for column in head.split(separator):
        name, sep, kind = column.partition(":")
        if not sep or not name or kind not in TYPES:
            raise DatasetError(
                f"{path}, line 1: header column '{column}' is not NAME:TYPE with TYPE one of {', '.join(TYPES)} "
                f"(columns separated by {separator!r}), e.g. user_id:token"
            )
        if name in dict(fields):
            raise DatasetError(f"{path}, line 1: the header names column '{name}' twice: rename or remove one")
        fields.append((name, kind))
    return fields


def read_atomic(path, config, fields):
    """The ``fields`` columns of an atomic file, indexed by line number, each value as its type says.

    One parser for every reader, and a plain one: no quoting (a ``"`` is part of a token), no limit on a
    field's length, no word read as missing (``NA`` is an id like any other), every row exactly the header's
    fields. A line without values (blank, or separators only) is skipped but counted, so that line numbers
    in messages are the file's.
    """
    separator, encoding = config["field_separator"], config["encoding"] or "utf-8"
    try:
        rows = pd.read_csv(
            path,
            sep=separator,
            dtype=str,
            encoding=encoding,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,  # kept so that row i is line i + FIRST_ROW; dropped below
            engine="c" if len(separator) == 1 else "python",  # C: no field size limit; python: separators > 1 char
        ).fillna("")  # the python engine leaves a short row's missing fields NaN, the C engine ""
    except pd.errors.ParserError as err:
        width = len(header_fields(path, separator, encoding))
        raise DatasetError(f"{path}: {' '.join(str(err).split())}; every row needs {width} fields") from err
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path} is not {encoding} text ({err.reason}): save it as {encoding}") from err
    rows.index += FIRST_ROW
    rows = rows[(rows != "").any(axis=1)][[f"{name}:{kind}" for name, kind in fields]]
    rows.columns = [name for name, _ in fields]
    for name, kind in fields:
        if kind == "float":
            rows[name] = floats(path, name, rows[name])
        elif kind.endswith("_seq"):
            rows[name] = sequences(path, name, rows[name], kind, config["seq_separator"])
    return rows


def floats(path, name, values):
    """A float column as float64, NaN where empty (RecBole fills those); any other value must be finite."""
    numbers = pd.to_numeric(values, errors="coerce").astype(np.float64)
    bad = ~np.isfinite(numbers) & (values.str.strip() != "")
    if bad.any():
        line = bad.idxmax()
        not_finite(path, line, name, values[line])
    return numbers


def sequences(path, name, values, kind, seq_separator):
    """A token_seq or float_seq column as RecBole holds it: one array per row, of its non-empty elements."""
    arrays = []
    for line, value in values.items():
        parts = [part for part in value.split(seq_separator) if part]
        if kind == "float_seq":
            try:
                parts = [float(part) for part in parts]
            except ValueError:
                not_finite(path, line, name, value)
            if not np.isfinite(parts).all():
                not_finite(path, line, name, value)
        arrays.append(np.array(parts))
    return pd.Series(arrays, index=values.index, dtype=object)


def not_finite(path, line, name, value):
    """Refuse a float value that is not a finite number, naming its line."""
    try:
        problem = "is not finite" if math.isinf(float(value)) else "is not a number"
    except ValueError:
        problem = "is not a number"
    raise DatasetError(f"{path}, line {line}: {name} '{value}' {problem}: write a finite number, e.g. 0 or 1.5")


def check_inter_file(path, config):
    """Refuse a header without the needed columns, rows with the wrong number of fields, float values that
    are empty or not finite numbers, empty ids, no rows at all, exact duplicate rows, fewer items than the
    largest top-k, and data where no user has enough items."""
    fields = header_fields(path, config["field_separator"], config["encoding"] or "utf-8")
    names = dict(fields)
    needed = [config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]]
    if config["TIME_FIELD"] in (config["load_col"] or {}).get("inter", []):
        needed.append(config["TIME_FIELD"])
    for name in needed:
        if name not in names:
            header = config["field_separator"].join(f"{n}:{k}" for n, k in fields)
            raise DatasetError(f"{path}, line 1: no column '{name}' in the header '{header}': add it")
    rows = read_atomic(path, config, fields)
    if rows.empty:
        raise DatasetError(f"{path} holds no interactions, only a header: add rows or choose another dataset")
    for name, kind in fields:
        if kind == "float" or name in needed:
            empty = rows[name].isna() if kind == "float" else rows[name].str.strip() == ""
            if empty.any():
                raise DatasetError(f"{path}, line {empty.idxmax()}: {name} is empty: fill it in or remove the line")
    repeated = rows.duplicated(subset=needed)
    if repeated.any():
        line = repeated.idxmax()
        first = (rows[needed] == rows.loc[line, needed]).all(axis=1).idxmax()
        raise DatasetError(f"{path}, line {line} repeats line {first} ({', '.join(needed)}): remove duplicate rows")
    items = rows[config["ITEM_ID_FIELD"]].nunique()
    if items < max(config["topk"]):
        raise DatasetError(
            f"{path} has {items} distinct items, fewer than topk={max(config['topk'])} to rank: "
            f"rank fewer (e.g. --topk=[{min(5, items)}]) or use a larger dataset"
        )
    if max(Counter(rows[config["USER_ID_FIELD"]]).values()) < MIN_ITEMS:
        raise DatasetError(
            f"{path}: every user has fewer than {MIN_ITEMS} interactions; leave-one-out needs a training, a "
            "validation and a test item per user"
        )
