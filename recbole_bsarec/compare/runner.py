"""Running a comparison's runs: each one is the package's pipeline into its own run folder, continued from its
last checkpoint when one is there, then its test users' target ranks (``ranks.csv``) for the paired test.
Runs go one after another in this process, or as Ray tasks (``--jobs``, ``--gpus-per-run``, ``--address``)."""

import fcntl
import os
from contextlib import contextmanager

import torch

from recbole_bsarec.atomic import write_csv
from recbole_bsarec.errors import UsageError
from recbole_bsarec.pipeline import run_recbole
from recbole_bsarec.raycluster import ray_session
from recbole_bsarec.rundir import BEST, LAST, read_metrics

RANKS = "ranks.csv"
LOCK = ".lock"


def needs_training(spec):
    """True unless the run finished: metrics.json is there, and its training stopped early or used the epochs
    asked for now (a larger --epochs continues a run that stopped at the old limit)."""
    metrics = read_metrics(spec["run_dir"])
    if metrics is None:
        return True
    if "adopted_from" in metrics:  # a run trained elsewhere, brought in as it ended
        return False
    return not metrics["stopped_early"] and metrics["epochs_run"] < spec["epochs"]


@contextmanager
def locked(run_dir):
    """Hold the run folder's lock, so two comparisons never train one run at once."""
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, LOCK), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise UsageError(f"run '{run_dir}' is being trained by another process: wait for it") from err
        yield


def execute(spec, device=None):
    """Train (or continue) one run if it needs it, then write its ranks.csv; returns its metrics.json."""
    with locked(spec["run_dir"]):
        if needs_training(spec):
            last = os.path.join(spec["run_dir"], LAST)
            orphan = os.path.join(spec["run_dir"], BEST)
            if not os.path.isfile(last) and read_metrics(spec["run_dir"]) is None and os.path.isfile(orphan):
                os.unlink(orphan)  # killed before its first last.pth: the run starts again, and saves this again
            config_dict = {
                **spec["config_dict"],
                **(device or {}),
                "seed": spec["seed"],
                "run_dir": spec["run_dir"],
                "resume": last if os.path.isfile(last) else None,
                "show_progress": False,
            }
            run_recbole(spec["model"], spec["dataset"], spec["config_files"], config_dict, spec["cmd_args"])
        if not os.path.isfile(os.path.join(spec["run_dir"], RANKS)):
            write_ranks(spec)
    return read_metrics(spec["run_dir"])


def write_ranks(spec):
    """Each test user's target rank under the run's best checkpoint, as its test evaluation ranks it."""
    from recbole_bsarec.analysis.recommend import target_ranks
    from recbole_bsarec.pipeline import load_run

    trained = load_run(os.path.join(spec["run_dir"], BEST), data_path=spec["config_dict"]["data_path"])
    ranks = target_ranks(trained)
    field = trained.dataset.uid_field
    users = trained.dataset.id2token(field, ranks["user"])
    rows = [
        {"user": user, "length": int(length), "rank": int(rank)}
        for user, length, rank in zip(users, ranks["length"], ranks["rank"], strict=True)
    ]
    write_csv(os.path.join(spec["run_dir"], RANKS), rows)


def execute_all(specs, options, report):
    """Every spec that is not finished, in this process (``--jobs=1``, no GPU, no cluster) or as Ray tasks;
    ``report(spec, error)`` after each. Returns the specs that failed."""
    todo = [spec for spec in specs if needs_training(spec) or not os.path.isfile(os.path.join(spec["run_dir"], RANKS))]
    local = options["jobs"] == 1 and not options["gpus_per_run"] and not options["address"]
    if not todo:
        return []
    return in_process(todo, report) if local else with_ray(todo, options, report)


def in_process(specs, report):
    """One run after another, here."""
    failed = []
    for spec in specs:
        try:
            execute(spec)
            report(spec, None)
        except Exception as err:  # one failed run (a NaN loss, a full disk) must not stop the others
            failed.append(spec)
            report(spec, err)
    return failed


def with_ray(specs, options, report):
    """Each run a Ray task with the asked CPUs and GPUs; a crashed worker's task is retried (``--max-failures``)
    and continues from the run's last checkpoint."""
    import ray

    with ray_session(options["address"], num_cpus=options["jobs"]):
        task = ray.remote(ray_execute).options(
            num_cpus=options["cpus_per_run"],
            num_gpus=options["gpus_per_run"],
            max_retries=options["max_failures"],
        )
        pending = {task.remote(spec, int(max(1, options["cpus_per_run"]))): spec for spec in specs}
        failed = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(done[0])
            try:
                ray.get(done[0])
                report(spec, None)
            except Exception as err:  # a task's error comes back wrapped by Ray, whatever its type
                failed.append(spec)
                report(spec, err)
        return failed


def ray_execute(spec, threads):
    """``execute`` inside a Ray worker: its threads, and RecBole's device keys from the GPUs Ray assigned."""

    from recbole_bsarec.search.trial import device_overrides

    torch.set_num_threads(threads)
    return execute(spec, device_overrides())
