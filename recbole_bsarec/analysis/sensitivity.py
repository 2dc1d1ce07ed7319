"""Sensitivity to alpha and c (paper Figs. 5-6), from a search's trial table or a one-at-a-time sweep this
command trains, and the ablation table (paper Table 3) over the same seeds. Training goes through the one
pipeline, so every run also leaves its log and checkpoint."""

import csv
import os
import statistics
from collections import defaultdict

from recbole_bsarec.analysis.output import check_folder_option, figure, outputs, save_figure
from recbole_bsarec.atomic import write_csv, write_text
from recbole_bsarec.errors import UsageError
from recbole_bsarec.options import parse_args
from recbole_bsarec.pipeline import run_recbole

METRICS = ["hit@10", "ndcg@10", "hit@20", "ndcg@20"]
VARIANTS = [
    ("BSARec", "full"),
    ("BSARecAttnOnly", "attention only (alpha = 0)"),
    ("BSARecFilterOnly", "frequency only (alpha = 1)"),
    ("BSARecScalarBeta", "scalar beta"),
    ("BSARecIdentityFilter", "identity filter (beta fixed at 1)"),
]


def register(subparsers):
    sweep = subparsers.add_parser(
        "sensitivity",
        help="test metrics against alpha and c, from a search's trials.csv or a sweep it trains",
        description="Either --trials FILE (a search's trials.csv) or --sweep KEY=V1,V2,... (one at a time, the "
        "others at their configured values); any other --key=value is a RecBole setting for the sweep's runs.",
    )
    sweep.add_argument("--trials", help="a search's trials.csv")
    sweep.add_argument("--sweep", action="append", default=[], help="KEY=V1,V2,... (repeatable)")
    sweep.add_argument("--seeds", default="42", help="comma-separated seeds for the sweep (default 42)")
    sweep.add_argument("--out", default="docs/figures")
    sweep.set_defaults(run=run_sensitivity, takes_settings=True)
    ablation = subparsers.add_parser(
        "ablation",
        help="paper Table 3: BSARec, attention only, frequency only, scalar beta, and the identity-filter control",
        description="Trains the five variants with the same seeds; any other --key=value is a RecBole setting.",
    )
    ablation.add_argument("--seeds", default="42", help="comma-separated seeds (default 42)")
    ablation.add_argument("--out", default="docs/figures")
    ablation.set_defaults(run=run_ablation, takes_settings=True)


def seeds_of(text):
    """'42,1,2' -> [42, 1, 2]."""
    try:
        return [int(seed) for seed in text.split(",")]
    except ValueError as err:
        raise UsageError(f"--seeds={text} must be comma-separated integers, e.g. --seeds=42,1,2") from err


def sweep_points(specs):
    """['alpha=0.1,0.5'] -> [('alpha', [0.1, 0.5])], values as numbers where they are."""
    points = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        if not sep or not key or not values:
            raise UsageError(f"--sweep {spec} must look like KEY=V1,V2,... (e.g. alpha=0.1,0.5,0.9)")
        points.append((key, [number(value) for value in values.split(",")]))
    return points


def number(text):
    """``text`` as int, else float, else itself."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def train(model, dataset, config_files, overrides, settings):
    """One pipeline run with ``settings``; its test metrics and where it wrote."""
    fixed = sorted(set(settings) & {arg[2:].partition("=")[0] for arg in overrides})
    if fixed:
        raise UsageError(f"--{fixed[0]} is both varied by this command and fixed on the command line: drop it")
    result = run_recbole(model, dataset, config_files, {**settings, "show_progress": False}, overrides)
    return {**settings, **{f"test_{m}": result["test_result"][m] for m in METRICS}, "log": result["log_file"]}


def rows_from_trials(path):
    """(key, value, test metrics) for each searched key and each trial of a search's trials.csv with all of
    METRICS (a trial stopped early may have none)."""
    trials = read_trials(path)
    if not trials:
        raise UsageError(f"--trials {path} holds no trial that ran without an error: give another search's")
    keys = [key for key in ("alpha", "c") if trials[0].get(key) not in (None, "")]
    if not keys:
        raise UsageError(f"--trials {path} has no alpha or c column: give a BSARec search's trials.csv")
    scored = [trial for trial in trials if all(trial.get(f"test_{m}") for m in METRICS)]
    if not scored:
        raise UsageError(
            f"--trials {path} has no trial with all of test_{', test_'.join(METRICS)}: give a finished search's trials"
        )
    return [
        {
            "key": key,
            "value": trial_number(path, trial, key),
            "trial": trial["trial"],
            **{f"test_{m}": trial_number(path, trial, f"test_{m}") for m in METRICS},
        }
        for trial in scored
        for key in keys
    ]


def read_trials(path):
    """The trials of a search's trials.csv that did not end in an error; an unreadable file is a UsageError."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            trials = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        reason = f"--trials {path} is not a search's trials.csv ({err})"
        raise UsageError(f"{reason}: give searches/NAME/trials.csv") from err
    missing = [column for column in ("trial", "status") if column not in (reader.fieldnames or [])]
    if missing:
        raise UsageError(f"--trials {path} has no {missing[0]} column: give searches/NAME/trials.csv")
    return [trial for trial in trials if not (trial["status"] or "").startswith("error")]


