"""`steplens server start|stop|status`: a Prefect server left running on purpose, which
every command then uses (no temporary server, no start-up wait), and which outlives
them, even a `kill -9` of an ingest."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from steplens.flows.orchestration import runner_client, server
from tests.support.paths import DATA


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flow_runs(url: str) -> list[dict]:
    request = urllib.request.Request(f"{url}/flow_runs/filter", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.flow
def test_a_standing_server_is_used_by_ingest_and_survives_its_kill(tmp_path):
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL",
                                                            "PYTEST_CURRENT_TEST")}
    env["PREFECT_HOME"] = str(home)
    cli = [sys.executable, "-m", "steplens.flows.cli"]

    def steplens(*args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*cli, *args], env=env, capture_output=True, text=True,
                              timeout=180, **kw)

    started = steplens("server", "start", "--port", str(_port()))
    assert started.returncode == 0, started.stdout + started.stderr
    state = json.loads((home / server.STATE_FILE).read_text())
    try:
        assert server.healthy(state["url"])
        assert (home / server.STATE_FILE).stat().st_mode & 0o077 == 0  # holds the token
        status = steplens("server", "status").stdout
        assert state["url"] in status and state["runner"]["url"] in status

        export = tmp_path / "export"
        export.mkdir()
        (export / "a.jsonl").write_bytes(
            (DATA / "real" / "openai-dotnet" / "steps_and_runs.jsonl").read_bytes())
        # through the warm runner: a flow run on that server, no Prefect in the command
        probe = ("import sys\nfrom steplens.flows.cli import app\n"
                 "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
                 "print('PREFECT' if 'prefect' in sys.modules else 'NO-PREFECT', code)\n")
        done = subprocess.run([sys.executable, "-c", probe, "ingest", str(export), "-w",
                               str(tmp_path / "wh")], env=env, capture_output=True, text=True,
                              timeout=180)
        assert done.stdout.strip().endswith("NO-PREFECT 0"), done.stdout + done.stderr
        assert "table steps" in done.stdout  # the summary came back
        # reported to that server; the command answered once the warehouse was
        # published, and the flow run completes with its report artifacts
        for _ in range(600):
            runs = _flow_runs(state["url"])
            if [r["state_type"] for r in runs] != ["RUNNING"]:
                break
            time.sleep(0.1)
        assert [r["state_type"] for r in runs] == ["COMPLETED"]

        # an in-process ingest on the same server (PREFECT_API_URL), killed: it stays
        killed = subprocess.run([*cli, "ingest", str(export), "-w", str(tmp_path / "wh2")],
                                env={**env, "STEPLENS_FAULT": "kill@after_parse",
                                     "PREFECT_API_URL": state["url"]},
                                capture_output=True, timeout=180)
        assert killed.returncode == -signal.SIGKILL
        assert server.healthy(state["url"])  # started on purpose: it stays
        assert runner_client.health(state["runner"]["url"])  # and so does the runner
    finally:
        stopped = steplens("server", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not server.healthy(state["url"])
    assert runner_client.health(state["runner"]["url"]) is None
    with pytest.raises(ProcessLookupError):
        os.kill(state["runner"]["pid"], 0)
    assert not (home / server.STATE_FILE).exists()
    assert "no server running" in steplens("server", "status").stdout


def test_status_names_a_configured_url(monkeypatch):
    monkeypatch.setattr(server, "configured_url", lambda: "http://127.0.0.1:9/api")
    from typer.testing import CliRunner

    from steplens.flows.cli import app

    out = CliRunner().invoke(app, ["server", "status"]).output
    assert "PREFECT_API_URL=http://127.0.0.1:9/api (does NOT answer)" in out


def test_profile_api_url_is_read_without_prefect(tmp_path, monkeypatch):
    profiles = tmp_path / "profiles.toml"
    profiles.write_text('active = "work"\n[profiles.work]\n'
                        'PREFECT_API_URL = "http://10.0.0.1:4200/api"\n[profiles.default]\n')
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(profiles))
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    assert server.profile_api_url() == "http://10.0.0.1:4200/api"
    monkeypatch.setenv("PREFECT_PROFILE", "default")
    assert server.profile_api_url() is None
    Path(profiles).write_text("not toml [")
    assert server.profile_api_url() is None
