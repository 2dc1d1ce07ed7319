"""A straightforward BSARec, written as the paper and the reference code state it, to test the
optimised model against: FFT low-pass over the whole window, RecBole's own attention and
feed-forward layers, every block over every position, the prediction read at the last item."""

import copy

import torch
from recbole.model.layers import FeedForward, MultiHeadAttention
from torch import nn

from recbole_bsarec.model.bsarec import keep_prefix, right_align


class ReferenceFrequencyLayer(nn.Module):
    """LayerNorm(Dropout(LP + beta * (X - LP)) + X), LP = irfft(first c // 2 + 1 bins of rfft(X))."""

    def __init__(self, hidden_size, c, hidden_dropout_prob, layer_norm_eps, scalar_beta):
        super().__init__()
        self.c_bins = c // 2 + 1
        self.sqrt_beta = nn.Parameter(torch.randn(1, 1, 1 if scalar_beta else hidden_size))
        self.out_dropout = nn.Dropout(hidden_dropout_prob)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)

    def forward(self, x):
        spectrum = torch.fft.rfft(x, dim=1, norm="ortho")
        low = torch.fft.irfft(spectrum[:, : self.c_bins], n=x.size(1), dim=1, norm="ortho")
        filtered = low + self.sqrt_beta**2 * (x - low)
        return self.LayerNorm(self.out_dropout(filtered) + x)


class ReferenceBlock(nn.Module):
    """alpha * frequency branch + (1 - alpha) * RecBole's MultiHeadAttention, then RecBole's FeedForward."""

    def __init__(self, alpha, c, n_heads, hidden_size, inner_size, dropout, attn_dropout, act, eps, scalar_beta):
        super().__init__()
        self.alpha = alpha
        self.filter_layer = ReferenceFrequencyLayer(hidden_size, c, dropout, eps, scalar_beta) if alpha > 0 else None
        attention = MultiHeadAttention(n_heads, hidden_size, dropout, attn_dropout, eps)
        self.attention_layer = attention if alpha < 1 else None
        self.feed_forward = FeedForward(hidden_size, inner_size, dropout, act, eps)

    def forward(self, x, mask):
        mixed = 0
        if self.filter_layer is not None:
            mixed = mixed + self.alpha * self.filter_layer(x)
        if self.attention_layer is not None:
            mixed = mixed + (1 - self.alpha) * self.attention_layer(x, mask)
        return self.feed_forward(mixed)


class ReferenceBSARec(nn.Module):
    """The whole model with BSARec's parameter names, so ``load_state_dict(model.state_dict())`` works."""

    def __init__(self, model):
        super().__init__()
        self.alpha, self.padding_side = model.alpha, model.padding_side
        self.item_embedding = nn.Embedding(model.n_items, model.hidden_size, padding_idx=0)
        self.position_embedding = nn.Embedding(model.max_seq_length, model.hidden_size)
        self.LayerNorm = nn.LayerNorm(model.hidden_size, eps=model.layer_norm_eps)
        self.dropout = nn.Dropout(model.hidden_dropout_prob)
        block = ReferenceBlock(
            model.alpha,
            model.c,
            model.n_heads,
            model.hidden_size,
            model.inner_size,
            model.hidden_dropout_prob,
            model.attn_dropout_prob,
            model.hidden_act,
            model.layer_norm_eps,
            model.scalar_beta,
        )
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([copy.deepcopy(block) for _ in range(model.n_layers)])
        self.get_attention_mask = model.get_attention_mask
        self.load_state_dict(model.state_dict())

    def forward(self, item_seq, item_seq_len):
        item_seq = keep_prefix(item_seq, item_seq_len)
        if self.padding_side == "left":
            item_seq = right_align(item_seq, item_seq_len)
        positions = torch.arange(item_seq.size(1), device=item_seq.device)
        hidden = self.dropout(self.LayerNorm(self.item_embedding(item_seq) + self.position_embedding(positions)))
        mask = self.get_attention_mask(item_seq)
        for block in self.encoder.layer:
            hidden = block(hidden, mask)
        last = item_seq.size(1) - 1 if self.padding_side == "left" else item_seq_len - 1
        return hidden[torch.arange(hidden.size(0), device=hidden.device), last]

    def calculate_loss(self, item_seq, item_seq_len, pos_items):
        logits = self.forward(item_seq, item_seq_len) @ self.item_embedding.weight.T
        return nn.functional.cross_entropy(logits, pos_items)
