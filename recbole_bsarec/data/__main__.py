"""``python -m recbole_bsarec.data PATH.txt``: import one of the paper's datasets; bad input -> one line, exit 2."""

import sys

from recbole_bsarec.data.paper import convert
from recbole_bsarec.errors import ArgumentParser, UsageError


def main(argv=None):
    """Convert the given file; return the process exit code."""
    parser = ArgumentParser(prog="python -m recbole_bsarec.data", description="the paper's dataset as RecBole files")
    parser.add_argument("txt", help="the paper's file, e.g. LastFM.txt: 'user_id item_id item_id ...' per line")
    parser.add_argument("--data_path", default="dataset", help="parent folder of the dataset folder (default: dataset)")
    parser.add_argument("--name", help="dataset name (default: the file's stem)")
    try:
        args = parser.parse_args(argv)
        inter_file = convert(args.txt, args.data_path, args.name)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: could not write the dataset under {args.data_path} ({err}): check that folder", file=sys.stderr)
        return 2
    print(f"{inter_file.resolve()}  (train with --dataset={inter_file.stem} --data_path={args.data_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
