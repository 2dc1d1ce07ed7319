"""DuoRec (Qiu et al., WSDM 2022, "Contrastive Learning for Representation Degeneration Problem in Sequential
Recommendation") as a RecBole sequential model: SASRec trained with CE over all items plus a contrastive term.

Two augmentations of a training sequence give its positive views: model-level dropout (the same sequence
encoded again, with other dropout masks) and a supervised positive (another training sequence with the same
target item). ``contrast`` picks the InfoNCE terms: ``un`` original vs dropout view (weight ``lmd``), ``su``
original vs supervised positive (``lmd_sem``), ``us`` both, ``us_x`` dropout view vs supervised positive
(``lmd_sem``), as DuoRec's and the BSARec authors' code; the other sequences of the batch are the negatives.
"""

import numbers

import torch
import torch.nn.functional as F
from recbole.model.sequential_recommender.sasrec import SASRec

from recbole_bsarec.errors import ConfigError

CONTRASTS = ("un", "su", "us", "us_x")
RESAMPLES = 3  # draws that try to give a sequence a supervised positive other than itself


def info_nce(first, second, tau, sim):
    """NT-Xent over a batch of pairs (first[i], second[i]): each of the 2B views must pick its partner among
    the other 2B - 1 views, by dot product or cosine similarity over ``tau``."""
    views = torch.cat([first, second])
    if sim == "cos":
        views = F.normalize(views, dim=-1)
    logits = views @ views.T / tau
    logits.fill_diagonal_(float("-inf"))
    batch = first.size(0)
    partner = torch.arange(2 * batch, device=views.device).roll(batch)
    return F.cross_entropy(logits, partner)


class SameTargetSampler:
    """Training sequences grouped by target item, to draw for each sequence another one with its target."""

    def __init__(self, dataset, item_field, seq_field, len_field):
        targets = dataset.inter_feat[item_field]
        self.order = torch.argsort(targets, stable=True)
        counts = torch.bincount(targets, minlength=dataset.item_num)
        self.count = counts
        self.start = torch.cumsum(counts, 0) - counts
        self.item_seq = dataset.inter_feat[seq_field]
        self.item_seq_len = dataset.inter_feat[len_field]

    def sample(self, targets, item_seq, generator=None):
        """Item sequences and lengths of one training sequence per target (on ``targets``' device): a uniform
        draw among those with the same target, redrawn up to RESAMPLES times where it equals the sequence's own
        (a target seen once has only itself)."""
        targets_cpu, own = targets.cpu(), item_seq.cpu()
        count = self.count[targets_cpu]
        chosen = torch.zeros_like(targets_cpu)
        redo = torch.ones_like(targets_cpu, dtype=torch.bool)
        for _ in range(RESAMPLES):
            offset = (torch.rand(len(targets_cpu), generator=generator) * count).long()
            draw = self.order[self.start[targets_cpu] + offset]
            chosen = torch.where(redo, draw, chosen)
            redo = redo & (self.item_seq[chosen] == own).all(dim=1) & (count > 1)
            if not redo.any():
                break
        return self.item_seq[chosen].to(targets.device), self.item_seq_len[chosen].to(targets.device)


class DuoRec(SASRec):
    """SASRec's encoder and CE over all items, plus ``lmd``/``lmd_sem`` times DuoRec's contrastive terms."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.check_config(config)
        self.contrast = config["contrast"]
        self.tau = float(config["tau"])
        self.sim = config["sim"]
        self.lmd = float(config["lmd"])
        self.lmd_sem = float(config["lmd_sem"])
        self.same_target = SameTargetSampler(dataset, self.ITEM_ID, self.ITEM_SEQ, self.ITEM_SEQ_LEN)

    @classmethod
    def check_config(cls, config):
        """Reject impossible hyperparameters with a message that names the key and the fix."""
        if config["loss_type"] != "CE":
            raise ConfigError(f"loss_type={config['loss_type']!r}: DuoRec trains with CE over all items, use CE")
        if config["contrast"] not in CONTRASTS:
            raise ConfigError(f"contrast={config['contrast']!r} is unknown: use one of {', '.join(CONTRASTS)}")
        if config["sim"] not in ("dot", "cos"):
            raise ConfigError(f"sim={config['sim']!r} is unknown: use dot or cos")
        if not isinstance(config["tau"], numbers.Real) or config["tau"] <= 0:
            raise ConfigError(f"tau={config['tau']!r} is not a positive temperature: use e.g. tau=1.0")
        for key in ("lmd", "lmd_sem"):
            if not isinstance(config[key], numbers.Real) or config[key] < 0:
                raise ConfigError(f"{key}={config[key]!r} is not a weight >= 0: use e.g. {key}=0.1")
        hidden_size, n_heads = config["hidden_size"], config["n_heads"]
        if not isinstance(n_heads, numbers.Integral) or n_heads < 1 or hidden_size % n_heads:
            raise ConfigError(
                f"n_heads={n_heads!r} does not divide hidden_size={hidden_size}: choose n_heads among the divisors"
            )

    def calculate_loss(self, interaction):
        item_seq, item_seq_len = interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]
        targets = interaction[self.POS_ITEM_ID]
        seq_output = self.forward(item_seq, item_seq_len)
        logits = torch.matmul(seq_output, self.item_embedding.weight.transpose(0, 1))
        loss = self.loss_fct(logits, targets)

        dropout_view = self.forward(item_seq, item_seq_len) if self.contrast in ("un", "us", "us_x") else None
        supervised_view = None
        if self.contrast in ("su", "us", "us_x"):
            supervised_view = self.forward(*self.same_target.sample(targets, item_seq))
        if self.contrast in ("un", "us"):
            loss = loss + self.lmd * info_nce(seq_output, dropout_view, self.tau, self.sim)
        if self.contrast in ("su", "us"):
            loss = loss + self.lmd_sem * info_nce(seq_output, supervised_view, self.tau, self.sim)
        if self.contrast == "us_x":
            loss = loss + self.lmd_sem * info_nce(dropout_view, supervised_view, self.tau, self.sim)
        return loss
