"""Shared fixtures: a tiny synthetic dataset in RecBole's atomic format, and a working folder."""

import os
from pathlib import Path

import numpy as np
import pytest

TINY = str(Path(__file__).with_name("tiny.yaml"))
RUN_PY = str(Path(__file__).resolve().parents[1] / "run.py")
N_ITEMS = 40


def write_rule_dataset(root, name="rule", n_users=150, length=12, seed=0):
    """Each user walks the item cycle 1 -> 2 -> ... -> N_ITEMS -> 1 from a random start.

    The next item is a deterministic function of the last one, so a sequential model can learn it.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / name
    folder.mkdir(parents=True)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for user in range(1, n_users + 1):
        start = int(rng.integers(N_ITEMS))
        for step in range(length):
            lines.append(f"{user}\t{(start + step) % N_ITEMS + 1}\t{step}")
    (folder / f"{name}.inter").write_text("\n".join(lines) + "\n")
    return str(Path(root))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run inside a temporary folder, so RecBole's log/ and saved/ land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def rule_data(workdir):
    """data_path of the synthetic 'rule' dataset."""
    return write_rule_dataset(workdir / "dataset")


def prepare(model, data_path, **overrides):
    """Config and RecBole data loaders for ``model`` on the 'rule' dataset under ``data_path``."""
    from recbole_bsarec import pipeline

    config = pipeline.build_config(model, "rule", [TINY], {"data_path": data_path, **overrides})
    _, train, valid, test = pipeline.prepare(config)
    return config, train, valid, test


def make_model(model, data_path, **overrides):
    """A freshly initialised ``model`` (eval mode) and its training loader."""
    from recbole_bsarec.pipeline import build_model

    config, train, _, _ = prepare(model, data_path, **overrides)
    return build_model(config, train).eval(), train


def run_py_argv(data_path, *extra):
    """``run.py``'s command line for BSARec on the 'rule' dataset under ``data_path`` with the tiny settings."""
    return [RUN_PY, "--model=BSARec", "--dataset=rule", f"--config_files={TINY}", f"--data_path={data_path}", *extra]


SHARED_PAPER = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "paper"


def shared_paper_file(name):
    """Path of the paper's ``<name>`` (e.g. "LastFM.txt") in ``<repo>/../shared/data/paper``.

    A clone without that folder skips the test that needs it; with RECBOLE_BSAREC_REQUIRE_SHARED=1 (CI) the
    test fails instead, so that CI cannot pass with these tests skipped.
    """
    path = SHARED_PAPER / name
    if not path.is_file():
        reason = f"needs ../shared/data/paper/{name} (the paper's data; CI has it): {path} not found"
        if os.environ.get("RECBOLE_BSAREC_REQUIRE_SHARED") == "1":
            pytest.fail(f"RECBOLE_BSAREC_REQUIRE_SHARED=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return path
