"""An atomic interaction file checked before RecBole reads it, so that a malformed one is one line naming the
file, the line and the fix, not a traceback from deep inside pandas or RecBole."""

import csv
from collections import Counter

import pandas as pd

from recbole_bsarec.errors import DatasetError

TYPES = ("token", "token_seq", "float", "float_seq")
MIN_ITEMS = 3  # leave-one-out: one training, one validation and one test item


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
        fields.append((name, kind))
    return fields


def check_inter_file(path, config):
    """Refuse a header without the needed columns, rows with the wrong number of fields, non-numeric float
    values, empty ids, no rows at all, exact duplicate rows, fewer items than the largest top-k, and data
    where no user has enough items."""
    separator, encoding = config["field_separator"], config["encoding"] or "utf-8"
    fields = header_fields(path, separator, encoding)
    names = dict(fields)
    needed = [config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]]
    if config["TIME_FIELD"] in (config["load_col"] or {}).get("inter", []):
        needed.append(config["TIME_FIELD"])
    for name in needed:
        if name not in names:
            header = separator.join(f"{n}:{k}" for n, k in fields)
            raise DatasetError(f"{path}, line 1: no column '{name}' in the header '{header}': add it")
    try:
        rows = pd.read_csv(
            path,
            sep=separator,
            dtype=str,
            encoding=encoding,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            engine="c" if len(separator) == 1 else "python",
        )
    except pd.errors.ParserError as err:
        raise DatasetError(f"{path}: {' '.join(str(err).split())}; every row needs {len(fields)} fields") from err
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path} is not {encoding} text ({err.reason}): save it as {encoding}") from err
    if rows.empty:
        raise DatasetError(f"{path} holds no interactions, only a header: add rows or choose another dataset")
    for (name, kind), column in zip(fields, rows.columns, strict=True):
        values = rows[column]
        if kind == "float":
            bad = pd.to_numeric(values, errors="coerce").isna()
            if bad.any():
                line = int(bad.to_numpy().argmax()) + 2
                raise DatasetError(f"{path}, line {line}: {name} '{values.iloc[line - 2]}' is not a number")
        if name in needed[:2]:
            empty = values.str.strip() == ""
            if empty.any():
                raise DatasetError(f"{path}, line {int(empty.to_numpy().argmax()) + 2}: {name} is empty")
    keys = [f"{n}:{k}" for n, k in fields if n in needed]
    repeated = rows.duplicated(subset=keys)
    if repeated.any():
        line = int(repeated.to_numpy().argmax()) + 2
        first = rows.index[(rows[keys] == rows.loc[line - 2, keys]).all(axis=1)][0] + 2
        raise DatasetError(f"{path}, line {line} repeats line {first} ({', '.join(needed)}): remove duplicate rows")
    items = rows[f"{config['ITEM_ID_FIELD']}:{names[config['ITEM_ID_FIELD']]}"].nunique()
    if items < max(config["topk"]):
        raise DatasetError(
            f"{path} has {items} distinct items, fewer than topk={max(config['topk'])} to rank: "
            f"rank fewer (e.g. --topk=[{min(5, items)}]) or use a larger dataset"
        )
    counts = Counter(rows[f"{config['USER_ID_FIELD']}:{names[config['USER_ID_FIELD']]}"])
    if max(counts.values()) < MIN_ITEMS:
        raise DatasetError(
            f"{path}: every user has fewer than {MIN_ITEMS} interactions; leave-one-out needs a training, a "
            "validation and a test item per user"
        )
