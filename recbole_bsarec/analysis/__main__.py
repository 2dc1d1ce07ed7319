"""python -m recbole_bsarec.analysis SUBCOMMAND ...: figures (PNG + CSV) and recommendations from checkpoints."""

import argparse
import sys

from recbole_bsarec.analysis import SUBCOMMANDS
from recbole_bsarec.errors import UsageError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m recbole_bsarec.analysis", description=__doc__.split(":")[1])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "takes_settings", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.overrides = unknown
    try:
        for line in args.run(args):
            print(line)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
