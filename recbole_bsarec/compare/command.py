"""``run.py --compare``: plan and check every run, train those not finished, record each finished run in the results
registry, write the table from the registry."""

import os
import sys

from recbole_bsarec.compare.adopt import adopt, plan_adoptions
from recbole_bsarec.compare.plan import check_folder, parse_compare_args, plan
from recbole_bsarec.compare.records import check_protocol, record_run
from recbole_bsarec.compare.runner import RANKS, execute_all, needs_training, write_ranks
from recbole_bsarec.compare.table import write_table
from recbole_bsarec.options import parse_args


def compare(argv, from_registry=False):
    """Run (or continue) a comparison; returns (markdown table, output paths, failed run folders). With
    ``--table-only`` nothing trains, and where the comparison's run folders are not on this machine (a fresh
    clone), or ``from_registry``, the table comes from the registry alone, with no data or configuration built."""
    options, rest = parse_compare_args(argv)
    _, _, config_files, overrides = parse_args([f"--dataset={options['datasets'][0]}", *rest])
    name = options["name"] or "-".join(options["datasets"])
    here = os.path.isdir(os.path.join(options["storage"], name)) and not from_registry
    build = here or not options["table_only"] or bool(options["adopt"])
    spec = plan(options, config_files, overrides, build=build)
    adoptions = plan_adoptions([p for p in options["adopt"].split(",") if p], spec) if options["adopt"] else []
    if build:
        check_folder(spec)
    check_protocol(spec["records"], spec["shared"])
    failed = []
    if build:
        adopt(adoptions)
        record_finished(spec["runs"])  # runs finished before (by hand, or before the registry): a conflict stops here
        if not options["table_only"]:

            def report(run, error):
                if error is None:
                    record_run(run, os.path.join(run["run_dir"], RANKS))  # at once: it survives a later kill
                state = "done" if error is None else f"failed: {' '.join(str(error).split())[:300]}"
                print(f"{run['model']} {run['dataset']} seed {run['seed']}: {state}", file=sys.stderr, flush=True)

            failed = [run["run_dir"] for run in execute_all(spec["runs"], options, report)]
    text, paths = write_table(spec, options)
    return text, paths, failed


def record_finished(runs):
    """Record every finished run (one trained by hand with ``run.py --run_dir=...`` first gets its ranks)."""
    for run in runs:
        if not needs_training(run):
            ranks = os.path.join(run["run_dir"], RANKS)
            if not os.path.isfile(ranks):
                write_ranks(run)
            record_run(run, ranks)
