"""The search command: validate everything up front, then Ray Tune's Tuner (hyperopt or grid, ASHA) over
trials of the one pipeline; write the trial table and the best settings; resume an interrupted search by running
it again, its recorded trials answering from their records (see ``search``)."""

import json
import os

from recbole_bsarec.errors import ConfigError, UsageError
from recbole_bsarec.options import (
    FLAG,
    Option,
    dataset_parent,
    number,
    one_of,
    parse_options,
    portable_inputs,
    ray_options,
    storage_options,
)
from recbole_bsarec.pipeline import build_config
from recbole_bsarec.search.space import corners, load_space, param_space

OPTIONS = {
    "search": Option(required="--search needs the search space's yaml: --search=properties/search/bsarec.yaml"),
    "samples": Option(None, number(int, 1)),
    "algo": Option("hyperopt", one_of("hyperopt", "grid")),
    "scheduler": Option("asha", one_of("asha", "none")),
    "grace_period": Option(None, number(int, 1)),
    "reduction_factor": Option(2, number(float, 1)),
    "initial_points": Option(None, number(int, 1)),
    **ray_options("trial", max_concurrent=None),
    **storage_options("searches"),
    "resume": FLAG,
}
RAY_SETS = ("gpu_id", "use_gpu", "data_path", "config_files")


def parse_search_args(argv):
    """Split ``--search=FILE`` and the search options (``--samples=8``, ``--gpus-per-trial=0.5``, ``--resume``...)
    from the RecBole arguments; returns (space file, options, the other arguments)."""
    options, rest = parse_options(argv, OPTIONS)
    return options.pop("search"), options, rest


