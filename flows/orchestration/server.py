"""The Prefect API a steplens command reports its flow runs to, found or started.

In this order:

1. `PREFECT_API_URL` (environment, a Prefect profile, or a test harness): a server the
   user runs; used as is.
2. A server started on purpose with `steplens server start`: a `prefect server start`
   in the background, whose URL is remembered in `$PREFECT_HOME/steplens-server.json`,
   and beside it the warm ingest runner (`runner.py`) that `steplens ingest` hands
   its flow runs to. They keep running (with the UI, schedules and history) until
   `steplens server stop`; every command then skips the server start-up (about 5 s
   here) and Prefect's imports (about 3 s).
3. Otherwise a temporary server for this one command, as Prefect itself would start,
   with two differences: it is started the moment the command knows it has work to do,
   so its ~5 s start-up overlaps the imports and the planning instead of following them,
   and it is started through `lifeline.py`, so it dies with the command even
   under `kill -9` (Prefect's own temporary server then lives on, re-parented to init).

Nothing here imports Prefect: a command that finds nothing to do never pays for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from steplens.flows.errors import ServerError
from steplens.flows.orchestration import runner_client
from steplens.flows.orchestration.lifeline import guarded
from steplens.flows.settings import ENV_RUNNER_TOKEN

STATE_FILE = "steplens-server.json"  # in $PREFECT_HOME: the server `steplens server` started
DEFAULT_PORT = 4200
START_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"


def prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()


def profile_api_url() -> str | None:
    """PREFECT_API_URL of the active Prefect profile, read without importing Prefect."""
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or prefect_home() / "profiles.toml")
    try:
        data = tomllib.loads(path.expanduser().read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or data.get("active")
    profile = data.get("profiles", {}).get(active or "", {})
    return profile.get("PREFECT_API_URL") or None


def configured_url() -> str | None:
    """The API URL the user configured, if any (1. above)."""
    if "prefect.settings" in sys.modules:  # already loaded: a harness or profile decides
        from prefect.settings import PREFECT_API_URL

        return PREFECT_API_URL.value() or None
    return os.environ.get("PREFECT_API_URL") or profile_api_url()


def healthy(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def standing_server() -> dict | None:
    """The server `steplens server start` left running, if it still answers (2. above)."""
    try:
        state = json.loads((prefect_home() / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and healthy(state.get("url", "")) else None


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_timeout() -> float:
    try:
        return float(os.environ.get(START_TIMEOUT_ENV) or 90)
    except ValueError:
        return 90.0


class TemporaryServer:
    """Prefect's API server for one command, tied to the command's life (3. above)."""

    def __init__(self) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - its output, shown on failure
        self.process: subprocess.Popen | None = None
        self.port = 0
        self._spawn()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _spawn(self) -> None:
        self.port = _free_port()
        # The services an ephemeral server runs but an ingest does not use: automations
        # (triggers, actions) and storing events; task runs are still recorded.
        env = {"PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
               "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false", **os.environ,
               "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
               "PREFECT__SERVER_FINAL": "1"}
        env.pop("PREFECT_API_URL", None)
        command = [sys.executable, "-m", "uvicorn", "--factory",
                   "prefect.server.api.server:create_app", "--host", "127.0.0.1",
                   "--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        self.process = subprocess.Popen(guarded(command), env=env, stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self) -> str:
        """Block until the server answers; its URL (a new one if the port was taken)."""
        deadline = time.monotonic() + _start_timeout()
        retries = 3
        while time.monotonic() < deadline:
            if healthy(self.url, timeout=0.5):
                return self.url
            if self.process is not None and self.process.poll() is not None:
                if retries and self.process.returncode == 3:  # uvicorn: port in use
                    retries -= 1
                    self._spawn()
                    continue
                raise ServerError(f"Prefect's temporary API server exited "
                                  f"(code {self.process.returncode}): {self._tail()}")
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"Prefect's temporary API server did not answer within "
                          f"{_start_timeout():g} s; raise {START_TIMEOUT_ENV}, or run one "
                          "server for all commands: `steplens server start`")

    def _tail(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        self.log.close()


@dataclass
class Api:
    """The API of one command: `ready()` waits for a temporary server to answer."""

    url: str
    temporary: TemporaryServer | None = None

    def ready(self) -> str:
        if self.temporary is not None:
            self.url = self.temporary.wait()
            os.environ["PREFECT_API_URL"] = self.url
        return self.url


@contextlib.contextmanager
def prefect_api() -> Iterator[Api]:
    """The API for this command (see the module docstring), exported as PREFECT_API_URL.

    A temporary server is started at once and not waited for: call `ready()` (or
    `active()`) when the first flow is about to run. It is stopped on the way out, after
    Prefect's log and event queues are flushed to it.
    """
    previous = os.environ.get("PREFECT_API_URL")
    url = configured_url()
    if url is None:
        state = standing_server()
        url = state["url"] if state else None
    temporary = TemporaryServer() if url is None else None
    api = Api(url or temporary.url, temporary)  # type: ignore[union-attr]
    os.environ["PREFECT_API_URL"] = api.url  # Prefect imported from here on sees it
    try:
        yield api
    finally:
        if temporary is not None:
            _flush_prefect()
            temporary.stop()
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


@contextlib.contextmanager
def active(api: Api) -> Iterator[str]:
    """Wait for `api`, and point Prefect's settings at it for the block."""
    url = api.ready()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    updates: dict = {PREFECT_API_URL: url}
    if api.temporary is not None or not any(
            os.environ.get(v) for v in ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY",
                                        "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")):
        # Flow-run heartbeats only serve an automation that marks silent runs as crashed,
        # which a user sets up on a long-lived server (and then sets the frequency); a
        # temporary server dies with the run. Ending the heartbeat thread costs up to
        # 1 s of wall time per run, so they are off unless asked for.
        updates["flows.heartbeat_frequency"] = None
    with temporary_settings(updates=updates):
        yield url


