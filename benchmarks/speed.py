"""BSARec against RecBole's SASRec under identical settings: training epoch time, throughput, one full-sort
evaluation, peak memory, and the share of this machine's matmul throughput a training step reaches.

Each model is measured in its own child process (``--child``), so peak memory and timings are its own.
Usage and options: benchmarks/README.md.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
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

from recbole_bsarec.data.paper import read_sequences, write_sequences  # noqa: E402
from recbole_bsarec.errors import UsageError  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "paper"
SETTINGS = {
    "MAX_ITEM_LIST_LENGTH": 50,
    "hidden_size": 64,
    "inner_size": 256,
    "n_layers": 2,
    "n_heads": 2,
    "train_batch_size": 256,
    "loss_type": "CE",
    "train_neg_sample_args": None,
    "show_progress": False,
    "state": "WARNING",
    "benchmark_filename": None,
}
# package defaults that each child also reports (with SETTINGS and --config keys): both models ran with the same
REPORTED = ["hidden_dropout_prob", "attn_dropout_prob", "learning_rate", "eval_batch_size", "seed"]
MATMUL = {"cpu": (2048, ["float32"]), "cuda": (8192, ["float32", "bfloat16"])}
MATMUL_REPEATS = 5
STEP_WARMUP, STEP_REPEATS = 3, 10


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are UsageError, so they print as one line with exit code 2."""

    def error(self, message):
        raise UsageError(f"{message}: see python benchmarks/speed.py --help")


class ChildFailed(Exception):
    """A model's measuring process exited non-zero (its exit code); its own stderr says why."""


def override(text):
    """A ``--config KEY=VALUE`` argument, checked for its form."""
    key, sep, _ = text.partition("=")
    if not key or not sep:
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE (e.g. hidden_size=32)")
    return text


