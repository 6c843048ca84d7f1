"""The scheduled deployment and the continuous watch loop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from steplens.flows.cli import app
from steplens.flows.deployment import deployment
from tests.support.paths import DATA


def test_deployment_carries_the_cron_schedule_and_parameters(tmp_path):
    dep = deployment([str(DATA / "real")], str(tmp_path / "wh"), cron="*/15 * * * *")
    assert dep.schedules[0].schedule.cron == "*/15 * * * *"
    assert dep.parameters["paths"] == [str((DATA / "real").resolve())]
    assert dep.parameters["warehouse_dir"] == str(tmp_path / "wh")
    assert dep.parameters["wait"] is True


def test_deployment_interval_schedule(tmp_path):
    dep = deployment([str(DATA)], str(tmp_path), interval=90)
    assert dep.schedules[0].schedule.interval.total_seconds() == 90
    with pytest.raises(ValueError):
        deployment([str(DATA)], str(tmp_path))


def test_serve_without_a_prefect_server_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setattr("steplens.flows.cli._prefect_server_url", lambda: None)
    result = CliRunner().invoke(app, ["serve", str(DATA / "real"), "--cron", "* * * * *",
                                      "-w", str(tmp_path)])
    assert result.exit_code == 1
    assert "prefect server start" in result.output


@pytest.mark.flow
def test_watch_ingests_new_data_and_stops_cleanly_on_ctrl_c(prefect_server, tmp_path):
    from prefect.settings import PREFECT_API_URL

    export = tmp_path / "export"
    export.mkdir()
    lines = (DATA / "real" / "openai-dotnet" / "steps_and_runs.jsonl").read_bytes().splitlines(
        keepends=True)
    (export / "a.jsonl").write_bytes(b"".join(lines[:50]))
    wh = tmp_path / "wh"
    env = dict(os.environ, PREFECT_API_URL=str(PREFECT_API_URL.value()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "steplens.flows.cli", "watch", str(export), "-w", str(wh),
         "--every", "0.5"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    seen: list[str] = []

    def wait_for(text: str) -> None:
        deadline = time.time() + 90
        while time.time() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if text in line:
                return
        raise AssertionError(f"{text!r} not seen in {seen}")

    try:
        wait_for("batch 1:")
        (export / "a.jsonl").open("ab").write(b"".join(lines[50:]))
        wait_for(f"records from {len(lines) - 50} lines")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "stopped after" in out
    from steplens.flows.store import snapshots

    assert snapshots.read_json(snapshots.current_snapshot(wh), snapshots.SUMMARY)["balanced"]
