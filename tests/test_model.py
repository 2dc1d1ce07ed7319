"""BSARec as a RecBole model: branches, ablations, causality, learning of beta."""

import pytest
import torch
from conftest import make_model
from recbole.model.layers import TransformerLayer

from recbole_bsarec.model.bsarec import right_align
from recbole_bsarec.model.layers import BSABlock, FrequencyLayer, SelfAttention


def block(alpha, **kwargs):
    args = dict(
        c=3,
        n_heads=2,
        hidden_size=16,
        inner_size=64,
        hidden_dropout_prob=0.0,
        attn_dropout_prob=0.0,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        max_seq_length=10,
    )
    return BSABlock(alpha, **{**args, **kwargs}).eval()


def test_alpha_zero_is_the_attention_only_transformer_layer():
    ours = block(alpha=0.0)
    assert ours.filter_layer is None
    reference = TransformerLayer(2, 16, 64, 0.0, 0.0, "gelu", 1e-12).eval()
    state = {k.replace("attention_layer.", "multi_head_attention."): v for k, v in ours.state_dict().items()}
    reference.load_state_dict(state)
    x = torch.randn(3, 10, 16)
    mask = torch.zeros(3, 1, 10, 10)
    torch.testing.assert_close(ours(x, mask), reference(x, mask))


def test_alpha_one_never_calls_attention(monkeypatch, rule_data):
    def forbidden(*args, **kwargs):
        raise AssertionError("attention was called")

    monkeypatch.setattr(SelfAttention, "forward", forbidden)
    model, train = make_model("BSARecFilterOnly", rule_data)
    assert not any(isinstance(m, SelfAttention) for m in model.modules())
    assert model.alpha == 1.0
    batch = next(iter(train))
    assert torch.isfinite(model.calculate_loss(batch))


def test_attention_only_ablation_builds_no_frequency_branch(rule_data):
    model, _ = make_model("BSARecAttnOnly", rule_data)
    assert model.alpha == 0.0
    assert not any(isinstance(m, FrequencyLayer) for m in model.modules())


def test_scalar_beta_has_one_value_per_block(rule_data):
    model, _ = make_model("BSARecScalarBeta", rule_data, n_layers=3)
    betas = [m.sqrt_beta for m in model.modules() if isinstance(m, FrequencyLayer)]
    assert len(betas) == 3
    assert all(b.numel() == 1 for b in betas)


def test_mixed_block_is_alpha_weighted_sum_of_branches():
    ours = block(alpha=0.3)
    x = torch.randn(2, 10, 16)
    mask = torch.zeros(2, 1, 10, 10)
    mixed = 0.3 * ours.filter_layer(x) + 0.7 * ours.attention_layer(x, mask)
    torch.testing.assert_close(ours(x, mask), ours.feed_forward(mixed))


def test_right_align_moves_items_to_the_end_in_order():
    seq = torch.tensor([[5, 6, 7, 0, 0], [1, 2, 3, 4, 9], [8, 0, 0, 0, 0]])
    lengths = torch.tensor([3, 5, 1])
    expected = torch.tensor([[0, 0, 5, 6, 7], [1, 2, 3, 4, 9], [0, 0, 0, 0, 8]])
    assert torch.equal(right_align(seq, lengths), expected)


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("model_name", ["BSARec", "BSARecFilterOnly", "FMLPRec"])
def test_items_after_the_prediction_point_do_not_change_the_prediction(rule_data, model_name, padding_side):
    model, _ = make_model(model_name, rule_data, padding_side=padding_side)
    torch.manual_seed(1)
    seq = torch.randint(1, model.n_items, (4, model.max_seq_length))
    lengths = torch.tensor([1, 4, 7, model.max_seq_length])
    later = seq.clone()
    for row, length in enumerate(lengths):
        later[row, length:] = torch.randint(1, model.n_items, (model.max_seq_length - length,))
    with torch.no_grad():
        torch.testing.assert_close(model(seq, lengths), model(later, lengths))


def test_left_padding_puts_the_same_items_at_different_positions_than_right_padding(rule_data):
    left, _ = make_model("BSARec", rule_data, padding_side="left")
    right, _ = make_model("BSARec", rule_data, padding_side="right")
    right.load_state_dict(left.state_dict())
    seq = torch.zeros(1, left.max_seq_length, dtype=torch.long)
    seq[0, :3] = torch.tensor([3, 4, 5])
    lengths = torch.tensor([3])
    with torch.no_grad():
        aligned = right(right_align(seq, lengths), torch.tensor([left.max_seq_length]))
        torch.testing.assert_close(left(seq, lengths), aligned)
        assert not torch.allclose(left(seq, lengths), right(seq, lengths))


def test_beta_receives_gradients_and_moves_during_training(rule_data):
    model, train = make_model("BSARec", rule_data)
    model.train()
    before = [m.sqrt_beta.detach().clone() for m in model.modules() if isinstance(m, FrequencyLayer)]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for batch in list(train)[:5]:
        optimizer.zero_grad()
        model.calculate_loss(batch).backward()
        grads = [m.sqrt_beta.grad for m in model.modules() if isinstance(m, FrequencyLayer)]
        assert all(g is not None and g.abs().sum() > 0 for g in grads)
        optimizer.step()
    after = [m.sqrt_beta.detach() for m in model.modules() if isinstance(m, FrequencyLayer)]
    assert all((a - b).abs().max() > 1e-3 for a, b in zip(after, before, strict=True))


def test_blocks_start_from_the_same_beta_draw(rule_data):
    model, _ = make_model("BSARec", rule_data)
    first, second = [m.sqrt_beta for m in model.modules() if isinstance(m, FrequencyLayer)]
    assert torch.equal(first, second)
