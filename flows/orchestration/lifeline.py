"""Processes a steplens command starts for itself die with it, even under `kill -9`.

A command killed with SIGKILL runs no cleanup, so its children must notice on their own:
Prefect's temporary API server (a uvicorn process of ~200 MB) and the parse workers
would otherwise be re-parented to init and live on. Two mechanisms:

- on Linux, `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills the child the moment
  its parent dies. It is set in the child itself, after which the child checks that
  its parent is still the one that started it (the parent may have died in between);
- elsewhere, a daemon thread in the child polls `os.getppid()` and exits when it changes.

`die_with_parent()` is the initializer of worker pools; a command that is not Python
code of ours (uvicorn) is started through `guarded(argv)`, which runs this module as a
tiny launcher: it arms the lifeline and then `exec`s the real command in its place
(PDEATHSIG survives `exec`), or, where there is no PDEATHSIG, stays as a supervisor
that kills the command when the parent goes.

A server the user started on purpose (`steplens server start`, `prefect server start`)
is not started through here and outlives every command, as it should.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.2


def _prctl_deathsig() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except OSError:
        return False


def die_with_parent(parent: int | None = None) -> None:
    """Make this (child) process end when `parent` dies.

    Pass the parent's pid (`initargs=(os.getpid(),)`): by the time a worker runs this,
    its parent may already be gone, and `os.getppid()` would name init instead.
    """
    parent = parent or os.getppid()
    armed = _prctl_deathsig()
    if os.getppid() != parent:  # the parent died before the lifeline was armed
        os._exit(1)
    if armed:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="steplens-lifeline", daemon=True).start()


def guarded(argv: list[str]) -> list[str]:
    """`argv` wrapped so that the process it starts dies with the calling process."""
    return [sys.executable, "-m", "steplens.flows.orchestration.lifeline", str(os.getpid()),
            "--", *argv]


def _launch(parent: int, argv: list[str]) -> int:
    """Arm the lifeline, then become `argv` (Linux) or supervise it (elsewhere)."""
    armed = _prctl_deathsig()
    if os.getppid() != parent:
        return 1
    if armed:
        os.execv(argv[0], argv)  # does not return
    child = subprocess.Popen(argv)
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())  # stop() reaches the child
    while child.poll() is None:
        if os.getppid() != parent:
            child.kill()
            child.wait()
            return 1
        time.sleep(POLL_SECONDS)
    return child.returncode


# python -m steplens.flows.orchestration.lifeline PARENT_PID -- COMMAND...
if __name__ == "__main__":
    sys.exit(_launch(int(sys.argv[1]), sys.argv[sys.argv.index("--") + 1:]))
