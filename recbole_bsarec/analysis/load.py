"""Checkpoints as analysis commands take them: each given once, labelled by model (and path where models repeat)."""

import os
from pathlib import Path

from recbole_bsarec.errors import UsageError


def check_distinct(paths):
    """A UsageError if one checkpoint is given twice: its model would only be compared with itself."""
    seen = {}
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            also = "" if seen[real] == path else f" (also as '{seen[real]}')"
            raise UsageError(f"checkpoint '{path}' is given twice{also}: give different checkpoints")
        seen[real] = path


def checkpoint_labels(paths, names):
    """Each checkpoint's model name, followed where names repeat by the shortest tail of its path that tells the
    checkpoints apart (runs/A/best.pth and runs/B/best.pth: 'BSARec (A/best.pth)', 'BSARec (B/best.pth)')."""
    parts = [Path(path).parts for path in paths]
    depth = next(d for d in range(1, max(map(len, parts)) + 1) if len({p[-d:] for p in parts}) == len(parts))
    return [
        name if names.count(name) == 1 else f"{name} ({Path(*part[-depth:])})"
        for name, part in zip(names, parts, strict=True)
    ]
