"""torch_compile: training through torch.compile gives the eager results; a compiler failure falls back."""

import logging

import pytest
import torch
from conftest import TINY

from recbole_bsarec.pipeline import run_recbole

SETTINGS = {"epochs": 1, "hidden_dropout_prob": 0.0, "attn_dropout_prob": 0.0}


def test_compiled_training_matches_eager_training(rule_data):
    eager = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, **SETTINGS}, saved=False)
    compiled = run_recbole(
        "BSARec", "rule", [TINY], {"data_path": rule_data, **SETTINGS, "torch_compile": True}, saved=False
    )
    assert compiled["test_result"] == pytest.approx(eager["test_result"], abs=0.02)


def test_a_compiler_failure_falls_back_to_eager_training(rule_data, monkeypatch, caplog):
    def broken(function):
        def fail(*args, **kwargs):
            raise RuntimeError("no compiler here")

        return fail

    monkeypatch.setattr(torch, "compile", broken)
    with caplog.at_level(logging.WARNING):
        result = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, **SETTINGS, "torch_compile": True})
    assert "torch_compile failed (RuntimeError: no compiler here); training eagerly" in caplog.text
    assert result["test_result"]["hit@10"] > 0
