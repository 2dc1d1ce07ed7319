"""A comparison's table, as the paper's Table 2: per dataset and metric, each model's mean and standard
deviation over its finished seeds, the best marked, the target model's improvement over the best baseline;
then paired tests over test users of per-user NDCG@10 (each user's mean over seeds), the target against every
baseline, Holm-corrected across the baselines, with bootstrap 95% intervals. Optionally the paper's numbers.
Everything comes from the results registry (compare/records.py), and the table files go there too."""

import math
import os

import numpy as np
import yaml
from scipy import stats

from recbole_bsarec.atomic import write_csv, write_text
from recbole_bsarec.compare.records import has_ranks, read_ranks, record_dir
from recbole_bsarec.config import PROPERTIES
from recbole_bsarec.rundir import read_metrics

METRICS = ["hit@5", "hit@10", "hit@20", "ndcg@5", "ndcg@10", "ndcg@20"]
LABELS = {"hit": "HR", "ndcg": "NDCG"}
TEST_METRIC, TEST_K = "ndcg@10", 10
ALPHA = 0.05  # the family-wise error rate the Holm correction holds across a dataset's baselines
# percentile intervals over users, seeded: a table rebuilt from the same ranks shows the same intervals
BOOTSTRAP = {"confidence_level": 0.95, "n_resamples": 9999, "method": "percentile", "batch": 500}
PAPER = PROPERTIES / "paper" / "table2.yaml"


def label(metric):
    name, k = metric.split("@")
    return f"{LABELS.get(name, name)}@{k}"


def collect(specs):
    """Recorded runs' test metrics and record folders with ranks, keyed by (dataset, model): {seed: metrics},
    {seed: folder}; and the seeds whose records are ``unrecorded`` (metrics only)."""
    results, ranks, unrecorded = {}, {}, {}
    for spec in specs:
        key = (spec["dataset"], spec["model"])
        for table in (results, ranks, unrecorded):
            table.setdefault(key, {})
        folder = record_dir(spec)
        metrics = read_metrics(folder)
        if metrics is None:
            continue
        results[key][spec["seed"]] = metrics["test_result"]
        if has_ranks(folder):
            ranks[key][spec["seed"]] = folder
        elif "unrecorded" in metrics:
            unrecorded[key][spec["seed"]] = metrics["unrecorded"]
    return results, ranks, unrecorded


def summary_rows(specs, results, unrecorded, paper):
    """One row per dataset, model and metric: mean, standard deviation (ddof 1), count of finished seeds and how
    many of them are unrecorded."""
    rows, wanted = [], {}
    for spec in specs:
        wanted.setdefault((spec["dataset"], spec["model"]), set()).add(spec["seed"])
    for (dataset, model), seeds in wanted.items():
        done = results.get((dataset, model), {})
        for metric in METRICS:
            values = [done[seed][metric] for seed in sorted(done) if metric in done[seed]]
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "metric": metric,
                    "mean": float(np.mean(values)) if values else math.nan,
                    "std": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan,
                    "seeds_done": len(values),
                    "seeds": len(seeds),
                    "unrecorded": len(unrecorded.get((dataset, model), {})),
                    "paper": paper.get(dataset, {}).get(metric, {}).get(model, math.nan),
                }
            )
    return rows


def per_user_ndcg(records, k=TEST_K):
    """{user: NDCG@k averaged over the seeds' recorded ranks} (one target per user: 1 / log2(rank + 1) within k)."""
    totals = {}
    for folder in records:
        for row in read_ranks(folder):
            rank = int(row["rank"])
            totals.setdefault(row["user"], []).append(1 / math.log2(rank + 1) if rank <= k else 0.0)
    return {user: float(np.mean(values)) for user, values in totals.items()}


def mean_interval(values):
    """The bootstrap 95% interval of the mean of ``values`` (resampled with a fixed seed); a constant's is itself."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return math.nan, math.nan
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    result = stats.bootstrap((values,), np.mean, rng=np.random.default_rng(0), **BOOTSTRAP)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def holm(pvalues):
    """Holm's step-down adjustment of ``pvalues``: the k-th smallest times (m - k + 1), made monotone, at most 1."""
    pvalues = np.asarray(pvalues, dtype=float)
    order = np.argsort(pvalues)
    steps = np.maximum.accumulate(pvalues[order] * (len(pvalues) - np.arange(len(pvalues))))
    adjusted = np.empty_like(pvalues)
    adjusted[order] = np.minimum(steps, 1.0)
    return adjusted.tolist()


