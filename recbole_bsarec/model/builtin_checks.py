"""Checks for RecBole built-in models whose impossible settings otherwise end in a traceback mid-training."""

import math

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


CHECKS = {"FEARec": check_fearec}
