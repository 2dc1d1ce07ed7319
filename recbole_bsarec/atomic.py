"""Files that appear whole or not at all: written under a temporary name beside the target, then renamed."""

import csv
import glob
import io
import os
import tempfile
import time
from contextlib import contextmanager, suppress

UMASK = os.umask(0)
os.umask(UMASK)
PARTIAL = ".tmp-"  # the prefix of a file being written
STALE_S = 60  # a temporary file untouched this long belongs to a write that died


def remove_partial(folder):
    """Delete what writes into ``folder`` left half-done when their process was killed (SIGKILL, power loss):
    temporary files untouched for a minute, so that a write in progress in another process is left alone."""
    for path in glob.glob(os.path.join(glob.escape(folder), PARTIAL + "*")):
        with suppress(FileNotFoundError):
            if time.time() - os.path.getmtime(path) > STALE_S:
                os.unlink(path)


@contextmanager
def replacing(path, mode="w"):
    """An open temporary file beside ``path``; it replaces ``path`` when the block ends without an error."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(prefix=PARTIAL, suffix=os.path.splitext(path)[1], dir=directory)
    os.chmod(tmp_path, 0o666 & ~UMASK)  # mkstemp makes it private; the file should read like any other
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        os.unlink(tmp_path)
        raise


def write_text(path, text):
    """Write ``text`` to ``path`` atomically."""
    with replacing(path) as handle:
        handle.write(text)


def write_csv(path, rows):
    """``rows`` (dicts) as CSV at ``path``, atomically; the columns are the union of their keys, first seen first."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, out.getvalue())
    return path