def paired_test(first, second):
    """Per-user NDCG@10 (``per_user_ndcg``) of target against baseline over their common users: Wilcoxon
    signed-rank and paired t (two-sided), and bootstrap intervals of both means and of the mean difference. Users
    whose two values are equal carry no sign; the Wilcoxon test drops them, as usual."""
    users = sorted(set(first) & set(second))
    a = np.array([first[u] for u in users])
    b = np.array([second[u] for u in users])
    differ = int(np.sum(a != b))
    wilcoxon = stats.wilcoxon(a, b).pvalue if differ else 1.0
    ttest = stats.ttest_rel(a, b).pvalue if differ > 1 else 1.0
    intervals = {
        name: mean_interval(values) for name, values in (("target", a), ("baseline", b), ("difference", a - b))
    }
    return {
        "users": len(users),
        "users_differing": differ,
        "target_mean": float(a.mean()) if len(a) else math.nan,
        "baseline_mean": float(b.mean()) if len(b) else math.nan,
        "difference": float((a - b).mean()) if len(a) else math.nan,
        **{f"{name}_{end}": bound[i] for name, bound in intervals.items() for i, end in enumerate(("low", "high"))},
        "wilcoxon_p": float(wilcoxon),
        "ttest_p": float(ttest),
    }


def baseline_tests(target_records, baseline_records):
    """The target against each baseline (``{model: record folders}``), each test's p-values Holm-corrected across
    the baselines; ``survives``: both corrected p-values below ALPHA."""
    target = per_user_ndcg(target_records)
    tests = [
        {"baseline": model, **paired_test(target, per_user_ndcg(folders))}
        for model, folders in baseline_records.items()
    ]
    for name in ("wilcoxon", "ttest"):
        for test, adjusted in zip(tests, holm([test[f"{name}_p"] for test in tests]), strict=True):
            test[f"{name}_holm"] = adjusted
    for test in tests:
        test["survives"] = test["wilcoxon_holm"] < ALPHA and test["ttest_holm"] < ALPHA
    return tests


def significance_rows(rows, ranks, target):
    """Per dataset: the target against every baseline with recorded ranks, on the users' NDCG@10 (Holm-corrected
    across them)."""
    out = []
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        scored = [
            row["model"]
            for row in rows
            if row["dataset"] == dataset and row["metric"] == TEST_METRIC and not math.isnan(row["mean"])
        ]
        baselines = {m: list(ranks[(dataset, m)].values()) for m in scored if m != target and ranks[(dataset, m)]}
        if not baselines or not ranks.get((dataset, target)):
            continue
        target_files = list(ranks[(dataset, target)].values())
        for test in baseline_tests(target_files, baselines):
            seeds = {"target_seeds": len(target_files), "baseline_seeds": len(baselines[test["baseline"]])}
            out.append({"dataset": dataset, "target": target, **seeds, **test})
    return out


def cell(row, best, paper):
    """'mean ± std', bold where best in its row, '(k/n)' while seeds are missing, the paper's value after it."""
    if math.isnan(row["mean"]):
        text = "–"
    else:
        text = f"{row['mean']:.4f}" + ("" if math.isnan(row["std"]) else f" ± {row['std']:.4f}")
        if best:
            text = f"**{text}**"
    if row["unrecorded"]:
        text += " †"
    if row["seeds_done"] < row["seeds"]:
        text += f" ({row['seeds_done']}/{row['seeds']})"
    if paper and not math.isnan(row["paper"]):
        text += f" [{row['paper']:.4f}]"
    return text


def improvement(rows_of_metric, target):
    """The target's mean over the best baseline's mean, minus 1, in percent (the paper's 'Improv.')."""
    means = {row["model"]: row["mean"] for row in rows_of_metric if not math.isnan(row["mean"])}
    baselines = [value for model, value in means.items() if model != target]
    if target not in means or not baselines or max(baselines) == 0:
        return ""
    return f"{100 * (means[target] / max(baselines) - 1):+.2f}%"


def run_rows(specs):
    """One row per recorded run: epochs, best validation score, test HR@10 and NDCG@10, where it ran."""
    rows = []
    for spec in specs:
        metrics = read_metrics(record_dir(spec))
        if metrics is None:
            continue
        ran = metrics.get("environment")
        where = f"{ran['device']}, torch {ran['torch']}, commit {str(ran['package_commit'])[:7]}" if ran else "–"
        if "adopted_from" in metrics:
            where = f"adopted ({where})"
        rows.append(
            {
                "run": f"{spec['model']} seed {spec['seed']}",
                "epochs": metrics.get("epochs_run") or "–",
                "valid": metrics.get("best_valid_score"),
                "hit@10": metrics["test_result"]["hit@10"],
                "ndcg@10": metrics["test_result"]["ndcg@10"],
                "where": metrics.get("unrecorded") or where,
            }
        )
    return rows


