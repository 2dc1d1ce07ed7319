"""Each analysis writes a PNG and the CSV it was drawn from, both atomically, side by side; where they go is
checked before any work, so a bad path costs nothing and leaves nothing behind."""

import os

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or assumed

from matplotlib import pyplot as plt  # noqa: E402  (after choosing the backend)

from recbole_bsarec.atomic import replacing  # noqa: E402
from recbole_bsarec.errors import UsageError  # noqa: E402


def save_figure(fig, path):
    """``fig`` as a PNG at ``path`` (150 dpi), then closed."""
    with replacing(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path


def outputs(folder, name):
    """The PNG and CSV paths of analysis ``name`` under ``folder``."""
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{name}.png"), os.path.join(folder, f"{name}.csv")


def figure(ncols=1, width=5.0, height=3.6):
    """A figure with ``ncols`` axes side by side."""
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def check_folder_option(option, path):
    """A UsageError unless folder ``path`` (given as ``option``) exists or can be made: no file in the way."""
    if not path:
        raise UsageError(f"{option} is empty: give a folder, e.g. {option} docs/figures")
    refuse_file_in_the_way(option, path, path)


def check_file_option(option, path, example):
    """A UsageError unless file ``path`` (given as ``option``) can be written: not a folder, no file in the way of
    its folder (missing folders are made). ``example`` is a file name to suggest."""
    if not path:
        raise UsageError(f"{option} is empty: give a file name, e.g. {option} {example}")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path} is a folder: give a file name, e.g. {os.path.join(path, example)}")
    refuse_file_in_the_way(option, path, os.path.dirname(os.path.abspath(path)))


def refuse_file_in_the_way(option, path, folder):
    """A UsageError if ``folder`` (where ``option`` ``path`` writes), or the first of its parents that exists,
    is a file: no folder can be made there."""
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if os.path.isdir(existing):
        return
    if existing == os.path.abspath(path):
        raise UsageError(f"{option} {path} is a file, not a folder: give a folder for the outputs")
    raise UsageError(f"{option} {path}: {existing} is a file, so no folder can be made there: give another path")
