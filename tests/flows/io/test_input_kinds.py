"""Only regular files are read (issue 18, items 6 and 9): a FIFO, a socket, a dangling
link and a link loop among the inputs are one warning line each and the rest goes
through; a UTF-16/32 file is one reject saying so; the summary's `files` row shows the
warehouse's count in the warehouse column."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from steplens.flows.io.inputs import foreign_encoding
from tests.support.builders import T0, step


def steps(n: int, prefix: str) -> bytes:
    return b"".join(orjson.dumps(step(id=f"{prefix}_{i}", created_at=T0 + i,
                                      completed_at=T0 + i + 1)) + b"\n" for i in range(n))


def steplens(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["STEPLENS_ORCHESTRATION"] = "direct"
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "steplens.flows.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_fifo_socket_and_bad_links_are_skipped_with_one_line_each(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.jsonl").write_bytes(steps(3, "a"))
    os.mkfifo(src / "pipe.jsonl")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock.jsonl"))
    (src / "dangling.jsonl").symlink_to(src / "nowhere.jsonl")
    (src / "loop.jsonl").symlink_to(src / "loop.jsonl")
    (src / "link.jsonl").symlink_to(src / "good.jsonl")  # a good link: read (same file)
    try:
        # a regression hangs in open() on the FIFO: the timeout turns it into a failure
        done = steplens("ingest", str(src), "-w", str(tmp_path / "wh"), timeout=120)
    finally:
        sock.close()
    assert done.returncode == 0, done.stderr + done.stdout
    warnings = [x for x in done.stderr.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 4, done.stderr
    for name, what in (("pipe.jsonl", "FIFO"), ("sock.jsonl", "socket"),
                       ("dangling.jsonl", "dangling"), ("loop.jsonl", "loop")):
        assert [w for w in warnings if name in w and what in w], (name, warnings)
    assert "Traceback" not in done.stderr
    count = steplens("sql", "select count(*) as n from steps", "-w", str(tmp_path / "wh"),
                     "-f", "json")
    assert json.loads(count.stdout) == [{"n": 3}]


def test_a_fifo_given_as_the_path_is_skipped_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe.jsonl")
    done = steplens("ingest", str(tmp_path / "pipe.jsonl"), "-w", str(tmp_path / "wh"),
                    timeout=60)
    assert done.returncode == 1
    assert "FIFO" in done.stderr and "error: no input files" in done.stderr


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32",
                                      "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_are_recognized(encoding):
    text = '{"id": "step_1", "object": "thread.run.step"}\n'.encode(encoding)
    assert foreign_encoding(text[:4]) is not None
    assert foreign_encoding(b'{"id": 1}') is None
    assert foreign_encoding(b"\xef\xbb\xbf{") is None  # UTF-8 with its BOM is read


def test_utf16_file_is_one_reject_and_the_rest_goes_through(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_bytes(steps(2, "a"))
    (src / "wide.jsonl").write_bytes(steps(3, "w").decode().encode("utf-16"))
    wh = tmp_path / "wh"
    done = steplens("ingest", str(src), "-w", str(wh))
    assert done.returncode == 0, done.stderr + done.stdout
    assert "surrogates" not in done.stderr + done.stdout
    rejects = json.loads(steplens("sql", "select source_file, line_no, reason from rejects",
                                  "-w", str(wh), "-f", "json").stdout)
    assert len(rejects) == 1
    assert rejects[0]["source_file"].endswith("wide.jsonl") and rejects[0]["line_no"] == 1
    assert "UTF-16LE" in rejects[0]["reason"]
    n = json.loads(steplens("sql", "select count(*) as n from steps", "-w", str(wh),
                            "-f", "json").stdout)
    assert n == [{"n": 2}]


def test_files_row_shows_the_warehouse_count(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "1.jsonl").write_bytes(steps(1, "a1"))
    (a / "2.jsonl").write_bytes(steps(1, "a2"))
    (b / "3.jsonl").write_bytes(steps(1, "b3"))
    wh = tmp_path / "wh"
    assert steplens("ingest", str(a), "-w", str(wh)).returncode == 0
    done = steplens("ingest", str(b), "-w", str(wh))
    assert done.returncode == 0, done.stderr
    (row,) = [x for x in done.stdout.splitlines() if x.strip("│ ").startswith("files")]
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[1:] == ["1 new, 0 grown, 0 rewritten", "3"]  # this run 1 file; held 3


def test_paths_named_in_the_warning_are_never_opened(tmp_path):
    """The listing itself never opens a FIFO (it would block): walk_files only stats."""
    from steplens.flows.io import storage

    os.mkfifo(tmp_path / "p.jsonl")
    names, single = storage.walk_files(tmp_path)
    assert names == [] and not single
    with pytest.raises(OSError, match="not a regular file"):
        storage.open_binary(tmp_path / "p.jsonl")  # non-blocking: refuses at once
    assert Path(tmp_path / "p.jsonl").exists()
