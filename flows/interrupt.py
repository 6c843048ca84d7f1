"""Ctrl-C (SIGINT) during an ingest: stop within a second, one line, exit 130.

A Python signal handler runs only when the main thread returns to the interpreter,
which a long Polars or DuckDB call, or Prefect's crash reporting to a server that the
same Ctrl-C already stopped (`Error logging to API`), can delay for seconds. So the
command blocks SIGINT in its threads and a dedicated thread waits for it with
`sigwait`: it prints one line saying what the warehouse holds and ends the process at
once with `os._exit(130)`, as a `kill -9` would. That is safe by construction: a
killed ingest leaves the previous snapshot readable (the publish is atomic, and
SIGKILL at every point is tested), and everything the command started dies with it
(flows/lifeline.py: parse workers and the temporary Prefect server hold a parent-death
signal). The children inherit the blocked SIGINT, so the terminal's Ctrl-C (sent to
the whole process group) does not kill them before the command speaks.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

# Set by the console entry point (flows/cli.py main): a command run in-process by a test
# runner or a script keeps Python's own KeyboardInterrupt, and its later subprocesses
# do not inherit a blocked SIGINT.
enabled = False
_state: list[Callable[[], str]] = []


def exit_on_sigint(state: Callable[[], str]) -> None:
    """From now on SIGINT prints `interrupted: <state()>` and exits 130 within a second.

    Call it in the main thread before any other thread starts (the mask is inherited).
    `state()` says what the warehouse holds; it must be quick and must not raise.
    """
    if not enabled or not hasattr(signal, "pthread_sigmask") or (
            threading.current_thread() is not threading.main_thread()):
        return
    started = bool(_state)
    _state[:] = [state]
    if started:
        return
    # A thread some library started earlier may not block SIGINT: the kernel can hand
    # the signal to it, and then Python's handler runs in the main thread. It says the
    # same line (only later, if the main thread is inside a long native call).
    signal.signal(signal.SIGINT, lambda *_: _exit())
    # multiprocessing starts its resource tracker with SIGINT blocked and then UNBLOCKS
    # it in the calling thread: started now, before the mask, it never touches it again.
    from multiprocessing import resource_tracker

    quiet_resource_tracker()
    resource_tracker.ensure_running()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def wait() -> None:
        signal.sigwait({signal.SIGINT})
        _exit()

    threading.Thread(target=wait, name="steplens-sigint", daemon=True).start()


def _exit() -> None:
    try:
        message = _state[0]()
    except Exception:  # noqa: BLE001 - the line must be printed whatever happens
        message = "the warehouse keeps its last published snapshot"
    try:
        sys.stderr.write(f"\ninterrupted: {message}\n")
        sys.stderr.flush()
    finally:
        os._exit(130)


def quiet_resource_tracker() -> None:
    """The parse pool's semaphores are cleaned up by multiprocessing's resource tracker
    when the command ends at once (Ctrl-C); it would warn about each: not a fault."""
    quiet = "ignore:resource_tracker:UserWarning"
    current = os.environ.get("PYTHONWARNINGS")
    if quiet not in (current or ""):
        os.environ["PYTHONWARNINGS"] = f"{current},{quiet}" if current else quiet


def ignore_file_size_signal() -> None:
    """Past `ulimit -f` the kernel sends SIGXFSZ, which kills silently by default;
    ignored, the write fails with EFBIG instead, which is reported as one line."""
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
