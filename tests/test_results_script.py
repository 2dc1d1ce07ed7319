"""benchmarks/results.py: a finished run's log is read back, summarised, and re-evaluated under other masks."""

import importlib.util
from pathlib import Path

import pytest
from conftest import TINY

from recbole_bsarec.pipeline import run_recbole

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "results.py"


@pytest.fixture
def results():
    spec = importlib.util.spec_from_file_location("results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_run_is_read_from_its_log_and_reevaluated_under_another_mask(rule_data, results):
    done = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "eval_history_mask": "zero", "state": "INFO"})
    logged = results.read_log(done["log_file"])
    assert (logged["model"], logged["dataset"], logged["seed"]) == ("BSARec", "rule", "42")
    assert logged["test"] == pytest.approx(done["test_result"], abs=1e-4)
    assert logged["checkpoint"] == done["checkpoint"] or Path(logged["checkpoint"]).resolve() == Path(
        done["checkpoint"]
    )
    assert results.reevaluate(logged, "zero") == pytest.approx(done["test_result"], abs=1e-4)
    unmasked = results.reevaluate(logged, "none")
    assert set(unmasked) == set(done["test_result"])
    table = results.summary([{**logged, "protocol": results.protocol(logged)}])
    assert table[2].startswith("| BSARec | rule | train_window=all, eval_history_mask=zero | 42 | ")