def markdown(rows, tests, target, models, show_paper, runs=()):
    """The table per dataset (metrics down, models across), then the paired tests, then each run."""
    lines = []
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        lines += [f"### {dataset}", ""]
        lines.append("| metric | " + " | ".join(models) + f" | Improv. ({target} vs best baseline) |")
        lines.append("|---" * (len(models) + 2) + "|")
        for metric in METRICS:
            of_metric = [row for row in rows if row["dataset"] == dataset and row["metric"] == metric]
            by_model = {row["model"]: row for row in of_metric}
            top = max((row["mean"] for row in of_metric if not math.isnan(row["mean"])), default=math.nan)
            cells = [cell(by_model[m], by_model[m]["mean"] == top, show_paper) for m in models if m in by_model]
            lines.append(f"| {label(metric)} | " + " | ".join(cells) + f" | {improvement(of_metric, target)} |")
        lines.append("")
    legend = "Cells: mean ± standard deviation over seeds; (k/n): only k of n seeds have finished"
    if any(row["unrecorded"] for row in rows):
        legend += "; †: unrecorded runs (test metrics only, in the means but not the paired tests)"
    lines += [legend + ("; [the paper's single run]." if show_paper else "."), ""]
    for dataset in dict.fromkeys(test["dataset"] for test in tests):
        lines += significance_table([test for test in tests if test["dataset"] == dataset])
    if runs:
        lines += ["| run | epochs | best valid | test HR@10 | test NDCG@10 | where |", "|---" * 6 + "|"]
        for run in runs:
            valid = "–" if run["valid"] is None else f"{run['valid']:.4f}"
            scores = f"{run['hit@10']:.4f} | {run['ndcg@10']:.4f}"
            lines.append(f"| {run['run']} | {run['epochs']} | {valid} | {scores} | {run['where']} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def significance_table(tests):
    """One dataset's paired tests as a table: seeds, users, means and difference with their 95% intervals, the
    p-values and their Holm corrections (bold where both survive)."""
    first = tests[0]
    seeds = f"{first['target_seeds']} seed" + "s" * (first["target_seeds"] != 1)
    lines = [
        f"Paired tests on {first['dataset']}, per-user NDCG@10 (each user's mean over the seeds): {first['target']} "
        f"({seeds}) against each baseline; [bootstrap 95% interval over users]; p-values "
        f"two-sided, Holm-corrected across the {len(tests)} baseline(s), in bold where both stay below {ALPHA}.",
        "",
        f"| baseline | seeds | users (differ) | {first['target']} | baseline | difference | Wilcoxon p (Holm) "
        "| paired t p (Holm) |",
        "|---" * 8 + "|",
    ]
    for test in tests:
        corrected = [f"{test[f'{name}_p']:.3g} ({test[f'{name}_holm']:.3g})" for name in ("wilcoxon", "ttest")]
        if test["survives"]:
            corrected = [f"**{text}**" for text in corrected]
        lines.append(
            f"| {test['baseline']} | {test['baseline_seeds']} | {test['users']} ({test['users_differing']}) | "
            f"{interval(test, 'target')} | {interval(test, 'baseline')} | {interval(test, 'difference', '+')} | "
            + " | ".join(corrected)
            + " |"
        )
    return [*lines, ""]


def interval(test, name, sign=""):
    """'mean [low, high]' of ``name`` (target, baseline or difference) to 4 decimals."""
    mean = test["difference"] if name == "difference" else test[f"{name}_mean"]
    return f"{mean:{sign}.4f} [{test[f'{name}_low']:{sign}.4f}, {test[f'{name}_high']:{sign}.4f}]"


def write_table(plan_spec, options):
    """table.csv, significance.csv and table.md in the comparison's registry folder; returns the markdown and
    paths."""
    paper = {}
    if options["paper"]:
        with open(PAPER, encoding="utf-8") as handle:
            paper = yaml.safe_load(handle)
    specs = plan_spec["runs"]
    results, ranks, unrecorded = collect(specs)
    rows = summary_rows(specs, results, unrecorded, paper)
    tests = significance_rows(rows, ranks, options["target"])
    models = list(dict.fromkeys(spec["model"] for spec in specs))
    text = markdown(rows, tests, options["target"], models, options["paper"], run_rows(specs))
    folder = plan_spec["records"]
    paths = {
        "table": write_csv(os.path.join(folder, "table.csv"), rows),
        "markdown": os.path.join(folder, "table.md"),
    }
    write_text(paths["markdown"], text)
    if tests:
        paths["tests"] = write_csv(os.path.join(folder, "significance.csv"), tests)
    return text, paths
