"""Whole-file fuzz of the input layer: gzip cut at random offsets, bytes flipped in gzip
and in plain files (docs/ingest.md, "Input").

Seeded. Each case damages one file of a small folder and reads every file as the flow
does (`parse_chunk` of its whole range): nothing raises, the undamaged files are read
whole, the damage is in `rejects` naming the damaged file and a line in it, and the
accounting of the batch balances. What must survive is computed independently: the
lines a flip did not touch, and (for gzip) what `zlib` gets out of the bytes.
"""

from __future__ import annotations

import gzip
import random
import zlib

import orjson
import pytest

from steplens.flows.io.inputs import parse_chunk
from steplens.flows.store.manifest import file_kind
from steplens.flows.store.records import Range
from steplens.transforms.parse import ParsedBatch
from steplens.transforms.tables import build_tables
from tests.support.builders import T0, step

N_LINES = 400
CASES = 12  # per kind of damage


def lines(prefix: str) -> list[bytes]:
    return [orjson.dumps(step(id=f"step_{prefix}_{i:04d}", created_at=T0 + i,
                              metadata={"n": str(i)})) for i in range(N_LINES)]


def ids(prefix: str, n: int = N_LINES) -> list[str]:
    return [f"step_{prefix}_{i:04d}" for i in range(n)]


def read(path) -> ParsedBatch:
    _, gz, sse, doc = file_kind(path)
    return parse_chunk(Range(str(path), 0, -1, 1, gz, sse, doc).chunk())


def folder(tmp_path) -> dict[str, bytes]:
    """Three good files: plain, gzip, plain; name -> original uncompressed bytes."""
    files = {"a.jsonl": lines("a"), "b.jsonl.gz": lines("b"), "c.jsonl": lines("c")}
    out = {}
    for name, body in files.items():
        data = b"\n".join(body) + b"\n"
        (tmp_path / name).write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz")
                                      else data)
        out[name] = data
    return out


def check_others(tmp_path, damaged: str) -> list[ParsedBatch]:
    """The undamaged files: read whole, no reject."""
    batches = []
    for name in ("a.jsonl", "b.jsonl.gz", "c.jsonl"):
        if name == damaged:
            continue
        batch = read(tmp_path / name)
        assert batch.step_records["step_id"].to_list() == ids(name[0]), name
        assert batch.rejects.height == 0, name
        batches.append(batch)
    return batches


def check_batch(batch: ParsedBatch, path, total_lines: int, others: list[ParsedBatch]) -> None:
    """Rejects name the damaged file and a line of it; the accounting balances."""
    for r in batch.rejects.iter_rows(named=True):
        assert r["source_file"] == str(path)
        assert 1 <= r["line_no"] <= total_lines + 1, r
        assert r["reason"]
    assert build_tables(ParsedBatch.concat([batch, *others])).accounting["balanced"] == 1


def readable(compressed: bytes) -> bytes:
    """What zlib gets out of `compressed`, a byte at a time, before it ends or breaks."""
    d = zlib.decompressobj(wbits=31)
    out = []
    for i in range(len(compressed)):
        try:
            out.append(d.decompress(compressed[i:i + 1]))
        except zlib.error:
            break
    return b"".join(out)


@pytest.mark.parametrize("seed", range(CASES))
def test_gzip_cut_at_a_random_offset(tmp_path, seed):
    original = folder(tmp_path)
    path = tmp_path / "b.jsonl.gz"
    whole = path.read_bytes()
    cut = whole[:random.Random(seed).randrange(1, len(whole))]
    path.write_bytes(cut)
    others = check_others(tmp_path, "b.jsonl.gz")
    batch = read(path)
    out = readable(cut)
    kept = out.count(b"\n")
    assert original["b.jsonl.gz"].startswith(out)
    assert batch.step_records["step_id"].to_list() == ids("b", kept)
    (reject,) = batch.rejects.iter_rows(named=True)  # the cut: one entry
    assert reject["line_no"] == kept + 1 and "gzip" in reject["reason"]
    check_batch(batch, path, N_LINES, others)


@pytest.mark.parametrize("seed", range(CASES))
def test_gzip_with_flipped_bytes(tmp_path, seed):
    original = folder(tmp_path)
    path = tmp_path / "b.jsonl.gz"
    data = bytearray(path.read_bytes())
    rng = random.Random(100 + seed)
    for _ in range(rng.randint(1, 4)):  # inside the deflate stream (after the header)
        data[rng.randrange(10, len(data))] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))
    others = check_others(tmp_path, "b.jsonl.gz")
    batch = read(path)
    out = readable(bytes(data))
    # the lines zlib gives back unchanged, from the start, are kept in order
    intact = 0
    for got, want in zip(out.split(b"\n")[:-1], original["b.jsonl.gz"].split(b"\n"),
                         strict=False):
        if got != want:
            break
        intact += 1
    assert batch.step_records["step_id"].to_list()[:intact] == ids("b", intact)
    if out != original["b.jsonl.gz"]:  # the damage is reported, never silently dropped
        assert batch.rejects.height >= 1
    check_batch(batch, path, N_LINES + out.count(b"\n"), others)


@pytest.mark.parametrize("seed", range(CASES))
def test_plain_file_with_flipped_bytes(tmp_path, seed):
    original = folder(tmp_path)
    path = tmp_path / "a.jsonl"
    data = bytearray(original["a.jsonl"])
    rng = random.Random(200 + seed)
    touched = set()
    for _ in range(rng.randint(1, 6)):
        while True:  # a flip that neither removes nor adds a newline keeps line numbers
            pos, mask = rng.randrange(len(data)), rng.randrange(1, 256)
            if data[pos] != 0x0A and data[pos] ^ mask != 0x0A:
                break
        data[pos] ^= mask
        touched.add(data[:pos].count(b"\n"))  # 0-based line index
    path.write_bytes(bytes(data))
    others = check_others(tmp_path, "a.jsonl")
    batch = read(path)
    got = set(batch.step_records["step_id"].to_list())
    untouched = {i for i in range(N_LINES)} - touched
    assert {ids("a")[i] for i in untouched} <= got  # every untouched line is kept
    assert set(batch.rejects["line_no"].to_list()) <= {i + 1 for i in touched}
    check_batch(batch, path, N_LINES, others)
