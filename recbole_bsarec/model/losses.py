"""``loss_type: BCE``: binary cross-entropy with one sampled negative per target, the loss the reference code
trained its SASRec, Caser and FMLP-Rec baselines with (RecBole's sequential models know only CE and BPR)."""

import torch
import torch.nn.functional as F
from recbole.model.loss import BPRLoss
from torch import nn

LOSS_TYPES = ("CE", "BPR", "BCE")


class SampledBCELoss(nn.Module):
    """The reference code's two ``BCEWithLogitsLoss`` terms: each target's score against 1 and its sampled
    negative's against 0, each averaged over the batch, summed."""

    def forward(self, pos_score, neg_score):
        positive = F.binary_cross_entropy_with_logits(pos_score, torch.ones_like(pos_score))
        return positive + F.binary_cross_entropy_with_logits(neg_score, torch.zeros_like(neg_score))


PAIRWISE_LOSSES = {"BPR": BPRLoss, "BCE": SampledBCELoss}  # scored on the target and one sampled negative


def loss_function(loss_type):
    """The loss module of this package's models: CE over all items, or a pairwise one."""
    return PAIRWISE_LOSSES[loss_type]() if loss_type in PAIRWISE_LOSSES else nn.CrossEntropyLoss()


class SampledBCEMixin:
    """``loss_type: BCE`` for a model whose BPR branch scores each target and one sampled negative: the model is
    built and trained as with BPR (the same layers, the same sampled negative), the pair scored by SampledBCELoss
    instead of BPR's -log sigmoid(pos - neg). CE and BPR are the model's own."""

    LOSS_TYPES = LOSS_TYPES

    def __init__(self, config, dataset):
        if config["loss_type"] != "BCE":
            super().__init__(config, dataset)
            return
        config["loss_type"] = "BPR"  # the model's own constructor knows CE and BPR only
        try:
            super().__init__(config, dataset)
        finally:
            config["loss_type"] = "BCE"
        self.loss_fct = SampledBCELoss()  # self.loss_type stays "BPR": calculate_loss takes the pairwise branch
