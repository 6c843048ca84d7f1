"""The command's side of the warm ingest runner (`flows/orchestration/runner.py`): is one there, and
send it an ingest. Standard library only, so `steplens ingest` stays light when a
runner takes its flow run."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from importlib.metadata import version
from typing import Any

from steplens.flows.errors import EnvironmentFault, RunnerBug, SteplensError
from steplens.flows.settings import ENV_FAULT, ENV_PREFIX


def steplens_version() -> str:
    return version("steplens")


def health(url: str, timeout: float = 1.0) -> dict | None:
    """The runner's health answer, or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as answer:
            return json.loads(answer.read())
    except (OSError, ValueError):
        return None


def usable(url: str | None) -> bool:
    """A runner answers at `url` and runs this version of steplens."""
    state = health(url) if url else None
    return bool(state) and state.get("version") == steplens_version()


def submit(url: str, token: str, request: dict, reporter: Any = None) -> dict:
    """Send one ingest to the runner at `url` (with its `token`); its summary. A user
    error comes back as `SteplensError` (one line), an environment fault or damaged
    warehouse file as `EnvironmentFault` (one line), anything else as `RunnerBug` with
    the traceback."""
    # The command's STEPLENS_* settings, but not its crash-test hook: that one kills the
    # process it is set in (flows/faults.py), here the command, never the runner.
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX) and k != ENV_FAULT}
    body = json.dumps({**request, "env": env}).encode()
    post = urllib.request.Request(f"{url}/ingest", data=body, method="POST",
                                  headers={"Content-Type": "application/json",
                                           "Authorization": f"Bearer {token}"})
    try:
        answer = urllib.request.urlopen(post)
    except urllib.error.HTTPError as e:
        raise SteplensError(f"the ingest runner at {url} refused the request ({e.code}): "
                            "restart it with `steplens server stop` and `steplens server "
                            "start`") from None
    with answer:
        for line in answer:
            message = json.loads(line)
            if "progress" in message and reporter is not None:
                kind, files, nbytes = message["progress"]
                getattr(reporter, kind)(files, nbytes)
            elif "summary" in message:
                return message["summary"]
            elif "error" in message:
                raise SteplensError(message["error"])
            elif "fault" in message:
                raise EnvironmentFault(message["fault"])
            elif "bug" in message:
                raise RunnerBug(message["bug"])
    raise RunnerBug(f"the ingest runner at {url} closed the connection without an answer")
