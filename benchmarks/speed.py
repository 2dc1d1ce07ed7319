"""BSARec against RecBole's SASRec under identical settings, each on today's path (RecBole's loader, eager steps)
and on the faster ones (batches made on the device; the step compiled): training epoch time, how much of it is
making the batches, throughput, one training step, one full-sort evaluation, peak memory, and the share of this
machine's matmul throughput a step reaches; with ``--packing``, several runs at once.

Each (model, path) is measured in its own child process (``--child``), so peak memory and timings are its own.
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
# the training paths: today's (RecBole's loader and loop), batches made on the device, and the compiled step
PATHS = {
    "recbole": {"train_on_device": False},
    "device": {"train_on_device": True},
    "compiled": {"train_on_device": True, "pad_last_batch": True, "torch_compile": True},
}
DEFAULT_PATHS = {"cpu": ["recbole", "device"], "cuda": ["recbole", "device", "compiled"]}
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
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), help="training paths; the first is the baseline")
    parser.add_argument("--packing", type=int, nargs="+", default=[], help="runs at once of the first model")
    parser.add_argument("--epochs", type=int, default=3, help="measured training epochs (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="training epochs run before measuring")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads in every process (default: torch's)")
    parser.add_argument("--config", type=override, action="append", default=[], help="KEY=VALUE for both models")
    parser.add_argument("--max-users", type=int, help="keep only the first N users (smoke runs)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.epochs, args.max_users or 1, args.threads or 1, *args.packing) < 1 or args.warmup < 0:
        raise UsageError("--epochs, --max-users, --threads and --packing must be >= 1, --warmup >= 0")
    args.paths = args.paths or DEFAULT_PATHS[args.device]
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


def step_cost(trainer, train_data, device):
    """FLOPs of one training batch's forward + backward (counted by torch's FlopCounterMode, eagerly) and the
    median seconds of the trainer's whole step on it (gradients zeroed, loss, backward, the optimizer's update)."""
    from torch.utils.flop_counter import FlopCounterMode

    batch = next(iter(train_data)).to(device)
    model = trainer.model.train()
    with FlopCounterMode(display=False) as counter:
        model.calculate_loss(batch).backward()
    model.zero_grad(set_to_none=True)
    seconds = [timed(device, trainer._compiled_or_eager, batch) for _ in range(STEP_WARMUP + STEP_REPEATS)]
    return counter.get_total_flops(), statistics.median(seconds[STEP_WARMUP:]), len(batch), launches(trainer, batch)


def launches(trainer, batch):
    """Launches from the host in one training step (kernels and CUDA graphs, as the CUDA runtime calls the profiler
    records; None on the CPU): hundreds mean a launch-bound step, a few graph launches a captured one."""
    if batch[trainer.model.ITEM_SEQ].device.type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        trainer._compiled_or_eager(batch)
        torch.cuda.synchronize()
    return sum(1 for event in prof.events() if "Launch" in event.name and event.name.startswith("cu"))


def batching_seconds(train_data, device):
    """Seconds one epoch's training batches take to make and reach the device, with no training."""

    def make_all():
        for batch in train_data:
            batch.to(device)

    return timed(device, make_all)


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
        **PATHS[spec["path"]],
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
    epoch_s = statistics.median(epochs)
    if spec["only_epochs"]:
        return {"model": spec["model"], "path": spec["path"], "samples_per_s": train_data.sample_size / epoch_s}
    evaluations = [
        timed(device, trainer.evaluate, valid_data, load_best_model=False, show_progress=False) for _ in range(2)
    ]  # the first is warm-up
    batching_s = batching_seconds(train_data, device)
    flops, step_s, batch_size, step_launches = step_cost(trainer, train_data, device)
    if device.type == "cuda":
        peak_mib = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "model": spec["model"],
        "path": spec["path"],
        "dataset": spec["dataset"],
        "users": dataset.user_num - 1,  # RecBole counts the padding id 0
        "items": dataset.item_num - 1,
        "train_samples": train_data.sample_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "epoch_s": epochs,
        "epoch_s_median": epoch_s,
        "samples_per_s": train_data.sample_size / epoch_s,
        "batching_s": batching_s,
        "eval_s": evaluations[-1],
        "eval_users": valid_data.sample_size,
        "peak_mib": peak_mib,
        "step_batch": batch_size,
        "step_flops": flops,
        "step_s": step_s,
        "step_launches": step_launches,
        "step_gflops_per_s": flops / step_s / 1e9,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "config": {
            key: config[key]
            for key in [*SETTINGS, *PATHS["compiled"], *REPORTED, *(item.partition("=")[0] for item in spec["config"])]
        },
    }


def child_spec(model, path, args, data_path, dataset, workdir, threads=None, only_epochs=False, tag=""):
    """What one child process measures, and where it writes its result."""
    return {
        "model": model,
        "path": path,
        "dataset": dataset,
        "data_path": data_path,
        "device": args.device,
        "epochs": args.epochs,
        "warmup": args.warmup,
        "threads": threads or args.threads,
        "config": args.config,
        "only_epochs": only_epochs,
        "out": str(Path(workdir) / f"{model}-{path}{tag}.json"),
    }


