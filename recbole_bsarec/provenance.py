"""Where a run ran: the package's commit, library versions and the device, recorded in its metrics.json so a
result in the registry (results/) says what produced it."""

import os
import platform
import subprocess
import sys

import numpy
import recbole
import torch

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def package_commit():
    """The git commit of this package's checkout, '+dirty' when tracked files differ from it; None outside git."""

    def git(*args):
        done = subprocess.run(["git", "-C", PACKAGE_ROOT, *args], capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except OSError:  # no git on this machine
        return None
    return None if commit is None else commit + ("+dirty" if dirty else "")


def device_name(device):
    """The GPU's name, or the CPU's model, of ``device``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or platform.machine()


def environment(device):
    """What produced a run on ``device``: commit, versions, device and the threads it used."""
    return {
        "package_commit": package_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "recbole": recbole.__version__,
        "numpy": numpy.__version__,
        "device": device_name(device),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "platform": sys.platform,
    }
