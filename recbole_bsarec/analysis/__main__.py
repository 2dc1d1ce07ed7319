"""python -m recbole_bsarec.analysis SUBCOMMAND ...: figures (PNG + CSV) and recommendations from checkpoints."""

import sys

from recbole_bsarec.analysis import recommend, representations, sensitivity
from recbole_bsarec.errors import ArgumentParser, UsageError

SUBCOMMANDS = [representations, recommend, sensitivity]


def main(argv=None):
    """Run one sub-command; return the process exit code (2 for bad input, said in one line on stderr)."""
    parser = ArgumentParser(prog="python -m recbole_bsarec.analysis", description=__doc__.split(":")[1])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.register(sub)
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown and not getattr(args, "takes_settings", False):
            raise UsageError(f"unrecognized arguments: {' '.join(unknown)}: see {parser.prog} {args.command} --help")
        args.overrides = unknown
        for line in args.run(args):
            print(line)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: {err}: check the paths given and their folders", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
