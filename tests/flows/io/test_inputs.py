"""Reading inputs that break while they are read: cut gzip streams, vanished and changed files.

docs/ingest.md, "Input": every complete line before the cut is kept, the cut is one reject (the
line it fell in, and why), and the other files go through. The expected lines are
computed independently here, with `zlib` on the same bytes.
"""

from __future__ import annotations

import gzip
import os
import zlib

import orjson
import pytest

from steplens.flows.ingest import ingest
from steplens.flows.io.inputs import parse_chunk
from steplens.flows.store.records import Range
from tests.support.builders import T0, step


def steps(n: int) -> list[bytes]:
    return [orjson.dumps(step(id=f"step_{i:05d}", created_at=T0 + i,
                              metadata={"n": str(i) * (i % 7)})) for i in range(n)]


def readable(compressed: bytes) -> bytes:
    """Everything zlib gets out of `compressed`, fed a byte at a time, before it breaks."""
    d = zlib.decompressobj(wbits=31)
    out = []
    for i in range(len(compressed)):
        try:
            out.append(d.decompress(compressed[i:i + 1]))
        except zlib.error:
            break
    return b"".join(out)


def complete_lines(compressed: bytes) -> int:
    """How many whole lines zlib gets out of `compressed` before it ends or breaks."""
    return readable(compressed).count(b"\n")


def read(path, **planned) -> object:
    return parse_chunk(Range(str(path), 0, -1, 1, compressed=True, **planned).chunk())


def test_a_truncated_gzip_keeps_every_complete_line_and_rejects_the_cut(tmp_path):
    whole = gzip.compress(b"\n".join(steps(3000)) + b"\n")
    cut = whole[: len(whole) * 3 // 5]
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(cut)
    kept = complete_lines(cut)
    assert 0 < kept < 3000
    batch = read(path)
    assert batch.step_records["step_id"].to_list() == [f"step_{i:05d}" for i in range(kept)]
    (reject,) = batch.rejects.iter_rows(named=True)
    assert reject["source_file"] == str(path)
    assert reject["line_no"] == kept + 1
    assert "gzip" in reject["reason"] and "cut short" in reject["reason"]
    assert batch.records_read == kept + 1


def test_a_corrupt_gzip_block_keeps_the_lines_before_it(tmp_path):
    whole = bytearray(gzip.compress(b"\n".join(steps(3000)) + b"\n", compresslevel=1))
    middle = len(whole) // 2
    whole[middle:middle + 64] = bytes(64)  # a run of zeros inside the deflate stream
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(bytes(whole))
    lines = readable(bytes(whole)).split(b"\n")[:-1]  # the complete ones
    intact = [x for x, y in zip(lines, steps(3000), strict=False) if x == y]
    assert 0 < len(intact) < len(lines) < 3000  # some lines decoded to garbage first
    batch = read(path)
    ids = batch.step_records["step_id"].to_list()
    assert ids[:len(intact)] == [orjson.loads(x)["id"] for x in intact]
    cut = batch.rejects.filter(batch.rejects["reason"].str.contains("gzip"))
    assert cut["line_no"].to_list() == [len(lines) + 1]
    assert batch.records_read == len(lines) + 1


def test_a_file_that_vanished_before_it_was_read_is_one_reject(tmp_path):
    path = tmp_path / "gone.jsonl"
    batch = parse_chunk(Range(str(path), 0, -1, 1).chunk())
    (reject,) = batch.rejects.iter_rows(named=True)
    assert (reject["source_file"], reject["line_no"]) == (str(path), 1)
    assert "vanished" in reject["reason"]
    assert batch.records_read == 1 and batch.step_records.height == 0


def test_a_file_that_shrank_while_it_was_read_keeps_what_was_read(tmp_path):
    lines = steps(10)
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"\n".join(lines[:4]) + b"\n")
    planned_end = sum(len(x) + 1 for x in lines)  # planned when the file was longer
    batch = parse_chunk(Range(str(path), 0, planned_end, 1).chunk())
    assert batch.step_records.height == 4
    (reject,) = batch.rejects.iter_rows(named=True)
    assert reject["line_no"] == 5 and "changed while it was being read" in reject["reason"]


def test_a_whole_file_replaced_while_it_was_read_is_kept_and_flagged(tmp_path):
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(steps(5)) + b"\n"))
    # planned with another size and time: it changed between the plan and the read
    batch = read(path, file_size=1, file_mtime_ns=1)
    assert batch.step_records.height == 5
    (reject,) = batch.rejects.iter_rows(named=True)
    assert reject["line_no"] == 6 and "changed while it was being read" in reject["reason"]


def test_a_file_that_vanished_while_read_is_read_again_by_the_next_ingest(tmp_path):
    from steplens.flows.store.manifest import Manifest, after_batch, file_reads, plan
    from steplens.flows.store.records import parse_unit

    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(steps(3)) + b"\n"))
    reads = file_reads(plan([str(path)], Manifest()), 1 << 20)
    saved = path.read_bytes()
    path.unlink()  # gone between the plan and the read
    result = parse_unit(str(tmp_path / "wh"), "seg", reads[0].ranges)
    assert result.read_again == {str(path)}
    manifest, _, _, _ = after_batch(tmp_path / "wh", Manifest(), reads, [result])
    path.write_bytes(saved)  # back, as it was (same size; its time is restored too)
    os.utime(path, ns=(reads[0].plan.mtime_ns, reads[0].plan.mtime_ns))
    (again,) = plan([str(path)], manifest)
    assert again.action == "replace"


@pytest.mark.flow
def test_a_cut_gzip_does_not_stop_the_ingest(prefect_server, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    whole = gzip.compress(b"\n".join(steps(2000)) + b"\n")
    (export / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (export / "good.jsonl").write_bytes(orjson.dumps(step(id="step_good")) + b"\n")
    kept = complete_lines(whole[: len(whole) // 2])
    summary = ingest(paths=[str(export)], warehouse_dir=str(tmp_path / "wh"))
    assert summary["balanced"] == 1
    assert summary["rejected"] == 1
    assert summary["tables"]["steps"] == kept + 1  # the good file went through
    again = ingest(paths=[str(export)], warehouse_dir=str(tmp_path / "wh"))
    assert again["no_op"] and again["rejected"] == 1  # a file that stays cut is not re-read