def parse_args(argv):
    """The command line; see benchmarks/README.md."""
    parser = ArgumentParser(prog="python benchmarks/speed.py", description="BSARec vs SASRec speed and memory")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dataset", choices=["lastfm", "synthetic-ml-1m"], default="lastfm")
    parser.add_argument("--shared", default=str(SHARED), help="folder holding the paper's LastFM.txt")
    parser.add_argument("--models", nargs="+", default=["BSARec", "SASRec"], help="the first is compared to the rest")
    parser.add_argument("--epochs", type=int, default=3, help="measured training epochs (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="training epochs run before measuring")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads in every process (default: torch's)")
    parser.add_argument("--config", type=override, action="append", default=[], help="KEY=VALUE for both models")
    parser.add_argument("--max-users", type=int, help="keep only the first N users (smoke runs)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.epochs, args.max_users or 1, args.threads or 1) < 1 or args.warmup < 0:
        raise UsageError("--epochs, --max-users and --threads must be >= 1, --warmup >= 0")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise UsageError(f"--json {args.json}: its folder does not exist; create it or write elsewhere")
    if args.device == "cuda" and not args.child and not torch.cuda.is_available():
        raise UsageError("--device cuda, but torch sees no GPU (torch.cuda.is_available() is False): use --device cpu")
    return args


def synthetic_ml1m(seed=0):
    """ML-1M-sized sequences: 6,040 users, 3,416 items, ~1M interactions; user lengths lognormal (at least 20,
    mean ~165, long tail as ML-1M's), items drawn without repeats by Zipf-like popularity."""
    rng = np.random.default_rng(seed)
    n_users, n_items, total, shortest = 6040, 3416, 1_000_209, 20
    extra = rng.lognormal(0.0, 1.15, n_users)
    lengths = np.minimum(shortest + (extra / extra.sum() * (total - shortest * n_users)).astype(int), n_items)
    log_popularity = -0.6 * np.log(np.arange(1, n_items + 1))
    sequences = []
    for user, length in enumerate(lengths, 1):
        keys = log_popularity + rng.gumbel(size=n_items)  # Gumbel top-k: popularity-weighted, without repeats
        chosen = np.argpartition(-keys, length - 1)[:length] + 1
        sequences.append((user, rng.permutation(chosen).tolist()))
    return sequences


def write_dataset(args, data_path):
    """Write the chosen dataset's atomic files under ``data_path``; return its name and interaction count."""
    if args.dataset == "synthetic-ml-1m":
        name, sequences = "synthetic-ml-1m", synthetic_ml1m()
    else:
        txt = Path(args.shared) / "LastFM.txt"
        if not txt.is_file():
            raise UsageError(f"{txt} not found: pass --shared DIR, the folder holding the paper's LastFM.txt")
        name, sequences = "LastFM", read_sequences(txt)
    sequences = sequences[: args.max_users]
    write_sequences(sequences, data_path, name)
    return name, sum(len(items) for _, items in sequences)


def synchronize(device):
    """Wait for queued GPU work, so that wall-clock times are the work's."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(device, function, *args, **kwargs):
    """Seconds ``function(*args, **kwargs)`` takes, device work included."""
    synchronize(device)
    start = time.perf_counter()
    function(*args, **kwargs)
    synchronize(device)
    return time.perf_counter() - start


def matmul_gflops(device):
    """Best-of-several GFLOP/s of a square matmul per dtype: what this machine reaches in practice."""
    size, dtypes = MATMUL[device]
    result = {}
    for dtype in dtypes:
        a, b = (torch.randn(size, size, device=device, dtype=getattr(torch, dtype)) for _ in range(2))
        seconds = min([timed(device, torch.matmul, a, b) for _ in range(MATMUL_REPEATS + 1)][1:])
        result[dtype] = 2 * size**3 / seconds / 1e9
    return {"size": size, "gflops": result}


def device_name(device):
    """The GPU's name, or the CPU model from /proc/cpuinfo."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())


def step_cost(model, train_data, device):
    """FLOPs (counted by torch's FlopCounterMode) and median seconds of one training batch's forward + backward."""
    from torch.utils.flop_counter import FlopCounterMode

    batch = next(iter(train_data)).to(device)
    model.train()

    def step():
        model.calculate_loss(batch).backward()
        model.zero_grad(set_to_none=True)

    with FlopCounterMode(display=False) as counter:
        step()
    seconds = [timed(device, step) for _ in range(STEP_WARMUP + STEP_REPEATS)][STEP_WARMUP:]
    return counter.get_total_flops(), statistics.median(seconds), len(batch)


def measure(spec):
    """One model's numbers (run in the child process): epochs, evaluation, training step, peak memory."""
    # imported here, so that the parent process never loads RecBole
    from recbole_bsarec.pipeline import build_config, build_model, prepare
    from recbole_bsarec.registry import get_trainer

    warnings.filterwarnings("ignore", category=FutureWarning)  # RecBole's pandas and GradScaler deprecations
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    config_dict = {
        **SETTINGS,
        "data_path": spec["data_path"],
        "use_gpu": spec["device"] == "cuda",
        "epochs": spec["warmup"] + spec["epochs"],
    }
    cmd_args = [f"--{item}" for item in spec["config"]]
    config = build_config(spec["model"], spec["dataset"], None, config_dict, cmd_args)
    dataset, train_data, valid_data, test_data = prepare(config)
    device = config["device"]
    model = build_model(config, train_data)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

    epochs = [
        timed(device, trainer._train_epoch, train_data, epoch, show_progress=False)
        for epoch in range(spec["warmup"] + spec["epochs"])
    ][spec["warmup"] :]
    evaluations = [
        timed(device, trainer.evaluate, valid_data, load_best_model=False, show_progress=False) for _ in range(2)
    ]  # the first is warm-up
    flops, step_s, batch_size = step_cost(model, train_data, device)
    if device.type == "cuda":
        peak_mib = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    epoch_s = statistics.median(epochs)
    return {
        "model": spec["model"],
        "dataset": spec["dataset"],
        "users": dataset.user_num - 1,  # RecBole counts the padding id 0
        "items": dataset.item_num - 1,
        "train_samples": train_data.sample_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "epoch_s": epochs,
        "epoch_s_median": epoch_s,
        "samples_per_s": train_data.sample_size / epoch_s,
        "eval_s": evaluations[-1],
        "eval_users": valid_data.sample_size,
        "peak_mib": peak_mib,
        "step_batch": batch_size,
        "step_flops": flops,
        "step_s": step_s,
        "step_gflops_per_s": flops / step_s / 1e9,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "config": {
            key: config[key] for key in [*SETTINGS, *REPORTED, *(item.partition("=")[0] for item in spec["config"])]
        },
    }


def run_child(model, args, data_path, dataset, workdir):
    """Measure ``model`` in a fresh process (working in ``workdir``, where RecBole writes its folders)."""
    out = Path(workdir) / f"{model}.json"
    spec = {
        "model": model,
        "dataset": dataset,
        "data_path": data_path,
        "device": args.device,
        "epochs": args.epochs,
        "warmup": args.warmup,
        "threads": args.threads,
        "config": args.config,
        "out": str(out),
    }
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)], cwd=workdir)
    if done.returncode:
        if done.returncode != 2:  # 2: the child printed its one-line error itself
            print(f"error: measuring {model} failed with exit code {done.returncode} (see above)", file=sys.stderr)
        raise ChildFailed(done.returncode)
    return json.loads(out.read_text())


