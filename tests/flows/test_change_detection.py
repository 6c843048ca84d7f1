"""Content-true change detection (issue 18, item 3): a file rewritten in place with the
same size and its modification time put back is read again, and the incremental
warehouse equals a clean ingest of the final input. The legacy sampled fingerprint
migrates without reading every file as rewritten."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import polars as pl
from polars.testing import assert_frame_equal

from steplens.flows.pipeline import run_direct
from steplens.flows.settings import Settings
from steplens.flows.store import snapshots
from steplens.flows.store.manifest import (
    FileEntry,
    Manifest,
    after_batch,
    content_hashes,
    file_reads,
    legacy_fingerprint,
    plan,
)
from tests.support.builders import T0, step

KEYS = {"runs": ["run_id"], "steps": ["step_id"], "usage": ["step_id"],
        "tool_calls": ["step_id", "call_index"]}


def tables(wh: Path) -> dict[str, pl.DataFrame]:
    snap = snapshots.current_snapshot(wh)
    return {t: pl.read_parquet(snap / t / "**" / "*.parquet").sort(k) for t, k in KEYS.items()}


def ingest(src: Path, wh: Path) -> dict:
    return run_direct([str(src)], Settings.from_env(warehouse=wh))


def lines(n: int, tokens) -> bytes:
    return b"".join(orjson.dumps(step(
        id=f"step_{i:06d}", created_at=T0 + i, completed_at=T0 + i + 3,
        usage={"prompt_tokens": 10000, "completion_tokens": 20000,
               "total_tokens": tokens(i)})) + b"\n" for i in range(n))


def test_same_size_rewrite_with_mtime_put_back_equals_a_clean_ingest(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    f = src / "steps.jsonl"
    n = 8000
    f.write_bytes(lines(n, lambda i: 30000))
    assert 2_500_000 < f.stat().st_size < 3_000_000  # about the 2.7 MB of the report
    wh = tmp_path / "wh"
    ingest(src, wh)
    before = f.stat()
    changed = set(range(n // 2 - 10, n // 2 + 10))  # 20 counts mid-file, same width
    f.write_bytes(lines(n, lambda i: 36165 if i in changed else 30000))
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = f.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    summary = ingest(src, wh)
    assert (summary["files_replaced"], summary["files_unchanged"]) == (1, 0)
    clean = tmp_path / "clean"
    ingest(src, clean)
    for name, frame in tables(clean).items():
        assert_frame_equal(tables(wh)[name], frame, check_row_order=False)
    # independent: the token sum of the final file, in plain Python
    total = sum(orjson.loads(x)["usage"]["total_tokens"] for x in f.read_bytes().splitlines())
    assert tables(wh)["usage"]["total_tokens"].sum() == total
    assert total - n * 30000 == 20 * 6165  # the 123,300 the sampled fingerprint missed


def test_a_grown_file_reads_only_its_tail_and_a_changed_prefix_is_read_whole(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_bytes(lines(50, lambda i: 7))
    prefix, whole = content_hashes(f, f.stat().st_size, f.stat().st_size)
    entry = FileEntry(str(f), "lines", f.stat().st_size, f.stat().st_mtime_ns,
                      f.stat().st_size, 50, prefix, content_hash=whole)
    manifest = Manifest({str(f): entry})
    assert plan([str(f)], manifest)[0].action == "unchanged"
    with f.open("ab") as out:
        out.write(lines(51, lambda i: 7)[-200:])  # some bytes appended
    grown = plan([str(f)], manifest)[0]
    assert (grown.action, grown.start) == ("append", entry.consumed_bytes)
    data = bytearray(f.read_bytes())
    data[10] ^= 1  # one bit inside the consumed prefix
    f.write_bytes(bytes(data))
    assert plan([str(f)], manifest)[0].action == "replace"


def test_a_legacy_manifest_entry_is_upgraded_once_not_read_again(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_bytes(lines(20, lambda i: 7))
    st = f.stat()
    legacy = FileEntry(str(f), "lines", st.st_size, st.st_mtime_ns, st.st_size, 20,
                       legacy_fingerprint(f, st.st_size))
    manifest = Manifest({str(f): legacy})
    (p,) = plan([str(f)], manifest)
    assert p.action == "unchanged" and p.upgrade is not None
    reads = file_reads([p], 1 << 20)
    assert [r.ranges for r in reads] == [[]]  # nothing is read
    upgraded, *_ = after_batch(tmp_path, manifest, reads, [])
    entry = upgraded.files[str(f)]
    assert not entry.legacy
    assert (entry.fingerprint, entry.content_hash) == content_hashes(f, st.st_size, st.st_size)
    (again,) = plan([str(f)], upgraded)
    assert again.action == "unchanged" and again.upgrade is None


def test_a_legacy_warehouse_upgrades_end_to_end_without_reading_again(tmp_path):
    """A warehouse whose manifest has the sampled fingerprints of before: the next
    ingest reads nothing, records the hashes (a new snapshot), and equals a clean run."""
    import hashlib
    import json

    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_bytes(lines(300, lambda i: 11))
    wh = tmp_path / "wh"
    ingest(src, wh)
    snap = snapshots.current_snapshot(wh)
    path = snap / snapshots.MANIFEST
    data = json.loads(path.read_text())
    for name, e in data["files"].items():  # as an older steplens wrote it
        e["fingerprint"] = legacy_fingerprint(name, e["consumed_bytes"])
        e.pop("content_hash")
    path.write_text(json.dumps(data))
    inventory = snap / "inventory.json"  # the manifest's size and hash, as written
    listed = json.loads(inventory.read_text())
    raw = path.read_bytes()
    listed["manifest"] = {"bytes": len(raw), "blake2b": hashlib.blake2b(
        raw, digest_size=16).hexdigest()}
    inventory.write_text(json.dumps(listed, sort_keys=True))
    # an older steplens had no `HEAD` and no second inventory copy: only `current`
    (wh / "HEAD").unlink()
    shutil.rmtree(wh / "inventories")
    summary = ingest(src, wh)
    assert (summary["files_unchanged"], summary["batch"]["lines_read"]) == (1, 0)
    after = Manifest.from_json(snapshots.read_json(snapshots.current_snapshot(wh),
                                                   snapshots.MANIFEST))
    assert not any(e.legacy for e in after.files.values())
    assert ingest(src, wh)["no_op"]
    clean = tmp_path / "clean"
    ingest(src, clean)
    for name, frame in tables(clean).items():
        assert_frame_equal(tables(wh)[name], frame, check_row_order=False)


def test_a_file_changed_between_plan_and_hash_is_read_again_next_time(tmp_path):
    """The hash is taken after the parse: a same-size rewrite in between, its mtime put
    back, changes the file's ctime, so the entry is marked to be read again."""
    f = tmp_path / "a.jsonl"
    f.write_bytes(lines(30, lambda i: 7))
    (p,) = plan([str(f)], Manifest())
    st = f.stat()
    f.write_bytes(lines(30, lambda i: 8))  # the parse has read the old content
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    manifest, *_ = after_batch(tmp_path, Manifest(), file_reads([p], 1 << 20), [])
    entry = manifest.files[str(f)]
    assert (entry.mtime_ns, entry.fingerprint, entry.content_hash) == (-1, "", None)
    assert plan([str(f)], manifest)[0].action == "replace"
