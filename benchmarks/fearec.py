"""This package's FEARec against RecBole's on LastFM under the paper protocol: seconds of one training step
(forward + backward of the full loss) and of one full-sort scoring batch, the two models interleaved step by step
on the same batches from the same weights and seed, so that the ratio holds on a machine other work shares.
Usage and options: benchmarks/README.md.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # measure this checkout's code, installed or not

from recbole_bsarec.data.paper import read_sequences, write_sequences  # noqa: E402
from recbole_bsarec.errors import UsageError  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "paper"
SETTINGS = {"show_progress": False, "state": "WARNING", "benchmark_filename": None}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--shared", default=str(SHARED), help="folder holding the paper's LastFM.txt")
    parser.add_argument("--steps", type=int, default=10, help="measured batches (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="batches run before measuring")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--max-users", type=int, help="keep only the first N users (smoke runs)")
    return parser.parse_args(argv)


def timed(device, function, *args):
    """Seconds ``function(*args)`` takes, GPU work included."""
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    function(*args)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def models_and_data(args, data_path):
    """RecBole's FEARec and this package's, with the same initial weights, and the LastFM loaders."""
    from recbole.model.sequential_recommender.fearec import FEARec as RecBoleFEARec
    from recbole.utils import init_seed

    from recbole_bsarec.pipeline import build_config, build_model, prepare

    txt = Path(args.shared) / "LastFM.txt"
    if not txt.is_file():
        raise UsageError(f"{txt} not found: pass --shared DIR, the folder holding the paper's LastFM.txt")
    write_sequences(read_sequences(txt)[: args.max_users], data_path, "LastFM")
    paper = str(ROOT / "properties" / "protocol" / "paper.yaml")
    config = build_config(
        "FEARec", "LastFM", [paper], {"data_path": data_path, "use_gpu": args.device == "cuda", **SETTINGS}
    )
    _, train, valid, _ = prepare(config)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])  # as build_model seeds its model
    models = {"RecBole": RecBoleFEARec(config, train._dataset).to(config["device"])}
    models["recbole-bsarec"] = build_model(config, train)
    return config, models, train, valid


def train_step(model, batch, losses):
    """Forward and backward of the full training loss (CE plus FEARec's contrastive and frequency terms)."""
    loss = model.train().calculate_loss(batch)
    loss.backward()
    model.zero_grad(set_to_none=True)
    losses.append(loss.item())


def measure(args, config, models, train, valid):
    """Median seconds per training step and per scoring batch of each model, and the largest loss difference."""
    from recbole.utils import init_seed

    steps, scoring, losses = ({name: [] for name in models} for _ in range(3))
    for index, batch in zip(range(args.warmup + args.steps), train, strict=False):
        batch = batch.to(args.device)
        for name, model in models.items():
            init_seed(config["seed"] + index, config["reproducibility"])  # the same dropout and same-target draws
            steps[name].append(timed(args.device, train_step, model, batch, losses[name]))
    evaluation = next(iter(valid))[0].to(args.device)
    with torch.no_grad():
        for _ in range(args.warmup + args.steps):
            for name, model in models.items():
                scoring[name].append(timed(args.device, model.eval().full_sort_predict, evaluation))
    median = {
        name: (statistics.median(steps[name][args.warmup :]), statistics.median(scoring[name][args.warmup :]))
        for name in models
    }
    largest = max(abs(a - b) for a, b in zip(*losses.values(), strict=True))
    return median, largest, len(evaluation)


def main(argv=None):
    """Measure both models and print the table and the ratios."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as data_path:
        config, models, train, valid = models_and_data(args, data_path)
        median, largest, users = measure(args, config, models, train, valid)
    print(
        f"FEARec on LastFM, paper protocol, batch {config['train_batch_size']}, {args.device}, "
        f"{torch.get_num_threads()} threads; median of {args.steps} after {args.warmup} warm-up"
    )
    print(f"| FEARec | training step (s) | full-sort scoring of {users} users (s) |")
    print("|---|---|---|")
    for name, (step, score) in median.items():
        print(f"| {name} | {step:.3f} | {score:.4f} |")
    (step_r, score_r), (step_o, score_o) = median.values()
    print(f"ratio RecBole/recbole-bsarec: training step {step_r / step_o:.2f}, scoring {score_r / score_o:.2f}")
    print(f"largest loss difference between the two, same batch and seed: {largest:.2e}")


if __name__ == "__main__":
    try:
        main()
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