def plan(model, dataset, config_files, cmd_args, space_file, options, config_dict=None):
    """Everything a trial needs, checked before Ray starts: the dataset exists, every searched key is a
    setting of the model and every value of it builds a valid configuration. Paths become absolute because
    each trial runs in its own folder, possibly on another machine."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        return checked_plan(model, dataset, config_files, cmd_args, space_file, options, config_dict)
    finally:  # RecBole's Config writes its gpu_id there; Ray must still see every GPU of this machine
        if visible is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = visible


def checked_plan(model, dataset, config_files, cmd_args, space_file, options, config_dict):
    """plan's work."""
    for arg in cmd_args:
        key = arg[2:].partition("=")[0]
        if key == "resume":
            raise UsageError("--resume=PATH resumes one training run; a search resumes with --resume alone")
        if key in ("gpu_id", "use_gpu"):
            raise UsageError(f"--{key} is set per trial from Ray's assignment in a search: use --gpus-per-trial")
    space = load_space(space_file)
    config_files, cmd_args, config_dict = portable_inputs(config_files, cmd_args, config_dict)
    config = build_config(model, dataset, config_files, config_dict, cmd_args)
    config_dict["data_path"] = dataset_parent(config)
    fixed = sorted(set(space) & {arg[2:].partition("=")[0] for arg in cmd_args})
    if fixed:
        raise UsageError(f"{', '.join(fixed)} is both searched and fixed by --{fixed[0]}=...: drop one of them")
    unknown = [key for key in space if key not in config.final_config_dict or key in RAY_SETS]
    if unknown:
        raise UsageError(
            f"search space '{space_file}': {', '.join(unknown)} is not a setting {config['model']} can search"
        )
    for values in corners(space):
        try:
            build_config(model, dataset, config_files, {**config_dict, **values}, cmd_args)
        except ConfigError as err:
            raise UsageError(f"search space '{space_file}' holds an impossible configuration: {err}") from err
    epochs = config["epochs"]
    samples = options["samples"] or (1 if options["algo"] == "grid" else 10)
    name = options["name"] or f"{config['model']}-{config['dataset']}"
    shown = [f"--config_files='{' '.join([*config_files, 'BEST_YAML'])}'", *cmd_args]
    shown.append(f"--data_path={config_dict['data_path']}")
    return {
        "model": config["model"],
        "dataset": config["dataset"],
        "config_files": config_files,
        "config_dict": config_dict,
        "cmd_args": cmd_args,
        "space_file": os.path.abspath(space_file),
        "space": {key: [kind, values] for key, (kind, values) in space.items()},
        "metric": config["valid_metric"].lower(),
        "mode": "max" if config["valid_metric_bigger"] else "min",
        "epochs": epochs,
        "seed": config["seed"],
        "name": name,
        "folder": os.path.join(os.path.abspath(options["storage"]), name),
        "shown_args": shown,
        "cpus_per_trial": options["cpus_per_trial"],
        "gpus_per_trial": options["gpus_per_trial"],
        "algo": options["algo"],
        "samples": samples,
        "initial_points": options["initial_points"] or max(1, min(20, samples // 2)),
        "scheduler": options["scheduler"],
        "grace_period": min(options["grace_period"] or max(1, min(10, epochs // 4)), epochs),
        "reduction_factor": options["reduction_factor"],
        "max_concurrent": options["max_concurrent"],
    }


SAME_ON_RESUME = (
    *("model", "dataset", "config_files", "config_dict", "cmd_args", "space", "algo", "samples", "initial_points"),
    *("scheduler", "grace_period", "reduction_factor", "max_concurrent"),
)


def check_resume(spec, resume):
    """A new search must not overwrite an old one; a resumed one must be the same search."""
    from ray.tune import Tuner

    saved_file = os.path.join(spec["folder"], "search.json")
    exists = os.path.exists(saved_file) or Tuner.can_restore(spec["folder"])
    if resume and not exists:
        raise UsageError(f"--resume: no search to continue in '{spec['folder']}'; drop --resume to start it")
    if not resume and exists:
        raise UsageError(
            f"search '{spec['folder']}' exists: add --resume to continue it, or --name=OTHER for a new one"
        )
    if resume and os.path.exists(saved_file):
        with open(saved_file, encoding="utf-8") as handle:
            saved = json.load(handle)
        changed = [key for key in SAME_ON_RESUME if json.loads(json.dumps(spec[key])) != saved.get(key)]
        if changed:
            raise UsageError(
                f"--resume: '{spec['folder']}' was started with other {', '.join(changed)}; "
                "resume it with its original command"
            )


def tuner_for(spec, options, records):
    """Ray Tune's Tuner for ``spec``: trials with the asked resources, the searcher, the scheduler, retries;
    a trial whose configuration ``records`` holds answers from its recorded reports."""
    from ray import air, tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from recbole_bsarec.search.distinct import DistinctHyperOptSearch
    from recbole_bsarec.search.trial import run_trial

    trainable = tune.with_resources(
        tune.with_parameters(run_trial, spec=spec, records=records),
        {"cpu": spec["cpus_per_trial"], "gpu": spec["gpus_per_trial"]},
    )
    space = param_space({key: tuple(domain) for key, domain in spec["space"].items()}, spec["algo"])
    searcher = None
    if spec["algo"] == "hyperopt":
        searcher = DistinctHyperOptSearch(n_initial_points=spec["initial_points"], random_state_seed=spec["seed"])
    if spec["scheduler"] == "asha":
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            max_t=spec["epochs"],
            grace_period=spec["grace_period"],
            reduction_factor=spec["reduction_factor"],
        )
    else:
        scheduler = FIFOScheduler()
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="best_valid_score",
            mode=spec["mode"],
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=spec["samples"],
            max_concurrent_trials=spec["max_concurrent"],
        ),
        run_config=air.RunConfig(
            name=spec["name"],
            storage_path=os.path.dirname(spec["folder"]),
            failure_config=air.FailureConfig(max_failures=options["max_failures"]),
            verbose=1,
        ),
    )


def search(model, dataset, config_files, cmd_args, space_file, options, config_dict=None):
    """Run (or resume) a search; returns its trial rows and the paths of its outputs.

    A resumed search runs the search again from its start, with its seed, in its folder: a trial whose configuration
    was tried before reports that trial's recorded reports, epoch by epoch, instead of training, and trains (from its
    start, reporting only the later epochs) if the scheduler lets it go past them. ASHA and the searcher thus see what
    they saw before the interruption; Ray 2.6's ``Tuner.restore`` restores neither ASHA's rungs nor the reports of
    the trials it recorded as ended. With ``--max-concurrent=1`` and training that repeats its numbers (RecBole's
    ``reproducibility``), a resumed search decides as the same search uninterrupted, its best included; with trials
    side by side, what they see depends on which trial reports first, interrupted or not. Each run adds its own
    trial folders; the earlier ones keep their run folders and checkpoints."""
    from recbole_bsarec.atomic import remove_partial, write_text
    from recbole_bsarec.raycluster import ray_session
    from recbole_bsarec.search.table import trial_rows, write_outputs
    from recbole_bsarec.search.trial import recorded_reports

    spec = plan(model, dataset, config_files, cmd_args, space_file, options, config_dict)
    check_resume(spec, options["resume"])
    if options["resume"]:
        remove_partial(spec["folder"])  # the outputs a kill cut short
    records = recorded_reports(spec["folder"]) if options["resume"] else {}
    with ray_session(options["address"]):
        if not options["resume"]:
            write_text(os.path.join(spec["folder"], "search.json"), json.dumps(spec, indent=1) + "\n")
        results = tuner_for(spec, options, records).fit()
    keys = list(spec["space"])
    rows = trial_rows(results, keys, spec["mode"])
    return {"spec": spec, "rows": rows, "paths": write_outputs(spec["folder"], rows, keys, spec, spec["metric"])}