def trial_number(path, trial, column):
    """``column`` of ``trial`` as a number; anything else is a UsageError naming the trial."""
    value = number(trial.get(column) or "")
    if isinstance(value, str):
        raise UsageError(
            f"--trials {path}: trial {trial['trial']} has {column}={value!r}, not a number: fix or drop that row"
        )
    return value


def mean_by_value(rows):
    """{key: [(value, n, {metric: mean})]} sorted by value."""
    groups = defaultdict(list)
    for row in rows:
        groups[(row["key"], row["value"])].append(row)
    table = defaultdict(list)
    for (key, value), members in sorted(groups.items()):
        means = {m: statistics.mean(r[f"test_{m}"] for r in members) for m in METRICS}
        table[key].append((value, len(members), means))
    return table


def plot_sensitivity(table, title, png):
    """One panel per key: test HR@20 and NDCG@20 against the key's value, with the number of runs per point."""
    fig, axes = figure(ncols=len(table))
    for ax, (key, points) in zip(axes, table.items(), strict=True):
        values = [value for value, _, _ in points]
        for metric, label in (("hit@20", "HR@20"), ("ndcg@20", "NDCG@20")):
            ax.plot(values, [means[metric] for _, _, means in points], marker="o", label=label)
        for value, n, means in points:
            ax.annotate(f"n={n}", (value, means["hit@20"]), textcoords="offset points", xytext=(0, 6), ha="center")
        ax.set_xlabel(f"{key} (other settings: {title['others']})")
        ax.set_ylabel("test metric (fraction of users)")
        ax.set_title(f"sensitivity to {key}")
        ax.set_xticks(values)
        ax.legend()
    fig.suptitle(f"{title['model']} on {title['dataset']}: test HR@20 and NDCG@20 (n = runs per point)")
    return save_figure(fig, png)


def run_sensitivity(args):
    """``sensitivity``: rows and a figure from --trials, or from the sweep it trains."""
    if bool(args.trials) == bool(args.sweep):
        raise UsageError("sensitivity needs either --trials FILE or --sweep KEY=V1,V2,...")
    check_folder_option("--out", args.out)
    if args.trials:
        rows = rows_from_trials(args.trials)
        search = os.path.basename(os.path.dirname(os.path.abspath(args.trials)))
        title = {"model": "BSARec", "dataset": f"search {search}", "others": "mean over its trials"}
    else:
        model, dataset, config_files, overrides = parse_args(args.overrides)
        rows = []
        for key, values in sweep_points(args.sweep):
            for value in values:
                for seed in seeds_of(args.seeds):
                    trained = train(model, dataset, config_files, overrides, {key: value, "seed": seed})
                    rows.append({"key": key, "value": value, "seed": seed, **trained})
                    yield f"{key}={value} seed {seed}: test NDCG@20 {trained['test_ndcg@20']:.4f}"
        title = {"model": model, "dataset": dataset, "others": "as configured"}
    png, csv_path = outputs(args.out, "sensitivity")
    write_csv(csv_path, rows)
    plot_sensitivity(mean_by_value(rows), title, png)
    yield from (png, csv_path)


def run_ablation(args):
    """``ablation``: the five variants over the same seeds; a markdown table and its CSV."""
    _, dataset, config_files, overrides = parse_args(["--model=BSARec", *args.overrides])
    seeds = seeds_of(args.seeds)
    check_folder_option("--out", args.out)
    rows = []
    for model, label in VARIANTS:
        for seed in seeds:
            trained = train(model, dataset, config_files, overrides, {"seed": seed})
            rows.append({"model": model, "variant": label, **trained})
            yield f"{model} seed {seed}: test NDCG@20 {trained['test_ndcg@20']:.4f}"
    _, csv_path = outputs(args.out, "ablation")
    write_csv(csv_path, rows)
    markdown = ablation_markdown(rows, dataset, seeds)
    write_text(csv_path[:-4] + ".md", markdown)
    yield markdown
    yield csv_path


def ablation_markdown(rows, dataset, seeds):
    """Paper Table 3's layout: one row per variant, mean ± sd over seeds."""
    lines = [
        f"Ablation on {dataset}, seeds {', '.join(map(str, seeds))} (test, mean ± sd over seeds)",
        "",
        "| variant | " + " | ".join(m.replace("hit", "HR").upper() for m in METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
    ]
    for model, label in VARIANTS:
        members = [row for row in rows if row["model"] == model]
        cells = []
        for metric in METRICS:
            values = [row[f"test_{metric}"] for row in members]
            spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.4f}{spread}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
