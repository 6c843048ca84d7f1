"""`field_coverage` (docs/fidelity.md) against an independent walk of the input files.

The walk here reads every file in plain Python (its own gzip, SSE and JSON-lines
reading, its own recursion), following the rules docs/fidelity.md states, and counts
every path of every record; the warehouse's `field_coverage` view must hold exactly those
rows, counts and dates. Mapping (`mapped_to`) is checked for the columns the decoders
fill, and for the sub-paths of values stored whole.
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from steplens.flows import pipeline
from steplens.flows.cli import app
from steplens.flows.settings import Settings
from steplens.flows.store import views
from tests.support.coverage_walk import walk_paths
from tests.support.generate import generate_export
from tests.support.generate_responses import generate_mixed_export
from tests.support.paths import REAL, REAL_RESPONSES

MAX_TS = 253402300799


def _text(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


_BAD = object()


def _load(text: bytes):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _BAD


def _values(path: Path):
    """(value, SSE event name or None) of every JSON value of a file."""
    data = _text(path).removeprefix(b"\xef\xbb\xbf")
    lines = data.split(b"\n")
    first = next((ln.strip() for ln in lines if ln.strip()), b"")
    if path.suffix == ".sse" or first.startswith((b"event:", b"data:", b":")):
        event, payload = None, []
        for raw in [*lines, b""]:
            raw = raw.rstrip(b"\r")
            if not raw.strip():
                text = b"\n".join(payload).strip()
                if text and text != b"[DONE]" and (value := _load(text)) is not _BAD:
                    yield value, event
                event, payload = None, []
            elif raw.startswith(b"event:"):
                event = raw[6:].strip().decode()
            elif raw.startswith(b"data:"):
                payload.append(raw[5:].removeprefix(b" "))
        return
    value = _load(data)  # a whole document (pretty-printed JSON)
    if value is not _BAD and len([ln for ln in lines if ln.strip()]) > 1:
        yield ({"object": "list", "data": value} if isinstance(value, list) else value, None)
        return
    for raw in lines:
        if raw.strip() and (value := _load(raw)) is not _BAD:
            yield value, None


def _records(value, event):
    if not isinstance(value, dict):
        return []
    if event is None and "event" in value and "object" not in value:
        return _records(value.get("data"), value["event"]) if isinstance(
            value.get("data"), dict) else []
    if event is None and value.get("object") in ("list", "page") and isinstance(
            value.get("data"), list):
        return [r for item in value["data"] for r in _records(item, None)]
    kind = next((v for v in (value.get("object"), value.get("type"), event)
                 if isinstance(v, str)), "request" if "input" in value else "unknown")
    return [(kind, value)]


def _api(kind: str) -> str:
    if kind.startswith("thread") or kind == "assistant":
        return "assistants"
    if kind in ("bucket", "page") or kind.startswith("organization."):
        return "billing"
    return "responses"


def _when(record: dict):
    for ts in (record.get("created_at"), (record.get("response") or {}).get("created_at")
               if isinstance(record.get("response"), dict) else None):
        if type(ts) in (int, float):
            if 0 <= ts <= MAX_TS:
                return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(ts * 1e6))
            return None
    return None


def walk(root: Path) -> dict[tuple[str, str, str], list]:
    """(api, object, path) -> [records, first_seen, last_seen] of every input file."""
    out: dict = defaultdict(lambda: [0, None, None])
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()
                                                 and p.suffix in (".jsonl", ".sse", ".json",
                                                                  ".ndjson", ".gz", ".txt"))
    for path in files:
        for value, event in _values(path):
            for kind, record in _records(value, event):
                found: set = set()
                walk_paths(record, "", found)
                when = _when(record)
                for p in found:
                    row = out[(_api(kind), kind, p)]
                    row[0] += 1
                    if when is not None:
                        row[1] = when if row[1] is None else min(row[1], when)
                        row[2] = when if row[2] is None else max(row[2], when)
    return dict(out)


def coverage_rows(wh: Path) -> dict[tuple[str, str, str], list]:
    with views.open_readonly(wh) as con:
        rows = con.sql("select api, object, path, records, first_seen, last_seen, mapped_to "
                       "from field_coverage").fetchall()
    return {(a, o, p): [n, f, last, m] for a, o, p, n, f, last, m in rows}


def ingest(paths: list[Path], wh: Path) -> None:
    summary = pipeline.run_direct([str(p) for p in paths], Settings(warehouse=wh))
    assert summary["balanced"]


def compare(got: dict, expected: dict) -> None:
    only_got = sorted(set(got) - set(expected))
    only_expected = sorted(set(expected) - set(got))
    assert not only_got and not only_expected, (only_got[:5], only_expected[:5])
    bad = {k: (got[k][:3], v) for k, v in expected.items() if got[k][:3] != v}
    assert not bad, list(bad.items())[:5]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    base = tmp_path_factory.mktemp("coverage")
    generate_export(base / "assistants", runs=30, seed=5)
    generate_mixed_export(base / "mixed", responses=60, seed=3, assistants_runs=0)
    return base


def test_generated_exports_of_both_apis(exports, tmp_path):
    ingest([exports], tmp_path / "wh")
    got, expected = coverage_rows(tmp_path / "wh"), walk(exports)
    compare(got, expected)
    apis = {k[0] for k in expected}
    assert {"assistants", "responses"} <= apis
    # the decoders' columns are mapped; message text is not held by any table
    assert got[("assistants", "thread.run", "usage.prompt_tokens")][3] == "runs.prompt_tokens"
    assert got[("assistants", "thread.run", "metadata")][3] == "runs.metadata"
    assert any(v[3] is None for v in got.values())


def test_real_recordings(tmp_path):
    """Every real recording under tests/data/ (both APIs)."""
    ingest([REAL, REAL_RESPONSES], tmp_path / "wh")
    expected = walk(REAL)
    for k, v in walk(REAL_RESPONSES).items():
        if k in expected:
            old = expected[k]
            firsts = [x for x in (old[1], v[1]) if x is not None]
            lasts = [x for x in (old[2], v[2]) if x is not None]
            expected[k] = [old[0] + v[0], min(firsts, default=None), max(lasts, default=None)]
        else:
            expected[k] = v
    compare(coverage_rows(tmp_path / "wh"), expected)


def test_a_field_added_later_shows_its_first_seen(tmp_path):
    """Runs of the second half of an export carry a new field: its `first_seen` is the
    first of those runs' `created_at`, its count theirs."""
    base = 1_700_000_000
    runs = [{"id": f"run_{i}", "object": "thread.run", "created_at": base + 3600 * i,
             "status": "completed", "thread_id": "t", "model": "gpt-4o"} for i in range(20)]
    for r in runs[10:]:
        r["prompt_cache_retention"] = "24h"
    src = tmp_path / "in"
    src.mkdir()
    (src / "runs.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in runs))
    ingest([src], tmp_path / "wh")
    got = coverage_rows(tmp_path / "wh")
    row = got[("assistants", "thread.run", "prompt_cache_retention")]
    assert row[0] == 10 and row[3] is None
    assert row[1] == dt.datetime(1970, 1, 1) + dt.timedelta(seconds=base + 3600 * 10)
    assert row[2] == dt.datetime(1970, 1, 1) + dt.timedelta(seconds=base + 3600 * 19)
    assert got[("assistants", "thread.run", "id")][0] == 20


def test_incremental_append_and_rewrite(tmp_path):
    """An appended file (its unterminated last line read again) and a rewritten one give
    the coverage of a clean ingest of the same files."""
    src = tmp_path / "in"
    src.mkdir()
    lines = [orjson.dumps({"id": f"run_{i}", "object": "thread.run", "created_at": 1_700_000_000
                           + i, "status": "queued", **({"extra": i} if i % 3 == 0 else {})})
             for i in range(12)]
    f = src / "runs.jsonl"
    f.write_bytes(b"\n".join(lines[:6]))  # the last line without its newline
    wh = tmp_path / "wh"
    ingest([src], wh)
    f.write_bytes(b"\n".join(lines) + b"\n")
    (src / "other.jsonl").write_bytes(lines[0] + b"\n")
    ingest([src], wh)
    (src / "other.jsonl").write_bytes(lines[1] + b"\n")  # rewritten
    ingest([src], wh)
    compare(coverage_rows(wh), walk(src))
    shutil.rmtree(tmp_path / "clean", ignore_errors=True)


def test_coverage_command_lists_unmapped_paths_most_frequent_first(exports, tmp_path):
    wh = tmp_path / "wh"
    ingest([exports / "assistants"], wh)
    result = CliRunner().invoke(app, ["coverage", "--warehouse", str(wh)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = {k: v for k, v in coverage_rows(wh).items() if v[3] is None}
    listed = [line for line in result.output.splitlines() if line.startswith(
        ("assistants ", "responses ", "billing "))]
    top = sorted(expected.items(), key=lambda kv: (-kv[1][0], kv[0]))
    assert listed and listed[0].split()[:3] == list(top[0][0])
    assert all(str(v[0]) in line for (k, v), line in zip(top, listed, strict=False))
