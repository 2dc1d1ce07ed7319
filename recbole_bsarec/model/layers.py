"""BSARec's layers: the frequency branch (the attentive inductive bias), self-attention, feed-forward,
the BSA block and the encoder.

The sub-layers compute what the reference code (and RecBole's ``MultiHeadAttention``/``FeedForward``,
whose parameter names they keep) computes, in fewer and fused kernels. Only the last position of a
window is scored, so the last block computes its output at one position per row (``query_index``).
tests/reference_bsarec.py holds the straightforward version they are tested against.
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "swish": F.silu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def kept_bins(c):
    """Number of low-frequency rfft bins the filter keeps for cut-off ``c`` (the reference's c // 2 + 1)."""
    return c // 2 + 1


def low_pass_matrix(max_seq_length, c):
    """P_c, the real N x N matrix of rfft -> keep ``c // 2 + 1`` bins -> irfft (norm="ortho") along the
    sequence: LP = P_c X. One small matmul replaces two FFTs, and row i alone gives LP at position i."""
    eye = torch.eye(max_seq_length, dtype=torch.float64).unsqueeze(0)
    spectrum = torch.fft.rfft(eye, dim=1, norm="ortho")
    return torch.fft.irfft(spectrum[:, : kept_bins(c)], n=max_seq_length, dim=1, norm="ortho")[0]


def at_positions(hidden_states, query_index):
    """Row b's vector at position ``query_index[b]`` (or at ``query_index`` for every row, when it is an int,
    as a view): (B, N, ...) -> (B, ...)."""
    if isinstance(query_index, int):
        return hidden_states[:, query_index]
    return hidden_states[torch.arange(hidden_states.size(0), device=hidden_states.device), query_index]


class Dropout(nn.Dropout):
    """``nn.Dropout`` drawing its CPU mask as ``rand_like(x) >= p``, the same Bernoulli(1 - p) law: on CPU
    torch's ``bernoulli_`` costs several uniform draws. Other devices keep torch's fused kernel."""

    def forward(self, input):
        if not self.training or input.device.type != "cpu" or not 0 < self.p < 1:
            return super().forward(input)
        keep = torch.rand_like(input) >= self.p
        return input * (keep * (1.0 / (1.0 - self.p)))


class FrequencyLayer(nn.Module):
    """Frequency branch: Y = LP + beta * HP along the sequence, then dropout, residual and LayerNorm.

    LP keeps the lowest ``c // 2 + 1`` rfft bins (norm="ortho"), computed as P_c X; HP = X - LP.
    beta = sqrt_beta ** 2 is learned per hidden dimension, or as one scalar when ``scalar_beta`` is set
    (paper Table 3). With ``identity``, beta is fixed at 1 and not learned: Y = X, the filter removed and only the
    branch's dropout, residual and LayerNorm left (the control for whether the filter itself helps).
    """

    def __init__(
        self, hidden_size, max_seq_length, c, hidden_dropout_prob, layer_norm_eps, scalar_beta=False, identity=False
    ):
        super().__init__()
        self.identity = identity
        if not identity:
            self.sqrt_beta = nn.Parameter(torch.randn(1, 1, 1 if scalar_beta else hidden_size))
        self.register_buffer("low_pass_matrix", low_pass_matrix(max_seq_length, c), persistent=False)
        self.out_dropout = Dropout(hidden_dropout_prob)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)

    @property
    def beta(self):
        """The learned beta, shape (D,) or (1,); 1 for the identity."""
        return torch.ones(1, device=self.low_pass_matrix.device) if self.identity else self.sqrt_beta.view(-1) ** 2

    def low_pass(self, input_tensor, query_index=None):
        """LP = P_c X: (B, N, D), or (B, D) from the rows of P_c at ``query_index``. P_c is kept in float64 and
        cast to the input's precision; LP is cast back to it, as autocast runs the matmul in half precision."""
        if query_index is None:
            low = torch.matmul(self.low_pass_matrix.to(input_tensor.dtype), input_tensor)
        else:
            rows = self.low_pass_matrix[query_index].to(input_tensor.dtype).unsqueeze(-2)
            low = torch.matmul(rows, input_tensor).squeeze(-2)
        return low.to(input_tensor.dtype)

    def filter(self, input_tensor, query_index=None):
        """Y = beta * X + (1 - beta) * LP (one lerp), before dropout and the residual: (B, N, D), or (B, D) at
        the ``query_index`` positions."""
        positions = input_tensor if query_index is None else at_positions(input_tensor, query_index)
        if self.identity:
            return positions
        return torch.lerp(self.low_pass(input_tensor, query_index), positions, self.beta)

    def forward(self, input_tensor, query_index=None):
        residual = input_tensor if query_index is None else at_positions(input_tensor, query_index)
        hidden_states = self.out_dropout(self.filter(input_tensor, query_index))
        return self.LayerNorm(hidden_states + residual)


