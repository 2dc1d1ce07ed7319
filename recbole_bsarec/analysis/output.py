"""Each analysis writes a PNG and the CSV it was drawn from, both atomically, side by side."""

import os

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or assumed

from matplotlib import pyplot as plt  # noqa: E402  (after choosing the backend)

from recbole_bsarec.atomic import replacing  # noqa: E402


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
