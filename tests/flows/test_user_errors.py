"""Every user error of every command: one line naming what is wrong and what to do, no
traceback, exit code 1, and nothing created (issue 14, fault 3).

A damaged warehouse is in test_faults.py; bad price files in test_report.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from steplens.flows import pipeline
from steplens.flows.cli import app
from tests.support.cli import one_error_line
from tests.support.paths import SAMPLE


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def export(tmp_path) -> Path:
    d = tmp_path / "export"
    d.mkdir()
    (d / "a.jsonl").write_bytes((SAMPLE / "bad_lines.jsonl").read_bytes())
    return d


CASES = {
    "ingest: missing path": (["ingest", "{tmp}/nope", "-w", "{tmp}/wh"],
                             "no such file or directory: {tmp}/nope"),
    "ingest: folder without input files": (["ingest", "{tmp}/empty", "-w", "{tmp}/wh"],
                                           "no input files"),
    "watch: missing path": (["watch", "{tmp}/nope", "-w", "{tmp}/wh"],
                            "no such file or directory"),
    "watch: --every 0": (["watch", "{tmp}/export", "-w", "{tmp}/wh", "--every", "0"],
                         "--every 0: give a number of seconds above 0"),
    "serve: bad --cron": (["serve", "{tmp}/export", "-w", "{tmp}/wh", "--cron", "every day"],
                          "--cron 'every day' is not a valid cron expression"),
    "serve: --interval 0": (["serve", "{tmp}/export", "--interval", "0"],
                            "--interval 0: give a number of seconds above 0"),
    "serve: no schedule": (["serve", "{tmp}/export"], "give exactly one of --cron or --interval"),
    "serve: missing path": (["serve", "{tmp}/nope", "--interval", "60"],
                            "no such file or directory"),
    "report: warehouse missing": (["report", "-w", "{tmp}/wh"],
                                  "no warehouse at {tmp}/wh: run `steplens ingest PATH "
                                  "--warehouse {tmp}/wh` first"),
    "report: --html into a missing folder": (["report", "--html", "{tmp}/no/r.html"],
                                             "cannot write {tmp}/no/r.html"),
    "sql: warehouse missing": (["sql", "select 1", "-w", "{tmp}/wh"], "no warehouse at"),
    "check: warehouse missing": (["check", "-w", "{tmp}/wh"], "no warehouse at"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_user_error_is_one_line_and_creates_nothing(case, tmp_path, export):
    (tmp_path / "empty").mkdir()
    args, expected = CASES[case]
    line = one_error_line(run(*(a.format(tmp=tmp_path) for a in args)))
    assert expected.format(tmp=tmp_path) in line
    assert not (tmp_path / "wh").exists()


def test_unreadable_input_file_is_named(tmp_path, export, monkeypatch):
    """Root reads any file whatever its mode, so the refusal is simulated where the
    command opens the file; as another user, chmod 000 gives the same line."""
    target = str(export / "a.jsonl")
    real_open = pipeline.storage.open_binary  # inputs are opened non-blocking there

    def denying_open(name, *args, **kwargs):
        if str(name) == target:
            raise PermissionError(13, "Permission denied", target)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(pipeline.storage, "open_binary", denying_open)
    line = one_error_line(run("ingest", str(export), "-w", str(tmp_path / "wh")))
    assert f"cannot read {target}: Permission denied" in line and "permissions" in line
    assert not (tmp_path / "wh").exists()


def test_locked_warehouse_is_one_line_before_prefect_starts(tmp_path, export):
    """Another process holds the ingest lock: the second ingest says so at once."""
    wh = tmp_path / "wh"
    wh.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         "f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX)\n"
         "f.write(str(os.getpid())); f.flush(); print('ready', flush=True); time.sleep(60)",
         str(wh / ".ingest.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        line = one_error_line(run("ingest", str(export), "-w", str(wh)))
    finally:
        holder.kill()
        holder.wait()
    assert f"another steplens ingest (pid {holder.pid}) is running on {wh}" in line
    assert "--wait" in line


@pytest.mark.flow
def test_bad_sql_is_one_line(sample_warehouse):
    line = one_error_line(run("sql", "select nope from steps", "-w", str(sample_warehouse)))
    assert 'column "nope"' in line


@pytest.mark.flow
def test_watch_waits_for_a_folder_that_has_no_input_yet(prefect_server, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("watch", str(tmp_path / "empty"), "-w", str(tmp_path / "wh"),
                 "--every", "0.1", "--max-batches", "2")
    assert result.exit_code == 0, result.output
    assert "batch 1: no input files yet" in result.output
    assert "batch 2: no input files yet" in result.output
    assert not (tmp_path / "wh").exists()
