"""Checkpoints that ``torch.load(weights_only=True)`` accepts, written atomically."""

import enum
import os
import tempfile

import torch

PRIMITIVES = (str, int, float, bool, type(None))


def plain_config(config):
    """The configuration as plain values (str/number/bool/None, lists and dicts of them); enums by name."""

    def plain(value):
        if isinstance(value, enum.Enum):
            return value.name
        if isinstance(value, PRIMITIVES):
            return value
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        return str(value)

    return {key: plain(value) for key, value in config.final_config_dict.items()}


def atomic_save(state, path):
    """Write ``state`` to a temporary file beside ``path``, then rename it over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(prefix=".tmp-", suffix=".pth", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        os.unlink(tmp_path)
        raise