def run_children(specs, workdir):
    """Run one child per spec, all at once, in ``workdir`` (where RecBole writes its folders); their results."""
    script = str(Path(__file__).resolve())
    env = {**os.environ, **({"OMP_NUM_THREADS": str(specs[0]["threads"])} if specs[0]["threads"] else {})}
    children = [
        subprocess.Popen([sys.executable, script, "--child", json.dumps(spec)], cwd=workdir, env=env) for spec in specs
    ]
    codes = [child.wait() for child in children]
    for spec, code in zip(specs, codes, strict=True):
        if code:
            if code != 2:  # 2: the child printed its one-line error itself
                print(
                    f"error: measuring {spec['model']} ({spec['path']}) failed with exit code {code} (see above)",
                    file=sys.stderr,
                )
            raise ChildFailed(code)
    return [json.loads(Path(spec["out"]).read_text()) for spec in specs]


def packing(args, data_path, dataset, workdir):
    """Aggregate samples/s of k runs of the first model on the last path at once, the machine's cores split
    among them (``--threads`` each, if given), for each k of ``--packing``."""
    cores = os.cpu_count() or 1
    rows = []
    for runs in args.packing:
        threads = args.threads or max(1, cores // runs)
        specs = [
            child_spec(args.models[0], args.paths[-1], args, data_path, dataset, workdir, threads, True, f"-{i}")
            for i in range(runs)
        ]
        results = run_children(specs, workdir)
        rows.append({"runs": runs, "threads": threads, "samples_per_s": sum(r["samples_per_s"] for r in results)})
    return rows


def report_lines(report):
    """The header, the markdown tables and the ratio lines."""
    results, matmul = report["results"], report["matmul"]
    first = results[0]
    rates = matmul["gflops"]
    overrides = " ".join(report["config"])
    lines = [
        f"{' vs '.join(dict.fromkeys(r['model'] for r in results))} on {first['dataset']} ({report['device']}): "
        f"{first['users']:,} users, {first['items']:,} items, {report['interactions']:,} interactions, "
        f"{first['train_samples']:,} training samples per epoch",
        f"device: {report['device_name']}, torch {report['torch']}, {first['threads']} threads, "
        f"Python {platform.python_version()}",
        "matmul: "
        + ", ".join(f"{dtype} {gflops:,.1f} GFLOP/s" for dtype, gflops in rates.items())
        + f" ({matmul['size']}x{matmul['size']}, best of {MATMUL_REPEATS})",
        f"epochs: median of {report['epochs']} after {report['warmup']} warm-up; overrides: {overrides or 'none'}",
        "paths: " + "; ".join(f"{path} = {PATHS[path]}" for path in report["paths"]),
        "",
        "| model | path | s/epoch (median) | samples/s | batching s/epoch (share) | step ms | launches/step | eval s "
        "| peak MiB | step GFLOP | step GFLOP/s | " + " | ".join(f"share of {dtype} matmul" for dtype in rates) + " |",
        "|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(rates),
    ]
    for r in results:
        shares = " | ".join(f"{r['step_gflops_per_s'] / gflops:.3g}" for gflops in rates.values())
        lines.append(
            f"| {r['model']} | {r['path']} | {r['epoch_s_median']:.3g} | {r['samples_per_s']:,.0f} | "
            f"{r['batching_s']:.3g} ({r['batching_s'] / r['epoch_s_median']:.0%}) | {r['step_s'] * 1e3:.3g} | "
            f"{'-' if r['step_launches'] is None else r['step_launches']} | "
            f"{r['eval_s']:.3g} | {r['peak_mib']:,.0f} | {r['step_flops'] / 1e9:.3g} | "
            f"{r['step_gflops_per_s']:.3g} | {shares} |"
        )
    lines += [
        "",
        f"step: one whole training step (gradients zeroed, loss, backward, Adam's update) on a batch of "
        f"{first['step_batch']}, median of {STEP_REPEATS}; FLOPs of its forward + backward as counted by "
        "torch.utils.flop_counter (matmuls and attention, BSARec's low-pass included; elementwise ops are not); "
        "batching: one epoch's batches made and moved to the device, nothing trained; launches: kernels and CUDA "
        "graphs one step launches from the host (GPU only)",
    ]
    if report["packing"]:
        lines += [
            "",
            f"| runs at once ({first['model']}, {report['paths'][-1]}) | threads each | aggregate samples/s | "
            f"vs one run on {first['path']} |",
            "|---|---|---|---|",
        ]
        for row in report["packing"]:
            lines.append(
                f"| {row['runs']} | {row['threads']} | {row['samples_per_s']:,.0f} | "
                f"{row['samples_per_s'] / first['samples_per_s']:.2f} |"
            )
    lines.append("")
    by_key = {(r["model"], r["path"]): r for r in results}
    models = list(dict.fromkeys(r["model"] for r in results))
    for path in report["paths"][1:]:
        for model in models:
            new, old = by_key[model, path], by_key[model, report["paths"][0]]
            epoch, step = new["epoch_s_median"] / old["epoch_s_median"], new["step_s"] / old["step_s"]
            lines.append(f"ratio {path}/{report['paths'][0]} ({model}): epoch {epoch:.2f}, step {step:.2f}")
    for path in report["paths"]:
        target = by_key[models[0], path]
        for model in models[1:]:
            other = by_key[model, path]
            ratios = [target[key] / other[key] for key in ("epoch_s_median", "eval_s", "peak_mib")]
            lines.append(
                f"ratio {models[0]}/{model} ({path}): epoch {ratios[0]:.2f}, eval {ratios[1]:.2f}, "
                f"peak memory {ratios[2]:.2f}"
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
        results = [
            run_children([child_spec(model, path, args, data_path, dataset, workdir)], workdir)[0]
            for path in args.paths
            for model in args.models
        ]
        packed = packing(args, data_path, dataset, workdir)
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
        "paths": args.paths,
        "matmul": matmul,
        "packing": packed,
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
