"""Resuming training from a checkpoint (``--resume=PATH``), and checkpoints that cannot be resumed."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TINY, prepare, write_rule_dataset

from recbole_bsarec.cli import main
from recbole_bsarec.errors import UsageError
from recbole_bsarec.pipeline import run_recbole
from recbole_bsarec.registry import get_trainer


def trainer_for(model, data_path, **overrides):
    config, train, _, _ = prepare(model, data_path, **overrides)
    net = config.model_class(config, train._dataset)
    return get_trainer(config["MODEL_TYPE"], config["model"])(config, net)


def test_resume_restores_weights_optimizer_epoch_and_best_result(rule_data):
    first = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 2})
    saved = torch.load(first["checkpoint"], weights_only=True)
    trainer = trainer_for("BSARec", rule_data)
    trainer.resume_checkpoint(first["checkpoint"])

    assert trainer.start_epoch == saved["epoch"] + 1
    assert trainer.best_valid_score == pytest.approx(first["best_valid_score"])
    assert trainer.best_valid_result == pytest.approx(first["best_valid_result"])
    assert trainer.saved_model_file == first["checkpoint"]
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(tensor, saved["state_dict"][name]), name
    moments = trainer.optimizer.state_dict()["state"]
    assert all(torch.equal(moments[k]["exp_avg"], v["exp_avg"]) for k, v in saved["optimizer"]["state"].items())


def test_resumed_run_continues_to_the_last_epoch_and_evaluates(rule_data):
    first = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 2})
    start = torch.load(first["checkpoint"], weights_only=True)["epoch"] + 1
    resumed = run_recbole(
        "BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 5, "resume": first["checkpoint"]}
    )

    assert resumed["checkpoint"] == first["checkpoint"]
    assert set(resumed["test_result"]) == set(first["test_result"])
    # the resumed run trained on from where the first stopped and kept improving on its validation score
    assert resumed["best_valid_score"] >= first["best_valid_score"]
    assert torch.load(resumed["checkpoint"], weights_only=True)["epoch"] >= start - 1


def test_checkpoint_of_another_model_is_one_clear_line(rule_data):
    first = run_recbole("SASRec", "rule", [TINY], {"data_path": rule_data, "epochs": 1})
    with pytest.raises(UsageError, match="is for model SASRec, not BSARec; resume with --model=SASRec"):
        trainer_for("BSARec", rule_data).resume_checkpoint(first["checkpoint"])


def test_checkpoint_of_another_configuration_is_one_clear_line(rule_data):
    first = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 1})
    with pytest.raises(UsageError, match="does not fit this configuration"):
        trainer_for("BSARec", rule_data, hidden_size=32).resume_checkpoint(first["checkpoint"])


@pytest.mark.parametrize("damage", ["truncated", "missing", "not_ours"])
def test_bad_checkpoint_exits_2_and_keeps_the_file(rule_data, tmp_path, capsys, damage):
    first = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 1})
    (tmp_path / "elsewhere").mkdir()
    path = shutil.copy(first["checkpoint"], tmp_path / "elsewhere" / "best.pth")
    if damage == "truncated":
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    elif damage == "missing":
        path = str(path) + ".gone"
    else:
        torch.save({"weights": torch.zeros(2)}, path)
    before = open(path, "rb").read() if damage != "missing" else None

    argv = ["--model=BSARec", "--dataset=rule", f"--config_files={TINY}", f"--data_path={rule_data}"]
    folder = sorted(os.listdir(tmp_path / "elsewhere"))
    assert main([*argv, f"--resume={path}"]) == 2
    assert sorted(os.listdir(tmp_path / "elsewhere")) == folder  # no run.log, no tensorboard/ beside it
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err
    expected = {"truncated": "truncated or corrupt", "missing": "does not exist", "not_ours": "not written by"}
    assert expected[damage] in err
    if before is not None:
        assert open(path, "rb").read() == before


# --- exact resume and determinism ----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def last_epoch(folder):
    """The epoch of the last checkpoint of the run under ``folder``/runs, or -1 before the first."""
    found = list(Path(folder, "runs").glob("*/last.pth"))
    return torch.load(found[0], weights_only=True)["epoch"] if found else -1


def start(args, folder):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), *args], cwd=folder, env=ENV, stdout=subprocess.PIPE, text=True
    )


def wait_for_epoch(proc, folder, epoch, timeout=120):
    deadline = time.time() + timeout
    while last_epoch(folder) < epoch:
        assert proc.poll() is None and time.time() < deadline, "the run ended before the epoch was reached"
        time.sleep(0.05)


def test_killed_run_resumes_to_the_same_test_metrics(workdir):
    data = write_rule_dataset(workdir / "dataset", n_users=1200)
    args = [
        "--model=BSARec",
        "--dataset=rule",
        f"--config_files={TINY}",
        f"--data_path={data}",
        "--epochs=5",
        "--stopping_step=10",
        "--state=INFO",  # the run's log below records each resume
    ]
    (workdir / "whole").mkdir()
    whole = start(args, workdir / "whole")
    expected = whole.communicate(timeout=300)[0]
    assert whole.returncode == 0

    folder = workdir / "killed"
    folder.mkdir()
    proc = start(args, folder)
    wait_for_epoch(proc, folder, 1)  # SIGKILL right after the epoch-1 checkpoint: between epochs
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    last = next(Path(folder, "runs").glob("*/last.pth"))

    proc = start([*args, f"--resume={last}"], folder)
    wait_for_epoch(proc, folder, 2)
    began = time.time()
    wait_for_epoch(proc, folder, 3)
    time.sleep((time.time() - began) / 3)  # a third into the next epoch: during an epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert last_epoch(folder) == 3

    resumed = start([*args, f"--resume={last}"], folder)
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0
    table = lambda text: text.split("run:")[0].splitlines()[1:]  # noqa: E731  (the metric rows)
    assert table(output) == table(expected)
    # the resumed run went on in its own folder: one log holding both kills, and its metrics.json
    assert len(list(Path(folder, "runs").iterdir())) == 1
    assert (last.parent / "metrics.json").is_file() and (last.parent / "run.log").read_text().count("resumes at") == 2


@pytest.mark.parametrize("model", ["BSARec", "SASRec"])
def test_same_seed_gives_identical_metrics(rule_data, model):
    first = run_recbole(model, "rule", [TINY], {"data_path": rule_data, "epochs": 2})
    second = run_recbole(model, "rule", [TINY], {"data_path": rule_data, "epochs": 2})
    assert first["test_result"] == second["test_result"]
    assert first["best_valid_result"] == second["best_valid_result"]


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_random_states_restore_from_a_checkpoint_loaded_onto_the_run_device(tmp_path, device):
    """A GPU run loads its checkpoint onto the GPU (``map_location``); the generator states in it must still
    restore (they are set from host memory), so the resumed run draws what the uninterrupted one would."""
    import random

    import numpy as np

    from recbole_bsarec.rng import rng_state, set_rng_state

    loader = type("Loader", (), {"generator": torch.Generator().manual_seed(3)})()
    torch.save({"rng": rng_state(loader)}, tmp_path / "last.pth")
    draws = [random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=loader.generator).item()]
    state = torch.load(tmp_path / "last.pth", map_location=device, weights_only=True)["rng"]
    set_rng_state(state, loader)
    again = [random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=loader.generator).item()]
    assert again == draws


def test_a_run_folder_moved_elsewhere_resumes_in_its_new_place(rule_data, tmp_path):
    """A run folder copied from another machine (another absolute path) continues from its last checkpoint and
    keeps writing where it now is; without its best weights it is refused before anything trains."""
    import shutil

    old, moved = tmp_path / "old", tmp_path / "moved"
    run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 2, "run_dir": str(old)})
    shutil.move(old, moved)
    resumed = run_recbole(
        "BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 4, "resume": str(moved / "last.pth")}
    )

    assert not old.exists()
    assert resumed["checkpoint"] == str(moved / "best.pth")
    assert torch.load(moved / "last.pth", weights_only=True)["epoch"] == 3
    os.remove(moved / "best.pth")
    with pytest.raises(UsageError, match=r"best weights '.*moved/best.pth' are missing: copy the run's best.pth"):
        run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 6, "resume": str(moved / "last.pth")})


def finished_copy(rule_data, tmp_path, **overrides):
    """A run trained to its end into ``a/``, and a copy of its folder in ``b/`` without metrics.json: the state a
    kill during the final test evaluation leaves."""
    settings = {"data_path": rule_data, "epochs": 3, "run_dir": str(tmp_path / "a"), **overrides}
    first = run_recbole("BSARec", "rule", [TINY], settings)
    copy = tmp_path / "b"
    shutil.copytree(tmp_path / "a", copy)
    (copy / "metrics.json").unlink()
    return first, copy


def test_resuming_a_run_at_its_final_epoch_tests_its_best_checkpoint_unchanged(rule_data, tmp_path):
    first, copy = finished_copy(rule_data, tmp_path)
    best = (copy / "best.pth").read_bytes()
    resumed = run_recbole(
        "BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 3, "resume": str(copy / "last.pth")}
    )
    assert resumed["test_result"] == first["test_result"]
    assert resumed["best_valid_result"] == first["best_valid_result"]
    assert (copy / "best.pth").read_bytes() == best  # RecBole's fit saved epoch -1 over it
    assert torch.load(copy / "best.pth", weights_only=True)["epoch"] >= 0


def test_resuming_an_early_stopped_run_does_not_train_it_on(rule_data, tmp_path):
    first, copy = finished_copy(rule_data, tmp_path, epochs=6)
    last = torch.load(copy / "last.pth", weights_only=True)
    last["cur_step"] = last["config"]["stopping_step"] + 1  # as early stopping leaves it after that epoch
    torch.save(last, copy / "last.pth")
    files = {path.name: path.read_bytes() for path in copy.glob("*.pth")}
    resumed = run_recbole(
        "BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 6, "resume": str(copy / "last.pth")}
    )
    assert resumed["test_result"] == first["test_result"]
    assert {path.name: path.read_bytes() for path in copy.glob("*.pth")} == files
    assert resumed["epochs_run"] == last["epoch"] + 1 and resumed["stopped_early"]


@pytest.mark.parametrize("model", ["BSARec", "SASRec"])
def test_run_dir_of_another_run_is_refused_and_left_untouched(rule_data, tmp_path, capsys, model):
    folder = tmp_path / "a"
    run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 1, "run_dir": str(folder)})
    before = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    argv = [f"--model={model}", "--dataset=rule", f"--config_files={TINY}", f"--data_path={rule_data}"]
    assert main([*argv, f"--run_dir={folder}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--run_dir={folder} holds a run already" in err and "--resume=" in err
    assert {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()} == before


def test_run_dir_that_is_a_file_or_differs_from_the_resumed_run_is_refused(rule_data, tmp_path, capsys):
    first = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 1, "run_dir": str(tmp_path / "a")})
    (tmp_path / "file").write_text("x")
    argv = ["--model=BSARec", "--dataset=rule", f"--config_files={TINY}", f"--data_path={rule_data}"]
    assert main([*argv, f"--run_dir={tmp_path / 'file'}"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main([*argv, f"--run_dir={tmp_path / 'new'}", f"--resume={first['checkpoint']}"]) == 2
    assert "continues the run in its own folder" in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "x" and not (tmp_path / "new").exists()


def test_half_written_files_of_a_killed_write_are_removed_when_the_run_goes_on(rule_data, tmp_path):
    first = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 1, "run_dir": str(tmp_path / "a")})
    partial = tmp_path / "a" / ".tmp-abc123.pth"
    partial.write_bytes(b"half a checkpoint")
    os.utime(partial, (time.time() - 120, time.time() - 120))  # a write that died two minutes ago
    fresh = tmp_path / "a" / ".tmp-def456.json"
    fresh.write_text("{")  # a write in progress elsewhere
    run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 2, "resume": first["checkpoint"]})
    assert not partial.exists() and fresh.exists()


def test_resume_under_other_settings_is_refused_before_anything_is_written(rule_data, tmp_path, capsys):
    first = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 1, "run_dir": str(tmp_path / "a")})
    before = {path.name: path.read_bytes() for path in (tmp_path / "a").rglob("*") if path.is_file()}
    argv = ["--model=BSARec", "--dataset=rule", f"--config_files={TINY}", f"--data_path={rule_data}"]
    assert main([*argv, "--hidden_size=32", f"--resume={first['checkpoint']}"]) == 2
    assert "was trained with hidden_size=16 (here 32)" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in (tmp_path / "a").rglob("*") if path.is_file()} == before


def test_resume_on_other_data_is_refused(rule_data, tmp_path, capsys):
    first = run_recbole("BSARec", "rule", [TINY], {"data_path": rule_data, "epochs": 1})
    other = write_rule_dataset(tmp_path / "other", seed=1)  # the same shape, other sequences
    argv = ["--model=BSARec", "--dataset=rule", f"--config_files={TINY}", f"--data_path={other}"]
    assert main([*argv, f"--resume={first['checkpoint']}"]) == 2
    assert "was trained on other data than" in capsys.readouterr().err