def report_lines(report):
    """The header, the markdown table and the ratio lines."""
    results, matmul = report["results"], report["matmul"]
    first = results[0]
    matmul_float32 = matmul["gflops"]["float32"]
    overrides = " ".join(report["config"])
    lines = [
        f"{' vs '.join(r['model'] for r in results)} on {first['dataset']} ({report['device']}): "
        f"{first['users']:,} users, {first['items']:,} items, {report['interactions']:,} interactions, "
        f"{first['train_samples']:,} training samples per epoch",
        f"device: {report['device_name']}, torch {report['torch']}, {first['threads']} threads, "
        f"Python {platform.python_version()}",
        "matmul: "
        + ", ".join(f"{dtype} {gflops:,.1f} GFLOP/s" for dtype, gflops in matmul["gflops"].items())
        + f" ({matmul['size']}x{matmul['size']}, best of {MATMUL_REPEATS})",
        f"epochs: median of {report['epochs']} after {report['warmup']} warm-up; overrides: {overrides or 'none'}",
        "",
        "| model | s/epoch (median) | samples/s | eval s | peak MiB | step GFLOP | step GFLOP/s | fraction of matmul |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['epoch_s_median']:.3g} | {r['samples_per_s']:,.0f} | {r['eval_s']:.3g} | "
            f"{r['peak_mib']:,.0f} | {r['step_flops'] / 1e9:.3g} | {r['step_gflops_per_s']:.3g} | "
            f"{r['step_gflops_per_s'] / matmul_float32:.3g} |"
        )
    lines += [
        "",
        f"step: forward + backward of one batch of {first['step_batch']}, median of {STEP_REPEATS}; FLOPs as "
        "counted by torch.utils.flop_counter (matmuls and attention, BSARec's low-pass included; "
        "elementwise ops are not); "
        "fraction of the float32 matmul throughput",
    ]
    for other in results[1:]:
        lines.append(
            f"ratio {first['model']}/{other['model']}: epoch {first['epoch_s_median'] / other['epoch_s_median']:.2f}, "
            f"eval {first['eval_s'] / other['eval_s']:.2f}, peak memory {first['peak_mib'] / other['peak_mib']:.2f}"
        )
    return lines


def write_json(report, path):
    """Write ``report`` to ``path`` atomically (temporary file beside it, then rename)."""
    path = Path(path)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(report, out, indent=2)
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.remove(staging)


def benchmark(args):
    """Import the data, measure the matmul throughput, then each model in its own process."""
    if args.threads:
        torch.set_num_threads(args.threads)
    workdir = tempfile.mkdtemp(prefix="bsarec-speed-")
    try:
        data_path = str(Path(workdir) / "dataset")
        dataset, interactions = write_dataset(args, data_path)
        matmul = matmul_gflops(args.device)
        results = [run_child(model, args, data_path, dataset, workdir) for model in args.models]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "device": args.device,
        "device_name": device_name(args.device),
        "torch": torch.__version__,
        "settings": SETTINGS,
        "config": args.config,
        "epochs": args.epochs,
        "warmup": args.warmup,
        "matmul": matmul,
        "interactions": interactions,
        "results": results,
    }


def main(argv=None):
    """Parent: run the benchmark and print it; child (``--child SPEC``): measure one model."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        if args.child:
            spec = json.loads(args.child)
            Path(spec["out"]).write_text(json.dumps(measure(spec)))
            return 0
        report = benchmark(args)
        if args.json:
            write_json(report, args.json)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ChildFailed as err:
        return err.args[0]
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print("\n".join(report_lines(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
