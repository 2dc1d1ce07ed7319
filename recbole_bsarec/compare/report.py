"""``python -m recbole_bsarec.compare.report docs/RESULTS.md``: rewrite each comparison block of a markdown file
from the results registry, so every number in it traces to a record in results/. A block is

    <!-- compare --name=lastfm-paper --models=FMLPRec,BSARec --datasets=lastfm --config_files=... -->
    (generated)
    <!-- end compare -->

and its content is the table ``run.py --compare <those arguments> --table-only`` writes from the registry alone
(never from run folders: a fresh clone writes the same file). ``--check`` changes nothing and exits 1 when the
file is not what the registry gives."""

import re
import shlex
import sys

from recbole_bsarec.atomic import write_text
from recbole_bsarec.errors import UsageError

BLOCK = re.compile(r"(<!-- compare (?P<args>[^\n]*?) -->\n)(?P<body>.*?)(<!-- end compare -->)", re.S)


def render(text):
    """``text`` with every comparison block's content made anew from the registry."""
    from recbole_bsarec.compare.command import compare

    def table(match):
        generated, _, _ = compare(["--compare", *shlex.split(match["args"]), "--table-only"], from_registry=True)
        return match.group(1) + generated + match.group(4)

    return BLOCK.sub(table, text)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    paths = [arg for arg in argv if arg != "--check"]
    if len(paths) != 1:
        print("usage: python -m recbole_bsarec.compare.report [--check] FILE.md", file=sys.stderr)
        return 2
    try:
        with open(paths[0], encoding="utf-8") as handle:
            text = handle.read()
        new = render(text)
    except (OSError, UsageError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if check:
        if new != text:
            fix = f"python -m recbole_bsarec.compare.report {paths[0]}"
            print(f"{paths[0]} differs from what results/ gives: run {fix}")
            return 1
        return 0
    if new != text:
        write_text(paths[0], new)
    print(f"{paths[0]}: {len(BLOCK.findall(text))} comparison block(s) from results/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
