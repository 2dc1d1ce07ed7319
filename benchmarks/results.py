"""Summarise finished runs from their RecBole logs: test metrics per (model, dataset, protocol), mean and
standard deviation over seeds, beside the paper's Table 2 and the relative gap. With ``--masks``, each run's
best checkpoint is also evaluated on test under other ``eval_history_mask`` values (same trained weights).

Usage: python benchmarks/results.py log/BSARec/*.log log/SASRec/*.log [--masks none zero]
"""

import argparse
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRICS = ["hit@5", "hit@10", "hit@20", "ndcg@5", "ndcg@10", "ndcg@20"]
# the paper's Table 2 (full ranking), as the compare command's --paper reads it
PAPER = yaml.safe_load((ROOT / "properties" / "paper" / "table2.yaml").read_text(encoding="utf-8"))
PROTOCOLS = {("all", "none"): "RecBole", ("last", "zero"): "paper"}
KEYS = ["model", "dataset", "seed", "train_window", "eval_history_mask"]


def read_log(path):
    """The run's settings (KEYS), test metrics, epochs and checkpoint from one RecBole log file."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    settings = {}
    for key in KEYS:
        found = re.search(rf"^{key} = (.*)$", text, re.MULTILINE) or re.search(rf"'--{key}=([^']+)'", text)
        settings[key] = found.group(1).strip() if found else None
    test = re.search(r"test result.*?: (OrderedDict\(.*\)|\{.*\})", text)
    if not test:
        return None
    metrics = dict(re.findall(r"'([a-z]+@\d+)', ([\d.e-]+)", test.group(1)))
    metrics = metrics or dict(re.findall(r"'([a-z]+@\d+)': ([\d.e-]+)", test.group(1)))
    checkpoints = re.findall(r"Saving current.*?: (\S+\.pth)", text)
    epochs = re.findall(r"epoch (\d+) training", text)
    return {
        **settings,
        "test": {k: float(v) for k, v in metrics.items()},
        "checkpoint": checkpoints[-1] if checkpoints else None,
        "epochs": int(epochs[-1]) + 1 if epochs else 0,
        "log": str(path),
    }


def protocol(run, mask=None):
    """A short name for the run's protocol switches."""
    key = (run["train_window"], mask or run["eval_history_mask"])
    return PROTOCOLS.get(key, f"train_window={key[0]}, eval_history_mask={key[1]}")


def reevaluate(run, mask):
    """Test metrics of the run's best checkpoint under ``eval_history_mask: mask``."""
    from recbole_bsarec.pipeline import load_run
    from recbole_bsarec.registry import get_trainer

    home = Path(run["log"]).resolve().parents[2]  # relative paths in a log are from the folder holding log/
    trained = load_run(str(home / run["checkpoint"]), overrides={"eval_history_mask": mask})
    trainer = get_trainer(trained.config["MODEL_TYPE"], trained.config["model"])(trained.config, trained.model)
    return {k: float(v) for k, v in trainer.evaluate(trained.test_data, load_best_model=False).items()}


def summary(runs):
    """Markdown rows: mean ± std over seeds per (model, dataset, protocol), the paper, the gap."""
    groups = defaultdict(list)
    for run in runs:
        groups[(run["model"], run["dataset"], run["protocol"])].append(run)
    lines = [
        "| model | dataset | protocol | seeds | " + " | ".join(m.replace("hit", "HR").upper() for m in METRICS) + " |",
        "|---|---|---|---|" + "---|" * len(METRICS),
    ]
    for (model, dataset, proto), members in sorted(groups.items()):
        seeds = ", ".join(sorted(str(r["seed"]) for r in members))
        cells = []
        for metric in METRICS:
            values = [r["test"][metric] for r in members]
            spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.4f}{spread}")
        lines.append(f"| {model} | {dataset} | {proto} | {seeds} | " + " | ".join(cells) + " |")
        paper = [PAPER.get(dataset, {}).get(metric, {}).get(model) for metric in METRICS]
        if None not in paper:
            means = [statistics.mean(r["test"][m] for r in members) for m in METRICS]
            gaps = [f"{(mean - ref) / ref:+.1%}" for mean, ref in zip(means, paper, strict=True)]
            cells = [f"{ref:.4f} ({gap})" for ref, gap in zip(paper, gaps, strict=True)]
            lines.append("| | | paper (gap) | | " + " | ".join(cells) + " |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--masks", nargs="*", default=[], help="re-evaluate each checkpoint under these masks")
    args = parser.parse_args()
    runs = [run for run in map(read_log, args.logs) if run]
    rows = []
    for run in runs:
        rows.append({**run, "protocol": protocol(run)})
        for mask in args.masks:
            if mask != run["eval_history_mask"]:
                rows.append({**run, "test": reevaluate(run, mask), "protocol": protocol(run, mask)})
    print("\n".join(summary(rows)))
    print("\nruns:")
    for run in runs:
        what = f"{run['model']} {run['dataset']} seed {run['seed']} ({protocol(run)})"
        print(f"- {what}: {run['epochs']} epochs, {run['log']}")


if __name__ == "__main__":
    main()
