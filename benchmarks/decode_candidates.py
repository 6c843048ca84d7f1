"""The measurements behind the choice of the native decoder (benchmarks/README.md).

Each candidate decodes the JSON-lines files of a benchmark export in ONE thread (one
core: the ingest runs one parse process per core), and the bytes of every line are
counted for MB/s, so the figures compare per core:

- orjson: `orjson.loads` of every line (the floor of the old parser, which then walked
  the dicts in Python);
- careful: steplens's careful path (`parse_lines(careful=True)`: orjson + the rulebook);
- msgspec: every line decoded into the `transforms.assistants.fast.Record` struct (types
  checked), envelopes' `data` decoded again; and the whole fast path (`parse_block`:
  batch checks, decode, rows, frames);
- DuckDB: the lines as one VARCHAR column (from Arrow), `json_valid`, then the step
  lines through `json_transform` with JSON leaves and `json_type` checks on them
  (the exact way: see the probes), threads=1;
- Polars: `str.json_decode` of the step lines with a typed struct.

Then the probes: lines where a reader's verdict or value differs from orjson's, the
careful path's definition of valid JSON.

    /work/venv/bin/python benchmarks/decode_candidates.py --data /tmp/export-300
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

MiB = 1024 * 1024

# the checked fields of a step, as JSON leaves (then json_type on each) for DuckDB
STEP_JSON = json.dumps({
    "id": "JSON", "object": "JSON", "run_id": "JSON", "thread_id": "JSON",
    "assistant_id": "JSON", "type": "JSON", "status": "JSON", "created_at": "JSON",
    "completed_at": "JSON", "failed_at": "JSON", "cancelled_at": "JSON", "expired_at": "JSON",
    "expires_at": "JSON", "started_at": "JSON", "last_error": "JSON", "usage": "JSON",
    "metadata": "JSON",
    "step_details": {"type": "JSON", "message_creation": "JSON", "tool_calls": "JSON"},
})
STEP_CHECKS = " and ".join(
    f"coalesce(json_type(s.{f}), 'NULL') in ({kinds})" for f, kinds in [
        ("id", "'VARCHAR'"), ("run_id", "'VARCHAR','NULL'"), ("thread_id", "'VARCHAR','NULL'"),
        ("assistant_id", "'VARCHAR','NULL'"), ("type", "'VARCHAR','NULL'"),
        ("status", "'VARCHAR','NULL'"), ("created_at", "'UBIGINT','BIGINT','NULL'"),
        ("completed_at", "'UBIGINT','BIGINT','NULL'"), ("failed_at", "'UBIGINT','BIGINT','NULL'"),
        ("cancelled_at", "'UBIGINT','BIGINT','NULL'"), ("expired_at", "'UBIGINT','BIGINT','NULL'"),
        ("last_error", "'OBJECT','NULL'"), ("usage", "'OBJECT','NULL'"),
        ("metadata", "'OBJECT','NULL'")])

PROBES = [
    ("duplicate key, last is a string", b'{"a":1,"a":"x"}'),
    ("NaN", b'{"a":NaN}'),
    ("Infinity", b'{"a":-Infinity}'),
    ("trailing comma", b'{"a":[1,],}'),
    ("infinite number", b'{"a":1e400}'),
    ("1200 levels deep", b'{"a":' + b"[" * 1200 + b"]" * 1200 + b"}"),
    ("float for an integer field", b'{"a":1.5}'),
    ("string for an integer field", b'{"a":"7"}'),
]


def lines_of(data: Path) -> list[bytes]:
    """The valid JSON lines of the plain `.jsonl`/`.ndjson` files (bad lines left out)."""
    import orjson

    out: list[bytes] = []
    for path in sorted(data.rglob("*")):
        if path.is_file() and path.suffix in (".jsonl", ".ndjson"):
            for line in path.read_bytes().split(b"\n")[:-1]:
                with contextlib.suppress(orjson.JSONDecodeError):
                    orjson.loads(line)
                    out.append(line)
    return out


def _typed(line: bytes) -> bool:
    """Well typed (Polars fails a whole batch on one wrong type: left out for it)."""
    import msgspec

    from steplens.transforms.assistants import fast as decode

    try:
        decode._RECORD(line)
    except msgspec.DecodeError:
        return False
    return True


def timed(fn) -> float:
    gc.collect()
    gc.disable()
    try:
        best = float("inf")
        for _ in range(2):
            t = time.process_time()
            fn()
            best = min(best, time.process_time() - t)
        return best
    finally:
        gc.enable()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args(argv)

    import duckdb
    import msgspec
    import orjson
    import polars as pl
    import pyarrow as pa

    from steplens.transforms.assistants import fast as decode
    from steplens.transforms.parse import parse_block, parse_lines

    lines = lines_of(args.data)
    total = sum(len(x) + 1 for x in lines)
    steps = [x for x in lines if b'"object":"thread.run.step"' in x and _typed(x)]
    step_bytes = sum(len(x) + 1 for x in steps)
    print(f"{len(lines):,} lines, {total / MiB:.1f} MiB of JSON lines; "
          f"{len(steps):,} bare step lines ({step_bytes / MiB:.1f} MiB); one thread each\n")
    rows = []

    def record(name: str, seconds: float, nbytes: int = total) -> None:
        rows.append((name, seconds, nbytes / MiB / seconds))

    record("orjson.loads, every line", timed(lambda: [orjson.loads(x) for x in lines]))

    def msgspec_all() -> None:
        for x in lines:
            with contextlib.suppress(msgspec.DecodeError):  # wrong types: careful path
                o = decode._RECORD(x)
                if o.event is not decode._UNSET and o.data is not decode._UNSET:
                    with contextlib.suppress(msgspec.DecodeError):  # data not an object
                        decode._RECORD(o.data)
    record("msgspec Record struct, every line (+ envelope data)", timed(msgspec_all))
    numbered = list(enumerate(lines, 1))
    record("steplens careful path (orjson + the rulebook, rows, frames)",
           timed(lambda: parse_lines("f", numbered, careful=True)))
    blob = b"\n".join(lines) + b"\n"
    record("steplens fast path (batch checks, msgspec, rows, frames)",
           timed(lambda: parse_block("f", 1, blob)))

    con = duckdb.connect(config={"threads": 1})
    table = pa.table({"line": pa.array([x.decode("utf-8", "replace") for x in lines])})
    con.register("t", table)
    record("DuckDB json_valid, every line",
           timed(lambda: con.sql("select count(*) from t where json_valid(line)").fetchall()))
    sql = (f"select count(*) from (select json_transform(line, '{STEP_JSON}') s from t "
           "where json_valid(line) and line like '%\"thread.run.step\"%') "
           f"where {STEP_CHECKS}")
    record("DuckDB json_transform (JSON leaves) + json_type checks, step lines",
           timed(lambda: con.sql(sql).fetchall()), total)
    dtype = pl.Struct({"id": pl.String, "run_id": pl.String, "status": pl.String,
                       "created_at": pl.Int64, "completed_at": pl.Int64,
                       "usage": pl.Struct({"prompt_tokens": pl.Int64,
                                           "total_tokens": pl.Int64}),
                       "step_details": pl.Struct({"type": pl.String, "tool_calls": pl.List(
                           pl.Struct({"id": pl.String, "type": pl.String}))})})
    series = pl.Series([x.decode() for x in steps])
    record("Polars str.json_decode (typed struct), step lines only",
           timed(lambda: series.str.json_decode(dtype)), step_bytes)

    print(f"{'candidate':70} {'CPU s':>6} {'MB/s':>7}")
    for name, seconds, rate in rows:
        print(f"{name:70} {seconds:6.2f} {rate:7.0f}")

    print("\nverdicts on lines orjson judges (int field `a` for msgspec):")

    class A(msgspec.Struct):
        a: int | None = None

    for name, line in PROBES:
        try:
            orjson.loads(line)
            o = "valid"
        except orjson.JSONDecodeError:
            o = "invalid"
        try:
            m = f"a={msgspec.json.decode(line, type=A).a!r}"
        except (msgspec.DecodeError, RecursionError) as e:
            m = f"refused ({type(e).__name__})"
        try:
            d = con.execute("select json_valid(?), json_extract(?, '$.a')::varchar",
                            [line.decode(), line.decode()]).fetchone()
            d = f"valid={d[0]} a={d[1]}"
        except duckdb.Error as e:
            d = f"error {str(e)[:30]}"
        print(f"  {name:32} orjson {o:8} | msgspec {m[:28]:28} | DuckDB {d[:40]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
