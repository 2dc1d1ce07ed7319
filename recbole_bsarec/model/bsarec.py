"""BSARec (Shin et al., AAAI 2024) and the paper's ablations (Table 3) as RecBole sequential models.

Each ablation is BSARec with one configuration key fixed by its definition (``fixed_config``); the
Config applies those keys, so the logged configuration is the one that ran.
"""

import numbers

import torch
from recbole.model.abstract_recommender import SequentialRecommender
from torch import nn

from recbole_bsarec.errors import ConfigError
from recbole_bsarec.model.layers import BSAEncoder, Dropout, kept_bins
from recbole_bsarec.model.losses import LOSS_TYPES, PAIRWISE_LOSSES, loss_function


def keep_prefix(item_seq, item_seq_len):
    """Zero every position from ``item_seq_len`` on: the non-causal filter must see nothing after the
    prediction point, whatever the batch holds there."""
    positions = torch.arange(item_seq.size(1), device=item_seq.device).unsqueeze(0)
    return item_seq.masked_fill(positions >= item_seq_len.unsqueeze(1), 0)


def right_align(item_seq, item_seq_len):
    """Roll each row so its items end at the last position (RecBole right-pads; the reference left-pads)."""
    max_len = item_seq.size(1)
    shift = (max_len - item_seq_len).unsqueeze(1)
    index = (torch.arange(max_len, device=item_seq.device).unsqueeze(0) - shift) % max_len
    return item_seq.gather(1, index)


