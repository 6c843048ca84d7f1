"""Environment faults and Ctrl-C (issue 18, items 7 and 9): each ends in ONE line, a
non-zero exit, and the previous snapshot intact.

Disk full and a read-only file system need a small tmpfs (`mount`, as root); a test
skips, saying why, where the machine does not allow it. The file size limit uses
`ulimit -f` in the child. Ctrl-C is sent to the whole process group of a running
`steplens ingest`, as a terminal does.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest

from steplens.flows.errors import describe_fault
from tests.flows.test_faults import tagged, wait_until
from tests.support.builders import T0, step

MARK = "STEPLENS_TEST_MARK"


def export(folder: Path, name: str, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"".join(orjson.dumps(step(
        id=f"{name}_{i}", created_at=T0 + i, completed_at=T0 + i + 2,
        usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        metadata={"pad": "x" * (i % 97)})) + b"\n" for i in range(n)))
    return folder


def env(orchestration: str = "direct", **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_API_URL", "PYTEST_CURRENT_TEST")}
    out.update({"STEPLENS_ORCHESTRATION": orchestration, "COLUMNS": "200", **extra})
    return out


def steplens(*args: str, timeout: float = 300, preexec=None, **extra: str
             ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "steplens.flows.cli", *args],
                          env=env(**extra), capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec)


def count(wh: Path) -> int:
    done = steplens("sql", "select count(*) as n from steps", "-w", str(wh), "-f", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[0]["n"]


def one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return lines[0]


@contextlib.contextmanager
def tmpfs(where: Path, size: str):
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_disk_full_is_one_line_and_the_previous_snapshot_stays(tmp_path):
    with tmpfs(tmp_path / "small", "3m") as small:
        wh = small / "wh"
        assert steplens("ingest", str(export(tmp_path / "a", "a.jsonl", 8000)),
                        "-w", str(wh)).returncode == 0
        before = count(wh)
        big = export(tmp_path / "a", "b.jsonl", 60000)
        line = one_line(steplens("ingest", str(big), "-w", str(wh)))
        assert "no space left on device" in line and str(wh) in line
        assert "free space" in line and "nothing of this run was published" in line
        assert count(wh) == before == 8000


def test_file_size_limit_is_one_line_not_a_silent_kill(tmp_path):
    src = export(tmp_path / "in", "a.jsonl", 30000)
    wh = tmp_path / "wh"
    limit = 256 * 1024  # bytes: the warehouse's files cannot grow past it

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    line = one_line(steplens("ingest", str(src), "-w", str(wh), preexec=small_files))
    assert "file size limit" in line and "ulimit -f" in line


def test_read_only_warehouse_is_one_line(tmp_path):
    with tmpfs(tmp_path / "ro", "20m") as ro:
        wh = ro / "wh"
        assert steplens("ingest", str(export(tmp_path / "a", "a.jsonl", 100)),
                        "-w", str(wh)).returncode == 0
        remount = subprocess.run(["mount", "-o", "remount,ro", str(ro)], capture_output=True)
        if remount.returncode != 0:
            pytest.skip("cannot remount the tmpfs read-only")
        export(tmp_path / "a", "b.jsonl", 100)
        line = one_line(steplens("ingest", str(tmp_path / "a"), "-w", str(wh)))
        assert "read-only file system" in line and str(wh) in line
        assert count(wh) == 100


def test_damaged_record_segment_is_one_line_with_the_recovery(tmp_path):
    src = export(tmp_path / "in", "a.jsonl", 3000)
    wh = tmp_path / "wh"
    assert steplens("ingest", str(src), "-w", str(wh)).returncode == 0
    (segment,) = (wh / "records").glob("*/step_records.parquet")
    data = bytearray(segment.read_bytes())
    # the middle half flipped: 16 bytes could land in a column an incremental ingest does
    # not read (then nothing damaged is used, and only `check`'s CRC-32 sees it)
    for i in range(len(data) // 4, 3 * len(data) // 4):
        data[i] ^= 0xFF
    segment.write_bytes(bytes(data))
    with (src / "a.jsonl").open("ab") as f:  # grown: the old segment is read again
        f.write(orjson.dumps(step(id="late", created_at=T0)) + b"\n")
    line = one_line(steplens("ingest", str(src), "-w", str(wh)))
    assert "warehouse damaged" in line and "--full-refresh" in line


@pytest.mark.parametrize(("code", "words"), [
    (errno.ENOSPC, "no space left"), (errno.EFBIG, "ulimit -f"),
    (errno.EDQUOT, "quota"), (errno.EROFS, "read-only"), (errno.EACCES, "permission"),
])
def test_every_fault_names_the_path_and_the_fix(code, words):
    wrapped = RuntimeError("while publishing")
    wrapped.__cause__ = OSError(code, os.strerror(code), "/w/.ingest.lock")
    line = describe_fault(wrapped, "/w", "recover")
    assert words in line and "/w/.ingest.lock" in line
    assert describe_fault(ValueError("a bug"), "/w", "recover") is None


def _interrupt(proc: subprocess.Popen, tag: str) -> tuple[str, float]:
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    left = wait_until(lambda: not tagged(tag), timeout=10) or tagged(tag)
    assert left is True or left == [], f"survived Ctrl-C: {left}"
    return err, took


@pytest.mark.parametrize("orchestration", [
    "direct", pytest.param("prefect", marks=pytest.mark.flow)])
def test_ctrl_c_is_one_line_exit_130_and_the_warehouse_unchanged(tmp_path, orchestration):
    src = export(tmp_path / "in", "a.jsonl", 2000)
    wh = tmp_path / "wh"
    assert steplens("ingest", str(src), "-w", str(wh)).returncode == 0
    export(tmp_path / "in", "b.jsonl", 300000)  # about 100 MB: still parsing when stopped
    tag = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "steplens.flows.cli", "ingest", str(src), "-w", str(wh)],
        env=env(orchestration, **{MARK: tag}, PREFECT_HOME=str(tmp_path / "prefect")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # once the ingest has started its work: beside the resource tracker, a parse
        # worker or the temporary server
        started = wait_until(lambda: len(tagged(tag)) > 2 or proc.poll() is not None,
                             timeout=120)
        assert started and proc.poll() is None, proc.poll()
        time.sleep(1.0)
        err, took = _interrupt(proc, tag)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid, _ in tagged(tag):
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted: "), err
    assert "unchanged" in lines[0]
    assert "Error logging" not in err and "Traceback" not in err
    assert took < 5.0, took  # within a second here; generous for a loaded CI machine
    assert count(wh) == 2000
    shutil.rmtree(tmp_path / "prefect", ignore_errors=True)


def test_unwritable_lock_file_is_one_line_naming_it(tmp_path, monkeypatch):
    """As root, chmod does not stop a write: the refusal is simulated at the open() of
    `.ingest.lock` (EACCES), in process, through the command itself."""
    import builtins

    from typer.testing import CliRunner

    from steplens.flows.cli import app
    from tests.support.cli import one_error_line

    src = export(tmp_path / "in", "a.jsonl", 10)
    real_open = builtins.open

    def refusing(file, *args, **kwargs):
        if str(file).endswith(".ingest.lock"):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing)
    result = CliRunner().invoke(app, ["ingest", str(src), "-w", str(tmp_path / "wh"),
                                      "--orchestration", "direct"])
    line = one_error_line(result)
    assert "permission denied" in line and ".ingest.lock" in line and "write access" in line
