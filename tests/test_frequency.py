"""The frequency branch: low-pass keeping the lowest rfft bins (as one real matrix), beta re-weighting
the high-pass part."""

import math

import pytest
import torch

from recbole_bsarec.model.layers import FrequencyLayer, kept_bins, low_pass_matrix

N, D = 50, 8


def layer(c, beta=None, scalar_beta=False):
    """A frequency layer with beta set to ``beta`` (sqrt_beta = sqrt(beta))."""
    module = FrequencyLayer(D, N, c, hidden_dropout_prob=0.0, layer_norm_eps=1e-12, scalar_beta=scalar_beta).double()
    if beta is not None:
        with torch.no_grad():
            module.sqrt_beta.fill_(math.sqrt(beta))
    return module


def sinusoid(frequency_bin, length=N):
    """A cosine completing ``frequency_bin`` periods over the window, copied over D channels."""
    positions = torch.arange(length, dtype=torch.float64)
    wave = torch.cos(2 * math.pi * frequency_bin * positions / length)
    return wave.view(1, length, 1).expand(2, length, D).clone()


def test_beta_one_passes_the_signal_unchanged():
    x = torch.randn(3, N, D, dtype=torch.float64)
    torch.testing.assert_close(layer(c=3, beta=1.0).filter(x), x)


def test_beta_zero_removes_a_sinusoid_above_the_cutoff_and_keeps_one_below():
    module = layer(c=5, beta=0.0)  # keeps bins 0, 1, 2
    low, high = sinusoid(2), sinusoid(3)
    torch.testing.assert_close(module.filter(low), low)
    torch.testing.assert_close(module.filter(high), torch.zeros_like(high))
    torch.testing.assert_close(module.filter(low + high), low)


@pytest.mark.parametrize("c", [1, 2, 3, 5, 9, 20])
def test_exactly_c_half_plus_one_bins_pass(c):
    module = layer(c=c, beta=0.0)
    passed = []
    for frequency_bin in range(N // 2 + 1):
        wave = sinusoid(frequency_bin)
        gain = module.filter(wave).norm() / wave.norm()
        assert gain.item() == pytest.approx(1.0) or gain.item() == pytest.approx(0.0, abs=1e-9)
        if gain > 0.5:
            passed.append(frequency_bin)
    assert passed == list(range(c // 2 + 1))
    assert len(passed) == kept_bins(c)


def projection_matrix(c, length=N):
    """P_c written out: sum over kept bins of the real cosine projectors, no FFT involved."""
    n = torch.arange(length, dtype=torch.float64)
    diff = n.view(-1, 1) - n.view(1, -1)
    matrix = torch.zeros(length, length, dtype=torch.float64)
    for k in range(kept_bins(c)):
        weight = 1.0 if k == 0 or 2 * k == length else 2.0
        matrix += weight * torch.cos(2 * math.pi * k * diff / length) / length
    return matrix


@pytest.mark.parametrize("c", [1, 3, 7])
def test_low_pass_matrix_is_the_fft_filter_and_the_cosine_projector(c):
    x = torch.randn(4, N, D, dtype=torch.float64)
    spectrum = torch.fft.rfft(x, dim=1, norm="ortho")
    fft_low = torch.fft.irfft(spectrum[:, : kept_bins(c)], n=N, dim=1, norm="ortho")
    torch.testing.assert_close(low_pass_matrix(N, c) @ x, fft_low)
    torch.testing.assert_close(low_pass_matrix(N, c), projection_matrix(c))


@pytest.mark.parametrize("c", [1, 3, 7])
def test_filter_is_beta_x_plus_one_minus_beta_low_pass(c):
    module = layer(c=c)
    x = torch.randn(4, N, D, dtype=torch.float64)
    beta = module.beta
    expected = beta * x + (1 - beta) * torch.einsum("nm,bmd->bnd", projection_matrix(c), x)
    torch.testing.assert_close(module.filter(x), expected)


def test_filter_at_query_positions_is_the_full_filter_there():
    module = layer(c=3).eval()
    x = torch.randn(4, N, D, dtype=torch.float64)
    query_index = torch.tensor([N - 1, 0, 17, N - 1])
    rows = torch.arange(4)
    torch.testing.assert_close(module.filter(x, query_index), module.filter(x)[rows, query_index])
    torch.testing.assert_close(module(x, query_index), module(x)[rows, query_index])
    torch.testing.assert_close(module(x, N - 1), module(x)[:, N - 1])


def test_beta_is_per_dimension_or_scalar():
    assert layer(c=3).sqrt_beta.shape == (1, 1, D)
    assert layer(c=3, scalar_beta=True).sqrt_beta.shape == (1, 1, 1)


def test_forward_adds_the_residual_and_normalises():
    module = layer(c=3, beta=0.5).eval()
    x = torch.randn(2, N, D, dtype=torch.float64)
    torch.testing.assert_close(module(x), module.LayerNorm(module.filter(x) + x))


def test_the_identity_control_is_learned_beta_one_without_the_parameter():
    control = FrequencyLayer(D, N, 3, hidden_dropout_prob=0.0, layer_norm_eps=1e-12, identity=True).double()
    assert not any(name.endswith("sqrt_beta") for name, _ in control.named_parameters())
    x = torch.randn(2, N, D, dtype=torch.float64)
    full = layer(c=3, beta=1.0)
    full.LayerNorm.load_state_dict(control.LayerNorm.state_dict())
    torch.testing.assert_close(control.filter(x), x, rtol=0, atol=0)
    torch.testing.assert_close(control(x), full(x))  # LayerNorm(X + X): the residual path alone
    torch.testing.assert_close(control(x, N - 1), control(x)[:, N - 1])