class BSARec(SequentialRecommender):
    """Beyond Self-Attention: alpha * (low-pass + beta * high-pass) + (1 - alpha) * self-attention."""

    LOSS_TYPES = LOSS_TYPES
    ROW_WISE_CE = True  # under CE, the loss is a mean of one term per sample (``pad_last_batch`` may pad)

    fixed_config = {}

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.check_config(config)

        self.n_layers = config["n_layers"]
        self.n_heads = config["n_heads"]
        self.hidden_size = config["hidden_size"]
        self.inner_size = config["inner_size"]
        self.hidden_dropout_prob = config["hidden_dropout_prob"]
        self.attn_dropout_prob = config["attn_dropout_prob"]
        self.hidden_act = config["hidden_act"]
        self.layer_norm_eps = config["layer_norm_eps"]
        self.initializer_range = config["initializer_range"]
        self.loss_type = config["loss_type"]
        self.alpha = float(config["alpha"])
        self.c = config["c"]
        self.scalar_beta = bool(config["scalar_beta"])
        self.identity_filter = bool(config["identity_filter"])
        self.padding_side = config["padding_side"]

        self.item_embedding = nn.Embedding(self.n_items, self.hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(self.max_seq_length, self.hidden_size)
        self.encoder = BSAEncoder(
            n_layers=self.n_layers,
            alpha=self.alpha,
            c=self.c,
            n_heads=self.n_heads,
            hidden_size=self.hidden_size,
            inner_size=self.inner_size,
            hidden_dropout_prob=self.hidden_dropout_prob,
            attn_dropout_prob=self.attn_dropout_prob,
            hidden_act=self.hidden_act,
            layer_norm_eps=self.layer_norm_eps,
            max_seq_length=self.max_seq_length,
            scalar_beta=self.scalar_beta,
            identity_filter=self.identity_filter,
        )
        self.LayerNorm = nn.LayerNorm(self.hidden_size, eps=self.layer_norm_eps)
        self.dropout = Dropout(self.hidden_dropout_prob)
        self.loss_fct = loss_function(self.loss_type)

        self.apply(self._init_weights)

    @classmethod
    def check_config(cls, config):
        """Reject impossible hyperparameters with a message that names the key and the fix."""
        max_len = config["MAX_ITEM_LIST_LENGTH"]
        alpha = config["alpha"]
        if not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
            raise ConfigError(
                f"alpha={alpha!r} is outside [0, 1]: alpha weighs the frequency branch, set 0 <= alpha <= 1"
            )
        c = config["c"]
        if not isinstance(c, numbers.Integral) or c < 1:
            raise ConfigError(f"c={c!r} is not an integer >= 1: c sets the low-pass cut-off, use e.g. c=3")
        if alpha > 0 and max_len < 2:
            raise ConfigError(
                f"MAX_ITEM_LIST_LENGTH={max_len} leaves the frequency branch nothing to filter: use at least 2"
            )
        if alpha > 0 and kept_bins(c) >= max_len // 2 + 1:
            raise ConfigError(
                f"c={c} keeps all {max_len // 2 + 1} frequency bins of MAX_ITEM_LIST_LENGTH={max_len}, "
                f"so the filter would pass everything: use c <= {2 * (max_len // 2) - 1}"
            )
        hidden_size, n_heads = config["hidden_size"], config["n_heads"]
        if alpha < 1 and (not isinstance(n_heads, numbers.Integral) or n_heads < 1 or hidden_size % n_heads):
            raise ConfigError(
                f"n_heads={n_heads!r} does not divide hidden_size={hidden_size}: choose n_heads among the divisors"
            )
        for key in ("hidden_dropout_prob", "attn_dropout_prob"):
            if not isinstance(config[key], numbers.Real) or not 0 <= config[key] < 1:
                raise ConfigError(f"{key}={config[key]!r} is outside [0, 1): it is a dropout probability")
        if config["loss_type"] not in LOSS_TYPES:
            raise ConfigError(f"loss_type={config['loss_type']!r} is not supported: use {', '.join(LOSS_TYPES)}")
        if config["padding_side"] not in ("left", "right"):
            raise ConfigError(f"padding_side={config['padding_side']!r} is unknown: use left (reference) or right")

    def _init_weights(self, module):
        """N(0, initializer_range) for Linear and Embedding weights, zero biases, unit LayerNorm."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.initializer_range)
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()

    def embed_window(self, item_seq, item_seq_len):
        """The window as the blocks see it: items placed by ``padding_side``, item + position embeddings,
        LayerNorm and dropout; with the placed items and the position each row is scored at."""
        item_seq = keep_prefix(item_seq, item_seq_len)
        if self.padding_side == "left":
            item_seq = right_align(item_seq, item_seq_len)
            query_index = item_seq.size(1) - 1
        else:
            query_index = item_seq_len - 1
        position_ids = torch.arange(item_seq.size(1), dtype=torch.long, device=item_seq.device)
        input_emb = self.item_embedding(item_seq) + self.position_embedding(position_ids).unsqueeze(0)
        return self.dropout(self.LayerNorm(input_emb)), item_seq, query_index

    def forward(self, item_seq, item_seq_len):
        input_emb, item_seq, query_index = self.embed_window(item_seq, item_seq_len)
        attention_mask = self.get_attention_mask(item_seq) if self.alpha < 1 else None
        return self.encoder(input_emb, attention_mask, query_index)

    def calculate_loss(self, interaction):
        seq_output = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        pos_items = interaction[self.POS_ITEM_ID]
        if self.loss_type in PAIRWISE_LOSSES:
            pos_score = (seq_output * self.item_embedding(pos_items)).sum(dim=-1)
            neg_score = (seq_output * self.item_embedding(interaction[self.NEG_ITEM_ID])).sum(dim=-1)
            return self.loss_fct(pos_score, neg_score)
        logits = torch.matmul(seq_output, self.item_embedding.weight.transpose(0, 1))
        return self.loss_fct(logits, pos_items)

    def predict(self, interaction):
        seq_output = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        return (seq_output * self.item_embedding(interaction[self.ITEM_ID])).sum(dim=1)

    def full_sort_predict(self, interaction):
        seq_output = self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        return torch.matmul(seq_output, self.item_embedding.weight.transpose(0, 1))


class BSARecAttnOnly(BSARec):
    """Ablation "only A": alpha = 0, self-attention alone; the frequency branch is not built."""

    fixed_config = {"alpha": 0.0}


class BSARecFilterOnly(BSARec):
    """Ablation "only A_IB": alpha = 1, the frequency branch alone; attention is not built."""

    fixed_config = {"alpha": 1.0}


class BSARecScalarBeta(BSARec):
    """Ablation "scalar beta": one beta per block instead of one per hidden dimension."""

    fixed_config = {"scalar_beta": True}


class BSARecIdentityFilter(BSARec):
    """Control: the frequency branch with beta fixed at 1, so its filter is the identity and only its dropout,
    residual and LayerNorm remain; beside the full model it shows whether the filter itself helps."""

    fixed_config = {"identity_filter": True}
