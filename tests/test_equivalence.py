"""The optimised BSARec computes what the straightforward reference computes: same outputs, same
gradients, same training trajectory, from the same weights (float64, dropout off)."""

import pytest
import torch
from conftest import make_model
from reference_bsarec import ReferenceBSARec

from recbole_bsarec.model.layers import Dropout, SelfAttention

VARIANTS = ["BSARec", "BSARecAttnOnly", "BSARecFilterOnly", "BSARecScalarBeta"]
DEVICES = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]  # the GPU kernels too, where there is one


def pair(model_name, rule_data, device="cpu", **overrides):
    """The optimised model and the reference holding the same weights, both in float64."""
    model, train = make_model(model_name, rule_data, hidden_dropout_prob=0.0, attn_dropout_prob=0.0, **overrides)
    model = model.double().to(device)
    return model, ReferenceBSARec(model).double().to(device).eval(), train


def windows(model, batch_size=6):
    """Random windows of every length from 1 to N, with junk after the prediction point."""
    generator = torch.Generator().manual_seed(0)
    seq = torch.randint(1, model.n_items, (batch_size, model.max_seq_length), generator=generator)
    lengths = torch.linspace(1, model.max_seq_length, batch_size).long()
    targets = torch.randint(1, model.n_items, (batch_size,), generator=generator)
    device = model.item_embedding.weight.device
    return seq.to(device), lengths.to(device), targets.to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("n_layers", [1, 2, 3])
@pytest.mark.parametrize("model_name", VARIANTS)
def test_outputs_and_gradients_match_the_reference(rule_data, model_name, n_layers, padding_side, device):
    model, reference, _ = pair(model_name, rule_data, device, n_layers=n_layers, padding_side=padding_side)
    seq, lengths, targets = windows(model)
    torch.testing.assert_close(model(seq, lengths), reference(seq, lengths))

    logits = model(seq, lengths) @ model.item_embedding.weight.T
    torch.nn.functional.cross_entropy(logits, targets).backward()
    reference.calculate_loss(seq, lengths, targets).backward()
    ours, theirs = dict(model.named_parameters()), dict(reference.named_parameters())
    assert ours.keys() == theirs.keys()
    for name, parameter in ours.items():
        torch.testing.assert_close(parameter.grad, theirs[name].grad, msg=f"gradient of {name}")


def test_training_follows_the_reference_trajectory(rule_data):
    model, reference, train = pair("BSARec", rule_data)
    model.train(), reference.train()
    ours = torch.optim.Adam(model.parameters(), lr=0.005)
    theirs = torch.optim.Adam(reference.parameters(), lr=0.005)
    for batch in train:
        for optimizer, loss in (
            (ours, model.calculate_loss(batch)),
            (theirs, reference.calculate_loss(batch["item_id_list"], batch["item_length"], batch["item_id"])),
        ):
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for name, parameter in reference.named_parameters():
        torch.testing.assert_close(model.get_parameter(name), parameter, msg=f"parameter {name}")
    seq, lengths, _ = windows(model)
    model.eval(), reference.eval()
    with torch.no_grad():
        scores = model.full_sort_predict({"item_id_list": seq, "item_length": lengths})
        expected = reference(seq, lengths) @ reference.item_embedding.weight.T
    assert torch.equal(scores.topk(10).indices, expected.topk(10).indices)


def test_cpu_training_attention_path_matches_the_fused_kernel():
    attention = SelfAttention(2, 16, 0.0, 1e-12, 1e-12).double()
    x = torch.randn(3, 10, 16, dtype=torch.float64)
    mask = torch.triu(torch.full((10, 10), -10000.0, dtype=torch.float64), diagonal=1).expand(3, 1, 10, 10)
    trained = attention.train()(x, mask)
    torch.testing.assert_close(trained, attention.eval()(x, mask))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_each_value_with_probability_one_minus_p_and_keeps_the_mean(p):
    torch.manual_seed(0)
    x = torch.ones(400_000)
    dropped = Dropout(p).train()(x)
    kept = dropped != 0
    assert abs(kept.double().mean().item() - (1 - p)) < 5e-3
    torch.testing.assert_close(dropped[kept], torch.full_like(dropped[kept], 1 / (1 - p)))
    assert abs(dropped.double().mean().item() - 1) < 1e-2
    assert torch.equal(Dropout(p).eval()(x), x)


@pytest.mark.parametrize("model_name", VARIANTS)
def test_mixed_precision_training_step_runs_and_stays_close(rule_data, model_name):
    model, train = make_model(model_name, rule_data)
    batch = next(iter(train))
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.calculate_loss(batch)
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        half = model.full_sort_predict(batch).float()
    with torch.no_grad():
        full = model.full_sort_predict(batch)
    torch.testing.assert_close(half, full, atol=0.05, rtol=0.05)
