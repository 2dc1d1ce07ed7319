"""Ray for a search or a comparison: a cluster joined at ``--address``, or a local Ray started for this process
alone, whose processes (GCS, raylet, agents, workers, the trial training) end with this process however it
ends, a SIGKILL included (on Linux, where /proc shows each process's environment). Run as a script, this file
is the watchdog that ends them: it imports the standard library only, and runs as ``python -I``."""

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

MARKER = "RECBOLE_BSAREC_RAY_SESSION"
ROUNDS = 50
WAIT_S = 10


@contextmanager
def ray_session(address, **local):
    """Ray for the block: left as it is if already initialised, else joined at ``address`` (a UsageError
    naming it when that fails) or started here with ``local``'s ``ray.init`` arguments; shut down after."""
    import ray

    from recbole_bsarec.errors import UsageError

    if ray.is_initialized():
        yield
        return
    watchdog = None
    if address:
        try:
            ray.init(address=address, log_to_driver=False, include_dashboard=False)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise UsageError(f"--address={address}: cannot join a Ray cluster there ({err})") from err
    else:
        watchdog = start_local(ray, local)
    try:
        yield
    finally:
        ray.shutdown()
        if watchdog:
            stop_watchdog(*watchdog)


def start_local(ray, local):
    """A local Ray whose every process carries a fresh marker in its environment (raylet passes it on to its
    workers), and the watchdog that kills the marked processes once this process is gone: it reads a pipe whose
    write end only this process holds, so it sees the end of it when this process exits or is killed."""
    marker = uuid.uuid4().hex
    read, write = os.pipe()  # not inherited by what this process starts later
    watchdog = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__), marker], stdin=read)
    os.close(read)
    os.environ[MARKER] = marker
    try:
        ray.init(**local, log_to_driver=False, include_dashboard=False)
    except BaseException:
        stop_watchdog(watchdog, write)
        raise
    finally:
        del os.environ[MARKER]
    return watchdog, write


def stop_watchdog(watchdog, write):
    """Close the pipe, so the watchdog kills what ``ray.shutdown`` left, and wait for it."""
    os.close(write)
    try:
        watchdog.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()


def marked(marker):
    """Pids of the live processes whose environment holds ``marker`` (a zombie's shows none); none without /proc."""
    entry = f"{MARKER}={marker}".encode()
    found = []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                if entry in handle.read().split(b"\0"):
                    found.append(int(name))
        except OSError:  # gone meanwhile, or another user's
            continue
    return found


def watch(marker):
    """The watchdog: wait until the driver closes its end of stdin (or dies), then SIGKILL the marked processes
    until none is left (a raylet may start a worker meanwhile). Signals meant for the driver's process group
    (Ctrl-C, a hang-up, a TERM) leave it waiting."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    while os.read(0, 1):
        pass
    for _ in range(ROUNDS):
        pids = marked(marker)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


if __name__ == "__main__":
    watch(sys.argv[1])
