"""One Ray Tune trial: the package's pipeline on the device Ray assigned, reporting after every validation."""

import json
import os
import time

import ray
import torch
from ray.air import session

from recbole_bsarec.pipeline import setup


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


def finished_report(trial_dir):
    """The last report of this trial if it already ran to its end: a search killed before Ray recorded the
    trial as finished restarts it, and it should answer from its results rather than train again."""
    try:
        with open(os.path.join(trial_dir, "result.json"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            last = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the kill
        return {key: last[key] for key in REPORTED if key in last} if last.get("end") else None
    return None


def run_trial(params, spec):
    """Train ``spec``'s model with the sampled ``params``. Every validation reports the epoch's score, the best
    so far and the test metrics of the best epoch so far (scored when it becomes best), so selection uses
    validation only and a trial stopped early by the scheduler still has its test metrics."""
    done = finished_report(session.get_trial_dir())
    if done:
        session.report(done)
        return
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
