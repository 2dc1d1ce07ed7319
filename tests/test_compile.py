"""torch_compile: the whole training step (forward, backward, Adam's update) through torch.compile gives the eager
step's weights; a compiler failure falls back to the eager step."""

import logging

import pytest
import torch
from conftest import TINY, prepare

from recbole_bsarec.pipeline import build_model, run_recbole
from recbole_bsarec.registry import get_trainer

SETTINGS = {"epochs": 1, "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0}
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]  # on a GPU, reduce-overhead: CUDA graphs


def trained_epoch(rule_data, **settings):
    """Weights and summed loss after one epoch of BSARec (no dropout) from the same initialisation."""
    config, train, _, _ = prepare("BSARec", rule_data, **SETTINGS, **settings)
    model = build_model(config, train)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    loss = trainer._train_epoch(train, 0)
    return loss, {name: value.detach().clone() for name, value in model.state_dict().items()}


@pytest.mark.parametrize("device", DEVICES)
def test_compiled_steps_train_the_eager_weights(rule_data, device):
    """An epoch of compiled steps (the last one of another batch size) ends at the eager epoch's weights and
    loss, to float32 rounding."""
    eager_loss, eager = trained_epoch(rule_data, use_gpu=device == "cuda")
    compiled_loss, compiled = trained_epoch(rule_data, torch_compile=True, use_gpu=device == "cuda")
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-5)
    for name, value in eager.items():
        torch.testing.assert_close(compiled[name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_a_compiler_failure_falls_back_to_eager_training(rule_data, monkeypatch, caplog):
    def broken(function, **kwargs):
        def fail(*args, **kwargs):
            raise RuntimeError("no compiler here")

        return fail

    monkeypatch.setattr(torch, "compile", broken)
    with caplog.at_level(logging.WARNING):
        result = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, **SETTINGS, "torch_compile": True})
    assert caplog.text.count("torch_compile failed (RuntimeError: no compiler here); training eagerly") == 1
    assert result["test_result"]["hit@10"] > 0
