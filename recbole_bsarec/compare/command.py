"""``run.py --compare``: plan and check every run, train those not finished, write the table."""

import os
import sys

from recbole_bsarec.compare.adopt import adopt, plan_adoptions
from recbole_bsarec.compare.plan import check_folder, parse_compare_args, plan
from recbole_bsarec.compare.runner import RANKS, execute_all, needs_training, write_ranks
from recbole_bsarec.compare.table import write_table
from recbole_bsarec.options import parse_args


def compare(argv):
    """Run (or continue) a comparison; returns (markdown table, output paths, failed run folders)."""
    options, rest = parse_compare_args(argv)
    _, _, config_files, overrides = parse_args([f"--dataset={options['datasets'][0]}", *rest])
    spec = plan(options, config_files, overrides)
    adoptions = plan_adoptions([path for path in options["adopt"].split(",") if path], spec) if options["adopt"] else []
    check_folder(spec)
    adopt(adoptions)
    failed = []
    if options["table_only"]:
        for run in spec["runs"]:  # ranks of runs that finished elsewhere (a run.py --run_dir=... by hand)
            if not needs_training(run) and not os.path.isfile(os.path.join(run["run_dir"], RANKS)):
                write_ranks(run)
    else:

        def report(run, error):
            state = "done" if error is None else f"failed: {' '.join(str(error).split())[:300]}"
            print(f"{run['model']} {run['dataset']} seed {run['seed']}: {state}", file=sys.stderr, flush=True)

        failed = [run["run_dir"] for run in execute_all(spec["runs"], options, report)]
    text, paths = write_table(spec, options)
    return text, paths, failed
