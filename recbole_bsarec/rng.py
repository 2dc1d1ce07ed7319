"""Every random-number state training draws from, as tensors and plain values (so a checkpoint holding it
loads with ``torch.load(weights_only=True)``): a resumed run then draws what the uninterrupted one would."""

import random

import numpy as np
import torch


def rng_state(loader):
    """Python's, numpy's, torch's (CPU and CUDA) and the training loader's shuffling generator's states."""
    version, words, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": {"version": version, "words": torch.tensor(words, dtype=torch.int64), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos)},
        "numpy_gauss": {"has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "loader": loader.generator.get_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state, loader):
    """Restore what ``rng_state`` saved, wherever the checkpoint was loaded to (a GPU run loads it onto the GPU,
    but every generator state is set from host memory)."""
    state = on_cpu(state)
    python = state["python"]
    random.setstate((python["version"], tuple(python["words"].tolist()), python["gauss"]))
    numpy, gauss = state["numpy"], state["numpy_gauss"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state((numpy["name"], keys, numpy["pos"], gauss["has_gauss"], gauss["cached"]))
    torch.set_rng_state(state["torch"])
    loader.generator.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def on_cpu(value):
    """``value`` with every tensor in it (nested in dicts and lists) moved to host memory."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {key: on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_cpu(item) for item in value)
    return value
