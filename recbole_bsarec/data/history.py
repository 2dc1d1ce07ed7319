"""History masking, in one place: the items each user had before the target an evaluation split scores, and what
full-sort evaluation does with their scores (``eval_history_mask``: none, zero as the reference code, exclude)."""

import math

import numpy as np
import torch

HISTORY_MASKS = {"none": None, "zero": 0.0, "exclude": -math.inf}


class UserHistory:
    """Each user's whole item sequence (not only the model's input window) before one split's target: all but the
    last ``offset`` items (validation: 2, test: 1, under the leave-one-out split)."""

    def __init__(self, sequences, offset):
        self.sequences, self.offset = sequences, offset

    def entries(self, users):
        """(row, item) indices of every history item of each of ``users`` (a tensor of internal ids)."""
        histories = [self.sequences[user][: -self.offset] for user in users.tolist()]
        rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
        return torch.from_numpy(rows), torch.from_numpy(np.concatenate(histories))


def mask_scores(scores, entries, mode):
    """Set the scores at ``entries`` (rows, items) as ``mode`` says, in place; ``none`` leaves them."""
    value = HISTORY_MASKS[mode]
    if value is not None:
        rows, items = entries
        scores[rows.to(scores.device), items.to(scores.device)] = value
    return scores
