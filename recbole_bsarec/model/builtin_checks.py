"""Checks for RecBole built-in models: impossible settings that otherwise end in a traceback mid-training, and
settings that make a run needlessly slow."""

import math
from logging import getLogger

from recbole_bsarec.errors import ConfigError


def check_fearec(config):
    """FEARec's autocorrelation keeps int(topk_factor * ln N) time delays of an N-long window: at most N."""
    length, factor = config["MAX_ITEM_LIST_LENGTH"], config["topk_factor"]
    delays = int(factor * math.log(length))
    if delays > length:
        most = int(length / math.log(length)) if length > 1 else 0
        raise ConfigError(
            f"topk_factor={factor} keeps {delays} time delays of MAX_ITEM_LIST_LENGTH={length}: "
            f"FEARec needs topk_factor <= {most} for this window"
        )


def check_caser(config):
    """Caser's horizontal convolutions under cuDNN's deterministic algorithms (RecBole's ``reproducibility``) ran
    17x slower on an H100 (598 against 35 ms a step on LastFM): say so, and how to trade exact reruns for speed."""
    if config["reproducibility"] and config["device"].type == "cuda":
        getLogger(__name__).warning(
            "Caser on a GPU with reproducibility=True uses cuDNN's deterministic convolutions, about 17x slower; "
            "--reproducibility=False is faster, but two runs of one seed then differ in the last digits"
        )


CHECKS = {"FEARec": check_fearec, "Caser": check_caser}


def builtin_check(model_class):
    """The check of the RecBole model that ``model_class`` is or extends (CaserLeftPad gets Caser's), or None."""
    return next((CHECKS[cls.__name__] for cls in model_class.__mro__ if cls.__name__ in CHECKS), None)
