"""What the other early-stopping rule would have done on finished runs: reads each run's run.log (its validation
scores per epoch, the epochs it saved as best, its stopping_rule and stopping_step) and replays the rule it did
not train with on the same scores, so two runs are not needed to see whether the two rules test different
checkpoints. Training does not depend on the rule, only where it stops and which epoch it tests, so the replay is
what that run would have done, as far as the log reaches.

- A run trained with ``stopping_rule: reference``: RecBole's rule is replayed with RecBole's own
  ``early_stopping`` on the logged ``valid_metric``, rounded to 4 decimals as RecBole compares it. It always trains
  past the reference rule's stop (one more epoch of patience at least), so the log cannot settle the question:
  "undecided" names the first epoch the log lacks, whose score decides; a tie within the log that moves RecBole's
  best is a "no" the log does show.
- A run trained with RecBole's rule (which stops no earlier): the reference rule is replayed on the logged
  ``valid_score``, which RecBole logs rounded to 4 decimals, so epochs that tie there count as no improvement:
  exact unless two epochs agree to 4 decimals.

    python benchmarks/stopping.py compare/lastfm-paper/runs/*/run.log
"""

import argparse
import math
import re
import sys

from recbole.utils import early_stopping

EPOCH = re.compile(r"epoch (\d+) evaluating \[time: [\d.]+s, valid_score: ([-\d.]+|nan|inf|-inf)\]")
SAVED = re.compile(r"Saving current: ")


def read_log(path, metric="ndcg@20"):
    """(rule, patience, [(epoch, logged valid_score, rounded metric)], the epochs saved as best, finished)."""
    rule, patience, epochs, saved, last, finished = "recbole", None, [], [], None, False
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.read().splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("stopping_rule ="):
            rule = line.split("=", 1)[1].strip()
        elif line.strip().startswith("stopping_step =") and patience is None:
            patience = int(line.split("=", 1)[1])
        elif match := EPOCH.search(line):
            last = int(match.group(1))
            values = dict(re.findall(r"(\S+) : ([\d.]+)", lines[i + 2] if i + 2 < len(lines) else ""))
            epochs.append((last, float(match.group(2)), float(values.get(metric, "nan"))))
        elif SAVED.search(line) and last is not None and (not saved or saved[-1] != last):
            saved.append(last)
        elif "test result" in line:
            finished = True
    return rule, 10 if patience is None else patience, epochs, saved, finished


def replay_recbole(epochs, patience):
    """RecBole's rule on the rounded scores: (best epoch, epoch it stops after, or None past the log)."""
    best, step, best_epoch = -math.inf, 0, None
    for epoch, _, rounded in epochs:
        best, step, stop, update = early_stopping(rounded, best, step, max_step=patience, bigger=True)
        best_epoch = epoch if update else best_epoch
        if stop:
            return best_epoch, epoch
    return best_epoch, None


def replay_reference(epochs, patience):
    """The reference rule on the logged scores: strictly greater improves, stop after ``patience`` without."""
    best, count, best_epoch = -math.inf, 0, None
    for epoch, score, _ in epochs:
        if score > best:
            best, count, best_epoch = score, 0, epoch
        else:
            count += 1
            if count >= patience:
                return best_epoch, epoch
    return best_epoch, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="+", help="run.log files of finished runs")
    parser.add_argument("--metric", default="ndcg@20", help="the runs' valid_metric, lower case (default ndcg@20)")
    args = parser.parse_args(argv)
    print("| run | trained with | best epoch | stopped after | other rule | its best epoch | it stops after | same |")
    print("|---|---|---|---|---|---|---|---|")
    same = 0
    for path in args.logs:
        rule, patience, epochs, saved, finished = read_log(path, args.metric)
        if not epochs or not finished:
            print(f"| {path} | not finished: left out | | | | | | |")
            continue
        other, replay = ("recbole", replay_recbole) if rule == "reference" else ("reference", replay_reference)
        best, stop = replay(epochs, patience)
        stop_text = f"> {epochs[-1][0]} (past the log)" if stop is None else str(stop)
        if best != saved[-1]:
            agree = "no"
        elif stop is None:
            agree = f"undecided (epoch {epochs[-1][0] + 1})"
        else:
            agree, same = "yes", same + 1
        run = path.split("/")[-2] if "/" in path else path
        print(f"| {run} | {rule} | {saved[-1]} | {epochs[-1][0]} | {other} | {best} | {stop_text} | {agree} |")
    done = sum(read_log(path, args.metric)[4] for path in args.logs)
    print(f"\nthe same checkpoint under both rules, as far as the logs show: {same} of {done} finished runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
