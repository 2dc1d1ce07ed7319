"""One Ray Tune trial: the package's pipeline on the device Ray assigned, reporting after every validation."""

import glob
import json
import os
import time

import ray
import torch
from ray.air import session

from recbole_bsarec.pipeline import setup
from recbole_bsarec.search.table import plain


def device_overrides():
    """RecBole's device keys for the GPUs Ray gave this trial: RecBole writes ``gpu_id`` into
    CUDA_VISIBLE_DEVICES, so it must be Ray's assignment (or empty for a CPU trial), not RecBole's '0'."""
    gpu_ids = [str(gpu) for gpu in ray.get_gpu_ids()]
    return {"gpu_id": ",".join(gpu_ids), "use_gpu": bool(gpu_ids)}


REPORTED = (
    "epoch",
    "valid_score",
    "best_valid_score",
    "best_epoch",
    "valid",
    "test",
    "end",
    "train_time_s",
    "node_id",
    "gpu_id",
    "cuda_visible_devices",
    "device",
)


def config_key(config):
    """A trial's configuration as a text that is equal for equal configurations, numpy values or not."""
    return json.dumps(config, sort_keys=True, default=plain)


def recorded_reports(folder):
    """The reports the trials in the search folder ``folder`` recorded, by configuration: of all of its runs (a
    trial Ray started again after a failure has one per start, each from training_iteration 1), the longest."""
    records = {}
    for path in sorted(glob.glob(os.path.join(glob.escape(folder), "*", "result.json"))):
        runs = []
        for result in results(path):
            if result["training_iteration"] == 1:
                runs.append([result])
            elif runs and result["training_iteration"] == len(runs[-1]) + 1:
                runs[-1].append(result)
        for run in runs:
            key = config_key(run[0]["config"])
            if len(run) > len(records.get(key, [])):
                records[key] = run
    return {key: [{name: r[name] for name in REPORTED if name in r} for r in run] for key, run in records.items()}


def results(path):
    """The results in Ray's ``result.json`` at ``path``, but a line cut short by a kill."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def run_trial(params, spec, records):
    """Train ``spec``'s model with the sampled ``params``. Every validation reports the epoch's score, the best
    so far and the test metrics of the best epoch so far (scored when it becomes best), so selection uses
    validation only and a trial stopped early by the scheduler still has its test metrics. A configuration that
    ``records`` holds (a resumed search: see tuner.search) first reports its recorded reports, and trains only if
    it did not end and the scheduler lets it go on: from the start, reporting only the epochs after them."""
    recorded = records.get(config_key(params), [])
    for result in recorded:
        session.report(result)
    if recorded and recorded[-1]["end"]:
        return
    replayed = recorded[-1]["epoch"] if recorded else 0
    started = time.time()
    torch.set_num_threads(max(1, int(spec["cpus_per_trial"])))
    config_dict = {**spec["config_dict"], **params, **device_overrides(), "show_progress": False}
    config, trainer, (train_data, valid_data, test_data) = setup(
        spec["model"], spec["dataset"], spec["config_files"], config_dict, spec["cmd_args"]
    )
    best = {"test": {}}
    where = {
        "node_id": ray.get_runtime_context().get_node_id(),
        "gpu_id": config["gpu_id"],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "device": str(config["device"]),
    }

    def report(epoch_idx, valid_score):
        if trainer.cur_step == 0:  # RecBole's early stopping just recorded a new best epoch
            best["epoch"] = epoch_idx
            best["test"] = dict(trainer.evaluate(test_data, load_best_model=False))
        if epoch_idx < replayed:
            return
        end = ""
        if trainer.cur_step > trainer.stopping_step:
            end = "early stopping"
        elif epoch_idx + 1 >= trainer.epochs:
            end = "max epochs"
        session.report(
            {
                "epoch": epoch_idx + 1,
                "valid_score": float(valid_score),
                "best_valid_score": float(trainer.best_valid_score),
                "best_epoch": best.get("epoch", -1) + 1,
                "valid": {k: float(v) for k, v in trainer._valid_result.items()},
                "test": {k: float(v) for k, v in best["test"].items()},
                "end": end,
                "train_time_s": time.time() - started,
                **where,
            }
        )

    trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=report)
