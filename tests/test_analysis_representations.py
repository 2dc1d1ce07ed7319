"""Oversmoothing, beta and filter figures: the numbers behind them, and one command each on tiny models."""

import csv
import math

import pytest
import torch
from conftest import TINY, make_model, write_rule_dataset

from recbole_bsarec.analysis.__main__ import main
from recbole_bsarec.analysis.representations import (
    attention_matrices,
    attention_of,
    betas,
    blocks,
    filter_response,
    layer_outputs,
    mean_cosine_similarity,
    normalised_singular_values,
    spectral_response,
    user_sequences,
)
from recbole_bsarec.model.layers import FrequencyLayer
from recbole_bsarec.pipeline import load_run, run_recbole

USERS = 24


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """data_path and checkpoints of a tiny BSARec and SASRec trained one epoch on 'rule', shared by the module."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        data_path = write_rule_dataset(root / "dataset")
        checkpoints = {
            model: run_recbole(model, "rule", [TINY], {"data_path": data_path, "epochs": 1})["checkpoint"]
            for model in ("BSARec", "SASRec")
        }
    return data_path, checkpoints


def read(path):
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_cosine_similarity_is_1_for_identical_rows_and_0_for_orthogonal_rows():
    assert mean_cosine_similarity(torch.tensor([[1.0, 2.0, 3.0]] * 4)) == pytest.approx(1.0)
    assert mean_cosine_similarity(torch.eye(3, 5)) == pytest.approx(0.0)


def test_singular_values_of_a_rank_one_matrix_are_one_then_zero():
    x = torch.outer(torch.tensor([1.0, -2.0, 3.0, 0.5]), torch.tensor([2.0, 1.0, 0.0, 4.0, 1.0]))
    assert normalised_singular_values(x).tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0], abs=1e-7)


def test_identity_attention_passes_every_frequency_and_averaging_only_dc():
    length = 10
    assert spectral_response(torch.eye(length)).tolist() == pytest.approx([1.0] * 6)
    averaging = spectral_response(torch.full((2, length, length), 1 / length))
    torch.testing.assert_close(averaging, torch.tensor([[1.0] + [0.0] * 5] * 2, dtype=torch.float64))
    # on a shorter sequence the window's frequencies are still sinusoids: the identity still passes them all
    assert spectral_response(torch.eye(4), window=length).tolist() == pytest.approx([1.0] * 6)


def test_frequency_branch_keeps_the_low_bins_and_scales_the_others_by_mean_beta():
    layer = FrequencyLayer(hidden_size=8, max_seq_length=10, c=3, hidden_dropout_prob=0.0, layer_norm_eps=1e-12)
    mean_beta = layer.beta.mean().item()
    assert filter_response(layer).tolist() == pytest.approx([1.0, 1.0] + [mean_beta] * 4)


@pytest.mark.parametrize("model", ["BSARec", "BSARecScalarBeta"])
def test_beta_is_the_square_of_sqrt_beta(rule_data, model):
    net, _ = make_model(model, rule_data)
    learned = betas(net)
    assert len(learned) == 2
    for block, beta in zip(net.encoder.layer, learned, strict=True):
        assert beta.shape == ((1,) if model == "BSARecScalarBeta" else (16,))
        assert torch.equal(beta, block.filter_layer.sqrt_beta.detach().view(-1) ** 2)


@pytest.mark.parametrize("model", ["BSARec", "SASRec"])
def test_last_layer_at_the_last_item_is_the_models_forward(trained, model):
    data_path, checkpoints = trained
    loaded = load_run(checkpoints[model], data_path=data_path)
    encoded = layer_outputs(loaded, USERS)
    item_seq, item_seq_len = user_sequences(loaded, USERS)

    assert len(encoded.layers) == 3 and encoded.layers[-1].shape == (USERS, 10, 16)
    assert encoded.real.sum(1).tolist() == item_seq_len.tolist()
    last_item = encoded.real.cumsum(1).argmax(1)  # the last real position: the end of the window for BSARec
    with torch.no_grad():
        forward = loaded.model(item_seq, item_seq_len)
    torch.testing.assert_close(encoded.layers[-1][torch.arange(USERS), last_item], forward)


@pytest.mark.parametrize("model", ["BSARec", "SASRec"])
def test_attention_matrices_are_what_the_attention_applies(trained, model):
    data_path, checkpoints = trained
    loaded = load_run(checkpoints[model], data_path=data_path)
    encoded = layer_outputs(loaded, USERS)
    attention = attention_of(blocks(loaded.model)[0])
    weights = attention_matrices(loaded.model, encoded)[0]
    x = encoded.layers[0]

    heads = attention.value(x).view(USERS, 10, 2, 8).transpose(1, 2)
    context = (weights @ heads).transpose(1, 2).flatten(2)
    with torch.no_grad():
        applied = attention(x, loaded.model.get_attention_mask(encoded.item_seq))
        rebuilt = attention.LayerNorm(attention.dense(context) + x)
    real = encoded.real
    torch.testing.assert_close(rebuilt[real], applied[real])
    on_real_keys = (weights * real[:, None, None, :]).sum(-1).transpose(1, 2)[real]
    torch.testing.assert_close(on_real_keys, torch.ones_like(on_real_keys))  # padding keys get no weight


COMMANDS = {
    "oversmoothing": (["BSARec", "SASRec"], {"kind", "layer"}),
    "beta": (["BSARec"], {"block", "dimension", "beta"}),
    "filters": (["BSARec", "SASRec"], {"branch", "frequency_bin", "gain"}),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_command_writes_its_figure_and_table(trained, tmp_path, capsys, command):
    data_path, checkpoints = trained
    models, columns = COMMANDS[command]
    argv = [command, f"--data_path={data_path}", f"--out={tmp_path}"]
    argv += [f"--checkpoint={checkpoints[model]}" for model in models]
    argv += [f"--users={USERS}"] if command != "beta" else []

    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    png, csv_path = tmp_path / f"{command}_rule.png", tmp_path / f"{command}_rule.csv"
    assert out[:2] == [str(png), str(csv_path)] and png.stat().st_size > 0
    rows = read(csv_path)
    assert columns <= set(rows[0]) and {row["model"] for row in rows} == set(models)
    values = [float(row.get("value") or row.get("beta") or row["gain"]) for row in rows]
    assert all(math.isfinite(value) and value >= 0 for value in values)
    if command == "oversmoothing":
        cosines = [row for row in rows if row["kind"] == "cosine"]
        assert [(row["model"], row["layer"]) for row in cosines] == [(m, str(i)) for m in models for i in range(3)]
    if command == "filters":
        assert {(row["model"], row["branch"]) for row in rows} == {
            ("BSARec", "attention"),
            ("BSARec", "frequency"),
            ("SASRec", "attention"),
        }


def test_beta_of_a_checkpoint_without_frequency_branch_is_one_line_exit_2(trained, tmp_path, capsys):
    data_path, checkpoints = trained
    argv = ["beta", f"--checkpoint={checkpoints['SASRec']}", f"--data_path={data_path}", f"--out={tmp_path}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "has no frequency branch" in err
    assert checkpoints["SASRec"] in err and list(tmp_path.iterdir()) == []


def test_one_checkpoint_given_twice_is_refused_before_loading(tmp_path, capsys):
    path = str(tmp_path / "best.pth")
    assert main(["beta", f"--checkpoint={path}", f"--checkpoint={tmp_path}/./best.pth", f"--out={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"checkpoint '{tmp_path}/./best.pth' is given twice (also as '{path}')" in err