def _flush_prefect() -> None:
    """Send Prefect's queued logs and events before the temporary server goes."""
    if "prefect" not in sys.modules:
        return
    with contextlib.suppress(Exception):
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)
    with contextlib.suppress(Exception):
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=5)


# ---- `steplens server start | stop | status` -------------------------------------------

def start_standing(port: int = DEFAULT_PORT) -> dict:
    """Start `prefect server start` in the background (UI, schedules, history) and
    remember its URL; it runs until `stop_standing()`."""
    state = standing_server()
    if state:
        return {**state, "already": True}
    url = f"http://127.0.0.1:{port}/api"
    if healthy(url):
        raise ServerError(f"a Prefect server already answers at {url}: use it with "
                          f"`export PREFECT_API_URL={url}`, or pick another --port")
    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    log = home / "steplens-server.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # not ours: it outlives this command, on purpose
        )
    _await(process, lambda: healthy(url), "the Prefect server", log, 0.2)
    state = {"url": url, "pid": process.pid, "log": str(log)}
    try:
        state["runner"] = _start_runner(url, home)
    except ServerError:
        os.killpg(process.pid, signal.SIGTERM)
        raise
    _write_private(home / STATE_FILE, json.dumps(state))
    return state


def _await(process: subprocess.Popen, answers: Callable[[], bool], what: str, log: Path,
           poll: float) -> None:
    """Wait until a process started in its own session `answers`; `ServerError` naming
    its log when it exits first or does not answer in time (it is then stopped)."""
    deadline = time.monotonic() + _start_timeout()
    while not answers():
        if process.poll() is not None:
            raise ServerError(f"{what} exited (code {process.returncode}); see {log}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGTERM)
            raise ServerError(f"{what} did not answer within {_start_timeout():g} s; "
                              f"see {log}")
        time.sleep(poll)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read: the state holds the runner's token."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


def _start_runner(api_url: str, home: Path) -> dict:
    """The warm ingest runner (runner.py), reporting to the server at `api_url`."""
    port = _free_port()
    token = secrets.token_urlsafe(24)  # who may hand it an ingest: this user's commands
    log = home / "steplens-runner.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "steplens.flows.orchestration.runner", "--port", str(port)],
            env={**os.environ, "PREFECT_API_URL": api_url, ENV_RUNNER_TOKEN: token},
            stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _await(process, lambda: runner_client.health(url, timeout=0.5) is not None,
           "the steplens ingest runner", log, 0.1)
    return {"url": url, "pid": process.pid, "log": str(log), "token": token}


def standing_runner() -> dict | None:
    """The warm ingest runner `steplens server start` left (`url`, `token`), if it
    answers and runs this version of steplens (else `steplens ingest` runs in-process)."""
    if configured_url():  # a server the user configured: its runs, in-process
        return None
    runner = (standing_server() or {}).get("runner") or {}
    return runner if runner_client.usable(runner.get("url")) else None


# How long `server stop` waits for the runner's flow run in hand to end.
DRAIN_SECONDS = 60.0


def stop_standing() -> dict | None:
    """Stop the server `start_standing()` started; None when there was none."""
    path = prefect_home() / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    runner = state.get("runner", {})
    if runner.get("url"):
        # The runner serves one request at a time: it answers only once the flow run in
        # hand is over, report artifacts included (`steplens ingest` returns before
        # them), so a stop right after an ingest does not cut its flow run short.
        runner_client.health(runner["url"], timeout=DRAIN_SECONDS)
    for pid in (runner.get("pid"), state["pid"]):
        if pid is not None:
            _stop_group(int(pid))
    path.unlink(missing_ok=True)
    return state


def _stop_group(pid: int) -> None:
    """SIGTERM to a process group, then SIGKILL after 10 s if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            os.killpg(pid, 0)
            time.sleep(0.2)
        os.killpg(pid, signal.SIGKILL)
