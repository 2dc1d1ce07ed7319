"""BSARec's layers: the frequency branch (the attentive inductive bias), the BSA block and encoder.

The attention and feed-forward sub-layers are RecBole's own, so the attention branch computes
exactly what RecBole's SASRec computes.
"""

import copy

import torch
from recbole.model.layers import FeedForward, MultiHeadAttention
from torch import nn


def kept_bins(c):
    """Number of low-frequency rfft bins the filter keeps for cut-off ``c`` (the reference's c // 2 + 1)."""
    return c // 2 + 1


class FrequencyLayer(nn.Module):
    """Frequency branch: Y = LP + beta * HP along the sequence, then dropout, residual and LayerNorm.

    LP keeps the lowest ``c // 2 + 1`` rfft bins (norm="ortho"); HP = X - LP. beta = sqrt_beta ** 2
    is learned per hidden dimension, or as one scalar when ``scalar_beta`` is set (paper Table 3).
    """

    def __init__(self, hidden_size, c, hidden_dropout_prob, layer_norm_eps, scalar_beta=False):
        super().__init__()
        self.c_bins = kept_bins(c)
        self.sqrt_beta = nn.Parameter(torch.randn(1, 1, 1 if scalar_beta else hidden_size))
        self.out_dropout = nn.Dropout(hidden_dropout_prob)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)

    @property
    def beta(self):
        """The learned beta, shape (1, 1, D) or (1, 1, 1)."""
        return self.sqrt_beta**2

    def low_pass(self, input_tensor):
        """LP: the sequence with every rfft bin from ``c // 2 + 1`` on set to zero."""
        seq_len = input_tensor.size(1)
        spectrum = torch.fft.rfft(input_tensor, dim=1, norm="ortho")
        return torch.fft.irfft(spectrum[:, : self.c_bins], n=seq_len, dim=1, norm="ortho")

    def filter(self, input_tensor):
        """Y = LP + beta * (X - LP): the filtered sequence before dropout and the residual."""
        low = self.low_pass(input_tensor)
        return low + self.beta * (input_tensor - low)

    def forward(self, input_tensor):
        hidden_states = self.out_dropout(self.filter(input_tensor))
        return self.LayerNorm(hidden_states + input_tensor)


class BSABlock(nn.Module):
    """One BSARec block: alpha * frequency branch + (1 - alpha) * attention branch, then feed-forward.

    A branch whose weight is zero (alpha = 0 or alpha = 1) is not built and never computed.
    """

    def __init__(
        self,
        alpha,
        c,
        n_heads,
        hidden_size,
        inner_size,
        hidden_dropout_prob,
        attn_dropout_prob,
        hidden_act,
        layer_norm_eps,
        scalar_beta=False,
    ):
        super().__init__()
        self.alpha = alpha
        self.filter_layer = (
            FrequencyLayer(hidden_size, c, hidden_dropout_prob, layer_norm_eps, scalar_beta) if alpha > 0 else None
        )
        self.attention_layer = (
            MultiHeadAttention(n_heads, hidden_size, hidden_dropout_prob, attn_dropout_prob, layer_norm_eps)
            if alpha < 1
            else None
        )
        self.feed_forward = FeedForward(hidden_size, inner_size, hidden_dropout_prob, hidden_act, layer_norm_eps)

    def forward(self, hidden_states, attention_mask):
        if self.attention_layer is None:
            mixed = self.filter_layer(hidden_states)
        elif self.filter_layer is None:
            mixed = self.attention_layer(hidden_states, attention_mask)
        else:
            mixed = self.alpha * self.filter_layer(hidden_states) + (1 - self.alpha) * self.attention_layer(
                hidden_states, attention_mask
            )
        return self.feed_forward(mixed)


class BSAEncoder(nn.Module):
    """``n_layers`` BSA blocks deep-copied from one, so every block starts from the same sqrt_beta draw
    as in the reference code; same call signature as RecBole's TransformerEncoder."""

    def __init__(self, n_layers, **block_args):
        super().__init__()
        block = BSABlock(**block_args)
        self.layer = nn.ModuleList([copy.deepcopy(block) for _ in range(n_layers)])

    def forward(self, hidden_states, attention_mask, output_all_encoded_layers=True):
        all_encoder_layers = []
        for layer_module in self.layer:
            hidden_states = layer_module(hidden_states, attention_mask)
            if output_all_encoded_layers:
                all_encoder_layers.append(hidden_states)
        if not output_all_encoded_layers:
            all_encoder_layers.append(hidden_states)
        return all_encoder_layers
