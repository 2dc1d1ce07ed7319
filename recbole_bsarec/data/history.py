"""History masking, in one place: the items each user had before the target an evaluation split scores, and what
full-sort evaluation does with their scores (``eval_history_mask``: none, zero as the reference code, exclude)."""

import math

import numpy as np
import torch

HISTORY_MASKS = {"none": None, "zero": 0.0, "exclude": -math.inf}


class UserHistory:
    """Each user's whole item sequence (not only the model's input window) before one split's target: all but the
    last ``offset`` items (validation: 2, test: 1, under the leave-one-out split), held as one array of items with
    each user's start and length, so a batch's entries are gathered on whatever device the history is on."""

    def __init__(self, sequences, offset):
        self.offset = offset
        lengths = np.zeros(max(sequences, default=0) + 1, dtype=np.int64)
        for user, items in sequences.items():
            lengths[user] = max(len(items) - offset, 0)
        kept = [items[:-offset] for items in sequences.values()]
        order = np.fromiter(sequences, dtype=np.int64, count=len(sequences))
        starts = np.zeros_like(lengths)
        starts[order] = np.cumsum([0, *(len(items) for items in kept)])[:-1]
        self.lengths, self.starts = torch.from_numpy(lengths), torch.from_numpy(starts)
        self.items = torch.from_numpy(np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)).long()

    def to(self, device):
        """This history on ``device``."""
        moved = object.__new__(UserHistory)
        moved.offset = self.offset
        moved.lengths, moved.starts, moved.items = (t.to(device) for t in (self.lengths, self.starts, self.items))
        return moved

    def entries(self, users):
        """(row, item) indices of every history item of each of ``users`` (a tensor of internal ids), on the
        history's device."""
        users = users.to(self.lengths.device)
        lengths = self.lengths[users]
        rows = torch.repeat_interleave(torch.arange(len(users), device=users.device), lengths)
        first = torch.cumsum(lengths, 0) - lengths  # where each row's entries begin
        within = torch.arange(len(rows), device=users.device) - first[rows]
        return rows, self.items[self.starts[users][rows] + within]


def mask_scores(scores, entries, mode):
    """Set the scores at ``entries`` (rows, items) as ``mode`` says, in place; ``none`` leaves them."""
    value = HISTORY_MASKS[mode]
    if value is not None:
        rows, items = entries
        scores[rows.to(scores.device), items.to(scores.device)] = value
    return scores
