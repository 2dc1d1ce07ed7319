"""The Ray a search or a comparison starts ends with it: its driver SIGKILLed, no process of that Ray remains."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_py_argv


def session_processes(sid):
    """(pid, command line) of the live processes of session ``sid``: the driver started with its own session,
    so these are what it started, whatever else runs on the machine (other Ray instances included)."""
    found = []
    for name in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):  # not a process, or gone meanwhile
            continue
        state, _, _, session = stat.rsplit(")", 1)[1].split()[:4]
        if int(session) == sid and state != "Z":
            found.append((int(name), cmdline.strip()))
    return found


def busy_worker(sid):
    """A Ray worker of session ``sid`` runs a trial or a run (not an idle one)."""
    return any(cmd.startswith("ray::") and not cmd.startswith("ray::IDLE") for _, cmd in session_processes(sid))


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the processes from /proc")
@pytest.mark.parametrize(
    "command",
    [
        ["--search=SPACE", "--algo=grid", "--scheduler=none"],
        ["--compare", "--models=BSARec", "--datasets=rule", "--seeds=42,7", "--jobs=2"],
    ],
    ids=["search", "compare"],
)
def test_sigkilled_driver_leaves_no_ray_process(rule_data, tmp_path, command):
    space = tmp_path / "space.yaml"
    space.write_text("alpha: {choice: [0.1, 0.9]}\n")
    argv = run_py_argv(
        rule_data,
        "--epochs=500",
        "--stopping_step=500",
        *[arg.replace("SPACE", str(space)) for arg in command],
    )
    proc = subprocess.Popen([sys.executable, *argv], start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None and not busy_worker(proc.pid):
            time.sleep(0.5)
        assert busy_worker(proc.pid), "no Ray worker trained before the deadline"
        os.kill(proc.pid, signal.SIGKILL)  # the driver alone, not its process group
        proc.wait()
        deadline = time.time() + 30
        while time.time() < deadline and session_processes(proc.pid):
            time.sleep(0.5)
        assert session_processes(proc.pid) == []
    finally:
        if session_processes(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
