"""FEARec's column of compare_lastfm_table.{csv,md} over its three seeds (docs/RESULTS.md, "FEARec's seeds 42 and 2").

The table was written by ``--table-only`` from a comparison folder that was lost with its machine while FEARec
had only seed 1; seeds 42 and 2 ran later into a new folder. This puts seed 1's recorded test metrics and the
new runs' ``metrics.json`` into the FEARec rows, then rewrites the markdown with the compare command's own
formatting. The paired test is kept as written: it compares BSARec with the best baseline on NDCG@10 (FMLPRec),
and stops with an error if FEARec became that baseline.

Usage: python docs/figures/compare_lastfm_fearec.py COMPARE_FOLDER   (the new folder, e.g. compare/lastfm-paper)
"""

import csv
import math
import sys
from pathlib import Path

import numpy as np

from recbole_bsarec.atomic import write_csv, write_text
from recbole_bsarec.compare.table import TEST_METRIC, markdown
from recbole_bsarec.rundir import read_metrics

HERE = Path(__file__).resolve().parent
# FEARec seed 1's test metrics, as recorded in compare_lastfm_table.csv at commit e9f5328 (its only seed then)
SEED_1 = {"hit@5": 0.0376, "hit@10": 0.0523, "hit@20": 0.0917, "ndcg@5": 0.0274, "ndcg@10": 0.0322, "ndcg@20": 0.0423}
NEW_SEEDS = (42, 2)


def numbers(row):
    """A table.csv row with its numeric fields parsed."""
    floats = {key: float(row[key]) for key in ("mean", "std", "paper")}
    return row | floats | {key: int(row[key]) for key in ("seeds_done", "seeds")}


def recorded_test(test):
    """The paired test as recorded (one baseline, before the table's tests covered every baseline, Holm-corrected)."""
    return (
        f"Paired test on {test['dataset']}, per-user NDCG@10 (mean over seeds), {test['target']} "
        f"{test['target_mean']:.4f} vs {test['baseline']} {test['baseline_mean']:.4f} over {test['users']} "
        f"users ({test['users_differing']} differ): Wilcoxon signed-rank p = {test['wilcoxon_p']:.3g}, "
        f"paired t-test p = {test['ttest_p']:.3g}.\n"
    )


def main(folder):
    runs = Path(folder) / "runs"
    results = [SEED_1] + [read_metrics(str(runs / f"FEARec-lastfm-seed{seed}"))["test_result"] for seed in NEW_SEEDS]
    with open(HERE / "compare_lastfm_table.csv", encoding="utf-8") as handle:
        rows = [numbers(row) for row in csv.DictReader(handle)]
    for row in rows:
        if row["model"] == "FEARec":
            values = [result[row["metric"]] for result in results]
            row |= {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)), "seeds_done": len(values)}
    with open(HERE / "compare_lastfm_significance.csv", encoding="utf-8") as handle:
        tests = [row | {key: float(value) for key, value in row.items() if key.endswith(("_p", "_mean"))}
                 for row in csv.DictReader(handle)]
    for test in tests:
        test |= {"users": int(test["users"]), "users_differing": int(test["users_differing"])}
        scored = [row for row in rows if row["metric"] == TEST_METRIC and row["model"] != test["target"]]
        best = max(scored, key=lambda row: -math.inf if math.isnan(row["mean"]) else row["mean"])["model"]
        if best != test["baseline"]:
            sys.exit(f"error: the best baseline on {TEST_METRIC} is now {best}: run the paired test against it")
    models = list(dict.fromkeys(row["model"] for row in rows))
    write_csv(str(HERE / "compare_lastfm_table.csv"), rows)
    text = markdown(rows, [], "BSARec", models, True) + "".join(recorded_test(test) for test in tests)
    write_text(str(HERE / "compare_lastfm_table.md"), text)
    print((HERE / "compare_lastfm_table.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main(sys.argv[1])
