"""RecBole's FEARec with the time-delay aggregation of its autocorrelation done as one batched matmul.

RecBole sums top-k rolled copies of the values in a Python loop (k = int(topk_factor * ln N), 39 for N = 50),
materialising a repeated weight tensor per delay; that loop was 60% of a LastFM training step on a CPU. The sum
is a circular cross-correlation of each sequence with a kernel holding the k softmax weights at their delays, so
it is one ``bmm`` with a circulant matrix: the same values to float rounding (tests/test_baselines.py), and
``benchmarks/fearec.py`` measures the step against RecBole's.
"""

import contextlib
import io
import math

import torch
from recbole.model.sequential_recommender import fearec
from torch import nn


def circular_delay_sum(values, kernel):
    """``sum_d kernel[b, d] * values[b, ..., (t + d) mod L]`` for values [B, H, C, L] and kernel [B, L]."""
    batch, heads, channels, length = values.shape
    position = torch.arange(length, device=values.device)
    circulant = kernel[:, (position.unsqueeze(1) - position.unsqueeze(0)) % length]  # [b, s, t] = kernel[b, s - t]
    return torch.bmm(values.reshape(batch, heads * channels, length), circulant).reshape(values.shape)


class HybridAttention(fearec.HybridAttention):
    """RecBole's hybrid attention; only how the chosen delays are summed differs."""

    def delays(self, length):
        return int(self.factor * math.log(length))

    def time_delay_agg_training(self, values, corr):
        """Delays shared by the batch (top-k of the batch's mean autocorrelation), weights per sequence."""
        mean_value = corr.mean(dim=1).mean(dim=1)
        index = torch.topk(mean_value.mean(dim=0), self.delays(values.shape[-1]), dim=-1)[1]
        kernel = torch.zeros_like(mean_value).index_copy(1, index, torch.softmax(mean_value[:, index], dim=-1))
        return circular_delay_sum(values, kernel)

    def time_delay_agg_inference(self, values, corr):
        """Delays and weights per sequence (its own top-k)."""
        mean_value = corr.mean(dim=1).mean(dim=1)
        weights, delay = torch.topk(mean_value, self.delays(values.shape[-1]), dim=-1)
        kernel = torch.zeros_like(mean_value).scatter(1, delay, torch.softmax(weights, dim=-1))
        return circular_delay_sum(values, kernel)


class FEABlock(fearec.FEABlock):
    """RecBole's FEARec block, with this package's hybrid attention."""

    def __init__(self, n_heads, hidden_size, intermediate_size, hidden_dropout, attn_dropout, act, eps, n, config):
        nn.Module.__init__(self)
        self.hybrid_attention = HybridAttention(n_heads, hidden_size, hidden_dropout, attn_dropout, eps, n, config)
        self.feed_forward = fearec.FeedForward(hidden_size, intermediate_size, hidden_dropout, act, eps)


class FEAEncoder(fearec.FEAEncoder):
    """RecBole's FEARec encoder of this package's blocks (``layer_ramp``, the last block, as in RecBole's)."""

    def __init__(self, n_layers, *block_args, config):
        nn.Module.__init__(self)
        self.n_layers = n_layers
        self.layer = nn.ModuleList(FEABlock(*block_args, n, config) for n in range(n_layers))
        self.layer_ramp = self.layer[-1]


class FEARec(fearec.FEARec):
    """RecBole's FEARec (its layers, yaml, losses, same-target sampling), with the faster delay sum. RecBole's
    encoder is replaced by this package's, which takes its initial weights; built off the random stream (and without
    repeating what RecBole's blocks print), so a seed gives RecBole's initial weights and random-number stream."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(io.StringIO()):  # printed once already
            encoder = FEAEncoder(
                *(self.n_layers, self.n_heads, self.hidden_size, self.inner_size, self.hidden_dropout_prob),
                *(self.attn_dropout_prob, self.hidden_act, self.layer_norm_eps),
                config=config,
            )
        encoder.load_state_dict(self.item_encoder.state_dict())
        self.item_encoder = encoder
