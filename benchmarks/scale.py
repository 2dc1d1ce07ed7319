"""Scale: BSARec's CE training and full-sort evaluation with 1,000,000 items, and with MAX_ITEM_LIST_LENGTH 200
against 50, on synthetic data; per case the seconds of one training epoch and of one full-sort evaluation of
every test user, and the peak memory, each case in its own child process (``--child``).

Usage and options: benchmarks/README.md.
"""

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # measure this checkout's code, installed or not

# name: dataset shape (users, items per user, item catalogue) and the settings that differ
CASES = {
    "items-1m": {"users": 2000, "length": 20, "items": 1_000_000, "settings": {"MAX_ITEM_LIST_LENGTH": 50}},
    "len-50": {"users": 300, "length": 250, "items": 10_000, "settings": {"MAX_ITEM_LIST_LENGTH": 50}},
    "len-200": {"users": 300, "length": 250, "items": 10_000, "settings": {"MAX_ITEM_LIST_LENGTH": 200}},
}
SETTINGS = {
    "train_batch_size": 256,
    "loss_type": "CE",
    "train_window": "all",
    "eval_history_mask": "zero",
    "show_progress": False,
    "state": "WARNING",
    "use_gpu": False,
}


def write_dataset(folder, name, users, length, items, seed=0):
    """``users`` sequences of ``length`` items drawn with a popularity skew from ``items`` items (item i has
    weight ~ 1 / (i + 10)), and an .item file listing every item, so the catalogue has exactly ``items``."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(items) + 10.0)
    cdf = np.cumsum(weights / weights.sum())
    drawn = np.minimum(np.searchsorted(cdf, rng.random((users, length))), items - 1) + 1
    target = Path(folder) / name
    target.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    lines += [f"{u + 1}\t{item}\t{t}" for u in range(users) for t, item in enumerate(drawn[u])]
    (target / f"{name}.inter").write_text("\n".join(lines) + "\n")
    (target / f"{name}.item").write_text("item_id:token\n" + "\n".join(map(str, range(1, items + 1))) + "\n")


def measure(spec):
    """One case in this (child) process: one training epoch, one full-sort test evaluation, peak RSS."""
    from recbole_bsarec.pipeline import setup

    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(spec["threads"])
    case = CASES[spec["case"]]
    write_dataset(spec["data_path"], spec["case"], spec["users"], case["length"], case["items"])
    config_dict = {
        **SETTINGS,
        **case["settings"],
        "data_path": spec["data_path"],
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id"]},
        "epochs": 1,
        **spec["config"],
    }
    started = time.perf_counter()
    config, trainer, (train_data, _, test_data) = setup("BSARec", spec["case"], None, config_dict)
    setup_s = time.perf_counter() - started
    started = time.perf_counter()
    trainer._train_epoch(train_data, 0, show_progress=False)
    epoch_s = time.perf_counter() - started
    started = time.perf_counter()
    result = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
    eval_s = time.perf_counter() - started
    return {
        "case": spec["case"],
        "items": train_data._dataset.item_num - 1,
        "users": train_data._dataset.user_num - 1,
        "train_samples": train_data.sample_size,
        "MAX_ITEM_LIST_LENGTH": config["MAX_ITEM_LIST_LENGTH"],
        "eval_users_per_batch": config["eval_batch_size"],
        "setup_s": setup_s,
        "epoch_s": epoch_s,
        "eval_s": eval_s,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "test_ndcg@10": float(result["ndcg@10"]),
        "threads": torch.get_num_threads(),
    }


def run_child(case, args, workdir):
    """Measure ``case`` in a fresh process, so its peak memory is its own."""
    spec = {"case": case, "data_path": str(Path(workdir) / "dataset"), "threads": args.threads, "config": {}}
    spec["users"] = args.users or CASES[case]["users"]
    for item in args.config:
        key, _, value = item.partition("=")
        spec["config"][key] = json.loads(value) if value[:1].isdigit() or value in ("true", "false") else value
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        cwd=workdir,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def table(rows):
    """The cases as a markdown table."""
    lines = [
        "| case | items | users | train samples | N | eval users/batch | epoch (s) | full-sort test eval (s) "
        "| peak RSS (GiB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['items']:,} | {r['users']:,} | {r['train_samples']:,} | {r['MAX_ITEM_LIST_LENGTH']} | "
            f"{r['eval_users_per_batch']} | {r['epoch_s']:.1f} | {r['eval_s']:.1f} | {r['peak_mib'] / 1024:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(measure(json.loads(argv[1]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--threads", type=int, default=1, help="torch threads per case (default 1)")
    parser.add_argument("--users", type=int, help="users per case instead of the case's own (a smoke run)")
    parser.add_argument("--config", action="append", default=[], help="KEY=VALUE for every case")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        rows = [run_child(case, args, workdir) for case in args.cases]
    print(f"BSARec, {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s)")
    print(table(rows))
    by_case = {r["case"]: r for r in rows}
    if "len-50" in by_case and "len-200" in by_case:
        long, short = by_case["len-200"], by_case["len-50"]
        print(
            f"ratio N=200/N=50: epoch {long['epoch_s'] / short['epoch_s']:.2f}, "
            f"eval {long['eval_s'] / short['eval_s']:.2f}, peak memory {long['peak_mib'] / short['peak_mib']:.2f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
