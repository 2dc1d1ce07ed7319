"""Command line: RecBole-style ``--key=value`` arguments in, one results table out; bad input -> exit 2."""

import sys

from recbole_bsarec.errors import UsageError
from recbole_bsarec.options import parse_args
from recbole_bsarec.pipeline import run_recbole

METRICS = (("hit", "HR"), ("ndcg", "NDCG"), ("mrr", "MRR"))
ON_INTERRUPT = {
    "train_main": "interrupted",
    "search_main": "interrupted: continue with the same command and --resume",
    "compare_main": "interrupted: run the same command again to continue",
}


def results_table(result):
    """HR, NDCG and MRR at the evaluated cut-offs, validation beside test."""
    valid, test = result["best_valid_result"], result["test_result"]
    cutoffs = sorted({int(key.split("@")[1]) for key in test if "@" in key})
    lines = [
        f"{result['model']} on {result['dataset']} (best validation epoch, full ranking)",
        f"{'metric':<10}{'valid':>10}{'test':>10}",
    ]
    for name, label in METRICS:
        for k in cutoffs:
            key = f"{name}@{k}"
            if key in test:
                lines.append(f"{label + '@' + str(k):<10}{valid.get(key, float('nan')):>10.4f}{test[key]:>10.4f}")
    lines.append(f"run:        {result['run_dir']} (run.log, best.pth, last.pth, metrics.json)")
    return "\n".join(lines)


def main(argv=None):
    """Run the command the arguments name; return the process exit code (2: bad input, 130: interrupted)."""
    argv = sys.argv[1:] if argv is None else argv
    if any(arg.partition("=")[0] == "--search" for arg in argv):
        command = search_main
    elif "--compare" in argv:
        command = compare_main
    else:
        command = train_main
    try:
        return command(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(ON_INTERRUPT[command.__name__], file=sys.stderr)
        return 130


def train_main(argv):
    """One training + evaluation; prints the results table."""
    model, dataset, config_files, overrides = parse_args(argv)
    result = run_recbole(model, dataset, config_file_list=config_files, cmd_args=overrides)
    print(results_table(result))
    return 0


def search_main(argv):
    """``--search=SPACE.yaml``: a Ray Tune search; prints the trial table and where the outputs are; exit code 1
    when a trial failed."""
    from recbole_bsarec.search.table import to_markdown
    from recbole_bsarec.search.tuner import parse_search_args, search

    space_file, options, rest = parse_search_args(argv)
    model, dataset, config_files, overrides = parse_args(rest)
    outcome = search(model, dataset, config_files, overrides, space_file, options)
    spec, paths = outcome["spec"], outcome["paths"]
    print(f"search {spec['name']}: {len(outcome['rows'])} trials of {spec['model']} on {spec['dataset']}")
    print(to_markdown(outcome["rows"], list(spec["space"]), spec["metric"]))
    for label, path in paths.items():
        print(f"{label + ':':<6}{path}")
    print(f"ray:  {spec['folder']}")
    failed = [row["trial"] for row in outcome["rows"] if row["status"].startswith("error")]
    for trial in failed:
        print(f"failed: trial {trial} (its error.txt under {spec['folder']} says why)")
    return 1 if failed else 0


def compare_main(argv):
    """``--compare --models=A,B --datasets=D --seeds=42,1,2``: every run, then the Table-2-style table."""
    from recbole_bsarec.compare.command import compare

    text, paths, failed = compare(argv)
    print(text)
    for label, path in paths.items():
        print(f"{label + ':':<10}{path}")
    for folder in failed:
        print(f"failed:   {folder} (its run.log says why; the same command retries it)")
    return 1 if failed else 0