class SelfAttention(nn.Module):
    """Multi-head self-attention with RecBole's ``MultiHeadAttention`` parameters and semantics (additive
    mask, dropout on the attention probabilities, dropout, residual, LayerNorm), computed with one
    fused Q/K/V projection and PyTorch's ``scaled_dot_product_attention``."""

    def __init__(self, n_heads, hidden_size, hidden_dropout_prob, attn_dropout_prob, layer_norm_eps):
        super().__init__()
        self.num_attention_heads = n_heads
        self.attention_head_size = hidden_size // n_heads
        self.scale = self.attention_head_size**-0.5
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.attn_dropout = Dropout(attn_dropout_prob)
        self.out_dropout = Dropout(hidden_dropout_prob)

    def heads(self, x):
        """(B, L, k * D) -> k tensors (B, heads, L, head_size)."""
        batch, length = x.shape[:2]
        x = x.view(batch, length, -1, self.num_attention_heads, self.attention_head_size)
        return x.permute(2, 0, 3, 1, 4).unbind(0)

    def attend(self, query, key, value, attention_mask):
        """softmax(Q K^T / sqrt(d) + mask) with dropout, times V: PyTorch's fused kernel, except when training
        on CPU with attention dropout, where the fused kernel falls back to a slower path than this one."""
        if self.training and self.attn_dropout.p > 0 and query.device.type == "cpu":
            scores = torch.matmul(query, key.transpose(-1, -2)).mul_(self.scale).add_(attention_mask)
            return torch.matmul(self.attn_dropout(scores.softmax(dim=-1)), value)
        dropout_p = self.attn_dropout.p if self.training else 0.0
        return F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout_p)

    def forward(self, input_tensor, attention_mask, query_index=None):
        if query_index is None:
            weight = torch.cat([self.query.weight, self.key.weight, self.value.weight])
            bias = torch.cat([self.query.bias, self.key.bias, self.value.bias])
            query, key, value = self.heads(F.linear(input_tensor, weight, bias))
            residual = input_tensor
        else:
            residual = at_positions(input_tensor, query_index)
            (query,) = self.heads(self.query(residual).unsqueeze(1))
            weight = torch.cat([self.key.weight, self.value.weight])
            key, value = self.heads(F.linear(input_tensor, weight, torch.cat([self.key.bias, self.value.bias])))
            attention_mask = at_positions(attention_mask.squeeze(1), query_index)[:, None, None]
        context = self.attend(query, key, value, attention_mask.to(query.dtype)).transpose(1, 2).flatten(2)
        if query_index is not None:
            context = context.squeeze(1)
        hidden_states = self.out_dropout(self.dense(context))
        return self.LayerNorm(hidden_states + residual)


class FeedForward(nn.Module):
    """Position-wise feed-forward with RecBole's ``FeedForward`` parameters and semantics; the
    activation is PyTorch's fused one (erf GELU for "gelu") instead of a chain of elementwise ops."""

    def __init__(self, hidden_size, inner_size, hidden_dropout_prob, hidden_act, layer_norm_eps):
        super().__init__()
        self.dense_1 = nn.Linear(hidden_size, inner_size)
        self.intermediate_act_fn = ACTIVATIONS[hidden_act]
        self.dense_2 = nn.Linear(inner_size, hidden_size)
        self.LayerNorm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = Dropout(hidden_dropout_prob)

    def forward(self, input_tensor):
        hidden_states = self.dense_2(self.intermediate_act_fn(self.dense_1(input_tensor)))
        return self.LayerNorm(self.dropout(hidden_states) + input_tensor)


class BSABlock(nn.Module):
    """One BSARec block: alpha * frequency branch + (1 - alpha) * attention branch (one lerp), then
    feed-forward.

    A branch whose weight is zero (alpha = 0 or alpha = 1) is not built and never computed. Given
    ``query_index``, the block returns only those positions' outputs, (B, D).
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
        max_seq_length,
        scalar_beta=False,
        identity_filter=False,
    ):
        super().__init__()
        self.alpha = alpha
        self.filter_layer = (
            FrequencyLayer(
                hidden_size, max_seq_length, c, hidden_dropout_prob, layer_norm_eps, scalar_beta, identity_filter
            )
            if alpha > 0
            else None
        )
        self.attention_layer = (
            SelfAttention(n_heads, hidden_size, hidden_dropout_prob, attn_dropout_prob, layer_norm_eps)
            if alpha < 1
            else None
        )
        self.feed_forward = FeedForward(hidden_size, inner_size, hidden_dropout_prob, hidden_act, layer_norm_eps)

    def forward(self, hidden_states, attention_mask, query_index=None):
        if self.attention_layer is None:
            mixed = self.filter_layer(hidden_states, query_index)
        elif self.filter_layer is None:
            mixed = self.attention_layer(hidden_states, attention_mask, query_index)
        else:
            attended = self.attention_layer(hidden_states, attention_mask, query_index)
            mixed = torch.lerp(attended, self.filter_layer(hidden_states, query_index), self.alpha)
        return self.feed_forward(mixed)


class BSAEncoder(nn.Module):
    """``n_layers`` BSA blocks deep-copied from one, so every block starts from the same sqrt_beta draw
    as in the reference code. Returns the last block's output at each row's ``query_index``, (B, D):
    the last block computes nothing else, since no other position of it reaches the prediction."""

    def __init__(self, n_layers, **block_args):
        super().__init__()
        block = BSABlock(**block_args)
        self.layer = nn.ModuleList([copy.deepcopy(block) for _ in range(n_layers)])

    def forward(self, hidden_states, attention_mask, query_index):
        *body, last = self.layer
        for layer_module in body:
            hidden_states = layer_module(hidden_states, attention_mask)
        return last(hidden_states, attention_mask, query_index)
