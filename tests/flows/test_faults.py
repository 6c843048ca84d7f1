"""Faults (issue 14): nothing an ingest starts outlives a `kill -9`; an empty folder
creates nothing; a damaged warehouse is named, refused, recovered with --full-refresh.

The kill tests run `steplens ingest` in a child process with no Prefect server
configured, so the command starts its own temporary one, and tag every process of that
tree with a unique environment variable: afterwards no process may carry the tag.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from steplens.flows.cli import app
from steplens.flows.store import snapshots
from tests.support.cli import one_error_line
from tests.support.paths import DATA, SAMPLE

MARK = "STEPLENS_TEST_MARK"


def tagged(tag: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose environment carries `tag`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            if f"{MARK}={tag}".encode() not in env:
                continue
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":  # a zombie holds no memory
                continue
            found.append((int(entry.name),
                          (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except OSError:
            continue
    return found


def wait_until(predicate, timeout: float = 60.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


def _ingest(export: Path, wh: Path, tag: str, orchestration: str = "prefect",
            *options: str, **env: str) -> subprocess.Popen:
    """`steplens ingest` in a child process with no Prefect API configured: as a flow
    run on a temporary server it starts itself, unless `orchestration` says direct."""
    child_env = {k: v for k, v in os.environ.items()
                 if k not in ("PREFECT_API_URL", "PYTEST_CURRENT_TEST")}
    child_env.update({MARK: tag, "STEPLENS_ORCHESTRATION": orchestration, **env})
    return subprocess.Popen(
        [sys.executable, "-m", "steplens.flows.cli", "ingest", str(export), "-w", str(wh),
         *options], env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _reap(tag: str) -> None:
    for pid, _ in tagged(tag):  # a failed test must not leak what it found
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def export(tmp_path) -> Path:
    src = tmp_path / "export"
    shutil.copytree(DATA / "real" / "openai-dotnet", src)
    return src


@pytest.mark.flow
def test_sigkill_while_the_temporary_server_starts_leaves_no_process(export, tmp_path):
    tag = uuid.uuid4().hex
    proc = _ingest(export, tmp_path / "wh", tag, STEPLENS_FAULT="sleep@api_starting:60")
    try:
        servers = wait_until(lambda: [p for p in tagged(tag) if "uvicorn" in p[1]])
        assert servers, f"the temporary server never started: {proc.poll()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        left = wait_until(lambda: not tagged(tag), timeout=10) or tagged(tag)
        assert left is True or left == [], f"survived the kill: {left}"
    finally:
        proc.kill()
        _reap(tag)


@pytest.mark.parametrize("orchestration", [pytest.param("prefect", marks=pytest.mark.flow),
                                           "direct"])  # only the first runs a Prefect flow
@pytest.mark.parametrize("point", ["after_parse", "publish_partial", "publish_swapped"])
def test_sigkill_inside_the_flow_leaves_no_process(export, tmp_path, point, orchestration):
    tag = uuid.uuid4().hex
    proc = _ingest(export, tmp_path / "wh", tag, orchestration, STEPLENS_FAULT=f"kill@{point}")
    try:
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == -signal.SIGKILL, out  # it got as far as `point`
        left = wait_until(lambda: not tagged(tag), timeout=10) or tagged(tag)
        assert left is True or left == [], f"survived the kill: {left}"
    finally:
        proc.kill()
        _reap(tag)


def test_parse_workers_die_with_their_parent(tmp_path):
    """The pool initializer of the parse task (`die_with_parent`): kill -9 the parent,
    and its workers go too."""
    tag = uuid.uuid4().hex
    script = (
        "import multiprocessing, os, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from steplens.flows.orchestration.lifeline import die_with_parent\n"
        "if __name__ == '__main__':\n"
        "    ctx = multiprocessing.get_context('spawn')\n"
        "    pool = ProcessPoolExecutor(2, mp_context=ctx, initializer=die_with_parent,\n"
        "                               initargs=(os.getpid(),))\n"
        "    futures = [pool.submit(time.sleep, 120) for _ in range(2)]\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(120)\n"
    )
    path = tmp_path / "pool.py"
    path.write_text(script)
    env = {**os.environ, MARK: tag}
    parent = subprocess.Popen([sys.executable, str(path)], env=env, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        assert wait_until(lambda: len(tagged(tag)) >= 4), tagged(tag)  # parent, tracker, 2 workers
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        left = wait_until(lambda: not tagged(tag), timeout=10) or tagged(tag)
        assert left is True or left == [], f"workers survived: {left}"
    finally:
        parent.kill()
        _reap(tag)


def test_empty_folder_is_one_line_creates_nothing_and_never_starts_prefect(tmp_path):
    """Run as a user would (a fresh process): one line, exit 1, no warehouse directory,
    no lock file, and Prefect not even imported."""
    (tmp_path / "empty").mkdir()
    wh = tmp_path / "wh"
    code = ("import sys\n"
            "from steplens.flows.cli import app\n"
            "try:\n"
            f"    app(['ingest', {str(tmp_path / 'empty')!r}, '-w', {str(wh)!r}])\n"
            "except SystemExit as e:\n"
            "    print('exit', e.code, 'prefect' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
                         timeout=120)
    assert out.stdout.strip() == "exit 1 False", out.stdout  # exit code 1, no Prefect
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: no input files"), lines
    assert not wh.exists()  # no warehouse directory, hence no lock file


# ---- a damaged warehouse ---------------------------------------------------------------

@pytest.fixture
def damaged(sample_warehouse, tmp_path) -> Path:
    """A copy of the sample warehouse to break."""
    wh = tmp_path / "wh"
    shutil.copytree(sample_warehouse, wh, symlinks=True)
    return wh


def _one_partition(wh: Path, table: str) -> Path:
    return sorted((wh / "current" / table).glob("month=*/part-0.parquet"))[0]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "partition deleted": lambda wh: _one_partition(wh, "steps").unlink(),
    "partition cut short": lambda wh: _truncate(_one_partition(wh, "usage")),
    "manifest cut short": lambda wh: _truncate(wh / "current" / "manifest.json"),
    "record segment deleted": lambda wh: next((wh / "records").glob("*/step_records.parquet"))
    .unlink(),
}


def _damaged_file(wh: Path, kind: str) -> str:
    """The file the damage hit, as the message must name it (resolved snapshot path)."""
    snap = snapshots.current_snapshot(wh)
    if kind == "manifest cut short":
        return str(snap / "manifest.json")
    if kind == "record segment deleted":
        return "step_records.parquet"
    return str(snap) + "/"


@pytest.mark.flow
@pytest.mark.parametrize("kind", list(DAMAGE))
@pytest.mark.parametrize("command", [["report"], ["sql", "select count(*) from steps"],
                                     ["ingest", str(SAMPLE)]])
def test_damage_is_named_with_the_way_out(damaged, kind, command):
    DAMAGE[kind](damaged)
    result = CliRunner().invoke(app, [*command, "-w", str(damaged)])
    line = one_error_line(result)
    assert "warehouse damaged" in line and _damaged_file(damaged, kind) in line, line
    assert "--full-refresh" in line and f"--warehouse {damaged}" in line


@pytest.mark.flow
@pytest.mark.parametrize("kind", list(DAMAGE))
def test_check_finds_the_damage_and_full_refresh_repairs_it(damaged, kind):
    runner = CliRunner()
    good = runner.invoke(app, ["check", "-w", str(damaged)])
    assert good.exit_code == 0 and "is whole" in good.output, good.output
    DAMAGE[kind](damaged)
    bad = runner.invoke(app, ["check", "-w", str(damaged)])
    assert bad.exit_code == 1 and "FAIL" in bad.output, bad.output
    assert _damaged_file(damaged, kind) in bad.output
    repaired = runner.invoke(app, ["ingest", str(SAMPLE), "-w", str(damaged),
                                   "--full-refresh"])
    assert repaired.exit_code == 0, repaired.output
    assert runner.invoke(app, ["check", "-w", str(damaged)]).exit_code == 0


@pytest.mark.flow
def test_check_catches_a_changed_byte_that_sizes_miss(damaged):
    path = _one_partition(damaged, "steps")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(app, ["check", "-w", str(damaged)])
    assert result.exit_code == 1
    assert "differs from what was written" in result.output


@pytest.mark.flow
def test_a_damaged_duckdb_file_is_rewritten_by_the_next_ingest(damaged):
    (damaged / "steplens.duckdb").write_bytes(b"not a database")
    result = CliRunner().invoke(app, ["ingest", str(SAMPLE), "-w", str(damaged)])
    assert result.exit_code == 0, result.output
    import duckdb

    with duckdb.connect(str(damaged / "steplens.duckdb"), read_only=True) as con:
        assert con.sql("select count(*) from steps").fetchall()[0][0] > 0


def test_a_killed_ingests_files_go_with_the_next_ingest_even_with_nothing_to_read(
        export, tmp_path):
    """A full refresh killed after its parse leaves record segments no snapshot names,
    and one killed in its rebuild leaves the staging area (records split by bucket among
    it): the next ingest, although every input is unchanged, removes them under the lock,
    keeps every segment of the published snapshot, and answers as before."""
    import json

    from steplens.flows.store.manifest import Manifest

    wh = tmp_path / "wh"
    first = _ingest(export, wh, uuid.uuid4().hex, "direct")
    assert first.wait(timeout=180) == 0, first.stdout.read()

    def published_segments() -> set[str]:
        snap = snapshots.current_snapshot(wh)
        return set(Manifest.from_json(json.loads((snap / "manifest.json").read_text()))
                   .segments)

    live = published_segments()
    assert live and {p.name for p in (wh / "records").iterdir()} == live
    refresh = _ingest(export, wh, uuid.uuid4().hex, "direct", "--full-refresh",
                      STEPLENS_FAULT="kill@after_parse")
    assert refresh.wait(timeout=180) == -signal.SIGKILL, refresh.stdout.read()
    assert {p.name for p in (wh / "records").iterdir()} - live  # its segments stayed
    split = wh / ".staging" / "_split" / "steps" / "step_records"
    split.mkdir(parents=True)
    (split / "00000.parquet").write_bytes(b"PAR1 cut short")
    answer = CliRunner().invoke(app, ["sql", "select count(*) as n from steps", "-w", str(wh),
                                      "-f", "json"])
    before = json.loads(answer.stdout)[0]["n"]

    again = _ingest(export, wh, uuid.uuid4().hex, "direct")
    out, _ = again.communicate(timeout=180)
    assert again.returncode == 0, out
    assert {p.name for p in (wh / "records").iterdir()} == live == published_segments()
    assert not (wh / ".staging").exists()
    answer = CliRunner().invoke(app, ["sql", "select count(*) as n from steps", "-w", str(wh),
                                      "-f", "json"])
    assert json.loads(answer.stdout)[0]["n"] == before > 0
    assert CliRunner().invoke(app, ["check", "-w", str(wh)]).exit_code == 0
