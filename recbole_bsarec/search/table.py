"""A search's outputs: every trial as CSV and markdown, and the best trial's settings as a yaml for run.py."""

import math
import re

import yaml

from recbole_bsarec.atomic import write_csv, write_text

TEST_COLUMNS = ["hit@10", "ndcg@10", "hit@20", "ndcg@20"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def trial_rows(results, keys, mode="max"):
    """One dict per trial of a Ray ResultGrid: its settings, how it ended, best validation score, test
    metrics at its best validation epoch, epochs run, time, and where it ran."""
    rows = []
    for result in results:
        metrics = result.metrics or {}
        trial_id = metrics.get("trial_id") or result.path.rstrip("/").rsplit("/", 1)[-1]
        if result.error is not None:
            status = "error: " + error_line(result.error)
        else:
            status = metrics.get("end") or "stopped by scheduler"
        row = {"trial": trial_id, **{key: (result.config or {}).get(key) for key in keys}}
        row["status"] = status
        row["best_valid"] = metrics.get("best_valid_score", math.nan)
        row["best_epoch"] = metrics.get("best_epoch", 0)
        row["epochs"] = metrics.get("epoch", 0)
        row["time_s"] = round(metrics.get("train_time_s", metrics.get("time_total_s", 0.0)), 1)
        test = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("test/")}
        test.update(metrics.get("test", {}) if isinstance(metrics.get("test"), dict) else {})
        row.update({f"test_{name}": value for name, value in sorted(test.items())})
        row["node"] = (metrics.get("node_id") or "")[:8]
        row["device"] = metrics.get("device", "")
        row["gpu_id"] = metrics.get("gpu_id", "")
        rows.append(row)
    sign = -1 if mode == "max" else 1

    def best_first(row):
        unscored = math.isnan(row["best_valid"])
        return unscored, 0.0 if unscored else sign * row["best_valid"]

    return sorted(rows, key=best_first)


def error_line(error):
    """The last line of a failed trial's error (``ValueError: Training loss is nan``), without Ray's colour codes:
    the traceback stays in the trial folder's error.txt."""
    lines = [line.strip() for line in ANSI.sub("", str(error)).splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:300]


def to_markdown(rows, keys, metric):
    """The columns a reader compares: settings, validation metric, main test metrics, epochs, time, status."""
    columns = ["trial", *keys, "best_valid", *[f"test_{m}" for m in TEST_COLUMNS], "epochs", "time_s", "status"]
    header = ["trial", *keys, f"valid {metric}", *[f"test {m}" for m in TEST_COLUMNS], "epochs", "time (s)", "end"]

    def cell(column, value):
        if value is None or value != value:
            return ""
        if column == "best_valid" or column.startswith("test_"):
            return f"{value:.4f}"
        if column == "time_s":
            return f"{value:.0f}"
        return f"{value:g}" if isinstance(value, float) else str(value).replace("|", "/")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(column, row.get(column)) for column in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def best_yaml(row, keys, spec, metric, path):
    """run.py's --config_files yaml for the best trial: model, dataset and the searched settings."""
    settings = {"model": spec["model"], "dataset": spec["dataset"], **{key: plain(row[key]) for key in keys}}
    header = (
        f"# Best of search '{spec['name']}' by validation {metric} ({row['best_valid']:.4f}, trial {row['trial']}).\n"
        f"# Run it with the search's other options:\n"
        f"#   python run.py {' '.join(spec['shown_args']).replace('BEST_YAML', path)}\n"
    )
    return header + yaml.safe_dump(settings, sort_keys=False)


def plain(value):
    """numpy scalars and the like as plain Python values, for yaml."""
    return value.item() if hasattr(value, "item") else value


def write_outputs(folder, rows, keys, spec, metric):
    """trials.csv, trials.md and (when any trial has a validation score) best.yaml under ``folder``."""
    paths = {"csv": f"{folder}/trials.csv", "md": f"{folder}/trials.md"}
    write_csv(paths["csv"], rows)
    write_text(paths["md"], to_markdown(rows, keys, metric))
    scored = [row for row in rows if row["best_valid"] == row["best_valid"] and not row["status"].startswith("error")]
    if scored:
        paths["best"] = f"{folder}/best.yaml"
        write_text(paths["best"], best_yaml(scored[0], keys, spec, metric, paths["best"]))
    return paths
