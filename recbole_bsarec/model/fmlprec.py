"""FMLP-Rec (Zhou et al., WWW 2022, "Filter-enhanced MLP is All You Need for Sequential Recommendation") as a
RecBole sequential model: self-attention is replaced by a learnable filter in the frequency domain.

Each block: X -> rfft along the sequence -> times a learned complex weight per (frequency, dimension) ->
irfft -> dropout, residual, LayerNorm -> feed-forward. The filter is global (non-causal), so, as in its
reference code and in BSARec, items sit at the end of the window (``padding_side: left``).
"""

import numbers

import torch
from recbole.model.abstract_recommender import SequentialRecommender
from torch import nn

from recbole_bsarec.errors import ConfigError
from recbole_bsarec.model.bsarec import BSARec
from recbole_bsarec.model.layers import Dropout, FeedForward, at_positions
from recbole_bsarec.model.losses import LOSS_TYPES, loss_function


class LearnableFilter(nn.Module):
    """Y = LayerNorm(dropout(irfft(W * rfft(X))) + X), W complex of shape (N // 2 + 1, D), initialised N(0, 0.02)."""

    def __init__(self, hidden_size, max_seq_length, hidden_dropout_prob, layer_norm_eps):
        super().__init__()
        self.max_seq_length = max_seq_length
        self.complex_weight = nn.Parameter(torch.randn(1, max_seq_length // 2 + 1, hidden_size, 2) * 0.02)
        self.out_dropout = Dropout(hidden_dropout_prob)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)

    def forward(self, input_tensor):
        spectrum = torch.fft.rfft(input_tensor.float(), dim=1, norm="ortho")
        spectrum = spectrum * torch.view_as_complex(self.complex_weight)
        filtered = torch.fft.irfft(spectrum, n=self.max_seq_length, dim=1, norm="ortho").to(input_tensor.dtype)
        return self.LayerNorm(self.out_dropout(filtered) + input_tensor)


class FMLPBlock(nn.Module):
    """A learnable filter, then the position-wise feed-forward of the Transformer."""

    def __init__(self, hidden_size, inner_size, max_seq_length, hidden_dropout_prob, hidden_act, layer_norm_eps):
        super().__init__()
        self.filter_layer = LearnableFilter(hidden_size, max_seq_length, hidden_dropout_prob, layer_norm_eps)
        self.feed_forward = FeedForward(hidden_size, inner_size, hidden_dropout_prob, hidden_act, layer_norm_eps)

    def forward(self, hidden_states):
        return self.feed_forward(self.filter_layer(hidden_states))


class FMLPRec(SequentialRecommender):
    """Embeddings (item + position), LayerNorm and dropout, ``n_layers`` filter blocks; the last item's output
    scores every item (CE over all items, or BPR with one sampled negative)."""

    LOSS_TYPES = LOSS_TYPES
    ROW_WISE_CE = True  # under CE, the loss is a mean of one term per sample (``pad_last_batch`` may pad)

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.check_config(config)
        self.n_layers = config["n_layers"]
        self.hidden_size = config["hidden_size"]
        self.inner_size = config["inner_size"]
        self.hidden_dropout_prob = config["hidden_dropout_prob"]
        self.hidden_act = config["hidden_act"]
        self.layer_norm_eps = config["layer_norm_eps"]
        self.initializer_range = config["initializer_range"]
        self.loss_type = config["loss_type"]
        self.padding_side = config["padding_side"]

        self.item_embedding = nn.Embedding(self.n_items, self.hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(self.max_seq_length, self.hidden_size)
        self.LayerNorm = nn.LayerNorm(self.hidden_size, eps=self.layer_norm_eps)
        self.dropout = Dropout(self.hidden_dropout_prob)
        self.blocks = nn.ModuleList(
            FMLPBlock(
                self.hidden_size,
                self.inner_size,
                self.max_seq_length,
                self.hidden_dropout_prob,
                self.hidden_act,
                self.layer_norm_eps,
            )
            for _ in range(self.n_layers)
        )
        self.loss_fct = loss_function(self.loss_type)
        self.apply(self._init_weights)

    @classmethod
    def check_config(cls, config):
        """Reject impossible hyperparameters with a message that names the key and the fix."""
        if not isinstance(config["n_layers"], numbers.Integral) or config["n_layers"] < 1:
            raise ConfigError(f"n_layers={config['n_layers']!r} is not an integer >= 1: use e.g. n_layers=2")
        if not isinstance(config["hidden_dropout_prob"], numbers.Real) or not 0 <= config["hidden_dropout_prob"] < 1:
            raise ConfigError(f"hidden_dropout_prob={config['hidden_dropout_prob']!r} is outside [0, 1)")
        if config["loss_type"] not in LOSS_TYPES:
            raise ConfigError(f"loss_type={config['loss_type']!r} is not supported: use {', '.join(LOSS_TYPES)}")
        if config["padding_side"] not in ("left", "right"):
            raise ConfigError(f"padding_side={config['padding_side']!r} is unknown: use left (reference) or right")

    # initialisation, window embedding and item scoring are BSARec's: tied item embeddings, the last item scored
    _init_weights = BSARec._init_weights
    embed_window = BSARec.embed_window
    calculate_loss = BSARec.calculate_loss
    predict = BSARec.predict
    full_sort_predict = BSARec.full_sort_predict

    def forward(self, item_seq, item_seq_len):
        hidden_states, _, query_index = self.embed_window(item_seq, item_seq_len)
        for block in self.blocks:
            hidden_states = block(hidden_states)
        return at_positions(hidden_states, query_index)
