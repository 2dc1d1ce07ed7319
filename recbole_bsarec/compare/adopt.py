"""``--adopt=CHECKPOINT,...``: runs trained before (``run.py``, a search trial, another machine) join a comparison
when their checkpoint's model, dataset and seed are among its runs and every setting they share with the
comparison's configuration is equal. The checkpoint is copied in as the run's best.pth and evaluated here."""

import os
import shutil

from recbole_bsarec.checkpoint import NOT_COMPARED, plain_values
from recbole_bsarec.errors import UsageError
from recbole_bsarec.pipeline import build_config, load_run
from recbole_bsarec.registry import get_trainer
from recbole_bsarec.rundir import BEST, read_metrics, write_metrics


def plan_adoptions(paths, spec):
    """Each checkpoint of ``paths`` with its run of the comparison ``spec`` and the run it rebuilds, all checked
    before anything is written."""
    adoptions = []
    for path in paths:
        trained = load_run(path)
        saved = trained.checkpoint["config"]
        key = (saved["model"], saved["dataset"], saved["seed"])
        run = next((r for r in spec["runs"] if (r["model"], r["dataset"], r["seed"]) == key), None)
        if run is None:
            raise UsageError(f"--adopt: '{path}' is {key[0]} on {key[1]}, seed {key[2]}: not a run of this comparison")
        if read_metrics(run["run_dir"]) is not None:
            raise UsageError(f"--adopt: '{run['run_dir']}' has finished already; drop '{path}' from --adopt")
        wanted = build_config(run["model"], run["dataset"], run["config_files"], run["config_dict"], run["cmd_args"])
        differ = [
            f"{name}={saved[name]!r} (here {wanted[name]!r})"
            for name in sorted(wanted.final_config_dict)
            if name not in NOT_COMPARED and name in saved and plain_values({"v": wanted[name]})["v"] != saved[name]
        ]
        if differ:
            raise UsageError(f"--adopt: '{path}' was trained with other settings: {', '.join(differ)[:400]}")
        adoptions.append((path, run, trained))
    return adoptions


def adopt(adoptions):
    """Copy each checkpoint in as its run's best.pth and evaluate it here: metrics.json; returns the folders."""
    folders = []
    for path, run, trained in adoptions:
        os.makedirs(run["run_dir"], exist_ok=True)
        shutil.copyfile(path, os.path.join(run["run_dir"], BEST))
        trainer = get_trainer(trained.config["MODEL_TYPE"], trained.config["model"])(trained.config, trained.model)
        valid = trainer.evaluate(trained.valid_data, load_best_model=False, show_progress=False)
        test = trainer.evaluate(trained.test_data, load_best_model=False, show_progress=False)
        source = read_metrics(os.path.dirname(os.path.abspath(path))) or {}  # the run folder it was trained in
        write_metrics(
            run["run_dir"],
            {
                "model": run["model"],
                "dataset": run["dataset"],
                "seed": run["seed"],
                "best_valid_result": {k: float(v) for k, v in valid.items()},
                "best_valid_score": float(valid[trained.config["valid_metric"].lower()]),
                "test_result": {k: float(v) for k, v in test.items()},
                "best_epoch": trained.checkpoint["epoch"] + 1,
                "adopted_from": os.path.abspath(path),
                "environment": source.get("environment"),
                "epochs_run": source.get("epochs_run"),
                "run_dir": run["run_dir"],
                "checkpoint": os.path.join(run["run_dir"], BEST),
                "settings": trained.checkpoint["external_config"],
            },
        )
        folders.append(run["run_dir"])
    return folders
