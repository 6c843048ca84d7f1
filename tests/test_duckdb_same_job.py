"""The benchmark's same-job DuckDB script (benchmarks/duckdb_same_job.py) against steplens.

Issue 23 compares steplens' speed with a plain DuckDB script "doing the same job"; that
comparison is only honest if the script's tables are steplens' tables. Here both read the
same small generated exports (no timing): `steplens ingest --orchestration direct` into a
warehouse, the script into Parquet files, and every table (`runs`, `steps`, `tool_calls`,
`usage`, `rejects`) must hold the same rows, compared column by column after sorting by
the table's key, except the columns listed in the script's `DIFFERENCES` (each compared
as far as it can be: `rejects.reason` by its prefix).
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from steplens.transforms import schemas
from tests.support.generate import generate_export

REPO = Path(__file__).resolve().parent.parent
KEYS = {
    "runs": ("run_id",),
    "steps": ("step_id",),
    "tool_calls": ("step_id", "call_index"),
    "usage": ("step_id",),
    "rejects": ("source_file", "line_no", "raw"),
}


def _script():
    spec = importlib.util.spec_from_file_location("duckdb_same_job",
                                                  REPO / "benchmarks" / "duckdb_same_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LATER_COLUMNS = {*schemas.ROW_PROVENANCE, *schemas.RESPONSE_EXTRAS, "phase"}  # steps.phase


def _rows(con: duckdb.DuckDBPyConnection, source: str, table: str) -> tuple[list, list]:
    """(column names, rows sorted by the table's key) of a Parquet source."""
    rel = con.sql(f"select * from read_parquet({source}, hive_partitioning = false, "
                  "union_by_name = true)")
    cols = [c for c in rel.columns]
    order = ", ".join(KEYS[table])
    return cols, rel.order(order).fetchall()


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return a == b


def _reason_prefix(reason: str) -> str:
    """What the script can say of a reject: the whole reason, but for invalid JSON only
    which kind (orjson's message after the colon is not DuckDB's to give)."""
    for prefix in ("invalid JSON in SSE data", "invalid JSON"):
        if reason.startswith(prefix):
            return prefix
    return reason


def compare(export: Path, work: Path, script=None) -> dict[str, list[str]]:
    """Run both on `export` (the script: the module `script`, default the file as it is);
    per table, the differences found (empty lists when equal)."""
    warehouse = work / "warehouse"
    subprocess.run([sys.executable, "-m", "steplens.flows.cli", "ingest", str(export), "-w",
                    str(warehouse), "--orchestration", "direct"], check=True,
                   capture_output=True, cwd=REPO)
    out = work / "same_job"
    script = script or _script()
    files = sorted(str(p.resolve()) for p in export.rglob("*")
                   if p.is_file() and p.name.lower().endswith(script.SUFFIXES))
    script.run(files, str(out), threads=2)
    con = duckdb.connect()
    problems: dict[str, list[str]] = {}
    for table in KEYS:
        ours = str(warehouse / "current" / table / "**" / "*.parquet")
        cols_s, rows_s = _rows(con, f"'{ours}'", table)
        cols_d, rows_d = _rows(con, f"'{out / (table + '.parquet')}'", table)
        found: list[str] = []
        # Columns added after the script was written (issue 21: the row's input line, the
        # billed-usage and serving fields, steps.phase): the script leaves them out, nothing
        # else.
        later = [c for c in cols_s if c in LATER_COLUMNS]
        if later and [c for c in cols_s if c not in LATER_COLUMNS] == cols_d:
            keep = [i for i, c in enumerate(cols_s) if c not in LATER_COLUMNS]
            cols_s = [cols_s[i] for i in keep]
            rows_s = [tuple(r[i] for i in keep) for r in rows_s]
        if cols_s != cols_d:
            found.append(f"columns: steplens {cols_s} vs script {cols_d}")
        elif len(rows_s) != len(rows_d):
            at = [cols_s.index(c) for c in KEYS[table]]
            keys_s = {tuple(r[k] for k in at) for r in rows_s}
            keys_d = {tuple(r[k] for k in at) for r in rows_d}
            found.append(f"{len(rows_s)} rows vs {len(rows_d)}: only steplens "
                         f"{sorted(keys_s - keys_d)[:5]}, only script "
                         f"{sorted(keys_d - keys_s)[:5]}")
        else:
            for k, col in enumerate(cols_s):
                bad = []
                for rs, rd in zip(rows_s, rows_d, strict=True):
                    a, b = rs[k], rd[k]
                    if table == "rejects" and col == "reason":
                        a, b = _reason_prefix(a), _reason_prefix(b)
                    if not _same(a, b):
                        bad.append((rs[cols_s.index(KEYS[table][0])], a, b))
                if bad:
                    found.append(f"{col}: {len(bad)} rows differ, e.g. {bad[:3]}")
        problems[table] = found
    return problems


@pytest.mark.parametrize("seed,runs", [(1, 60), (3, 80)])
def test_same_tables_as_steplens(tmp_path: Path, seed: int, runs: int) -> None:
    """Every row and column of the five tables equal, but the listed differences."""
    export = tmp_path / "export"
    generate_export(export, runs=runs, seed=seed)
    problems = compare(export, tmp_path)
    assert all(not v for v in problems.values()), problems


def test_the_comparison_can_fail(tmp_path: Path) -> None:
    """A script that rejects timestamps from mid-2024 on gives differences: the harness
    compares what it says it compares."""
    export = tmp_path / "export"
    generate_export(export, runs=20, seed=2)
    script = _script()
    script.MAX_TS = 1_720_000_000
    problems = compare(export, tmp_path, script)
    assert problems["rejects"] and problems["steps"] and problems["runs"]


def test_json_that_duckdb_reads_more_leniently(tmp_path: Path) -> None:
    """Trailing commas and NaN/Infinity, which DuckDB's json_valid takes and JSON does
    not, are rejects in both; the same characters inside strings are not."""
    export = tmp_path / "export"
    export.mkdir()
    step = ('{"id": "step_%d", "object": "thread.run.step", "status": "completed", '
            '"created_at": 1718000000, "completed_at": 1718000005, "run_id": "run_1", '
            '"metadata": {"note": %s}%s}')
    lines = [
        step % (1, '"a,}"', ""),            # ",}" inside a string: valid
        step % (2, '"x: nan, inf"', ""),    # NaN-like words inside a string: valid
        step % (3, '"b"', ","),             # trailing comma: invalid
        step % (4, "NaN", ""),              # NaN: invalid
        step % (5, "-Infinity", ""),        # -Infinity: invalid
        step % (6, '"q\\",}"', ""),         # an escaped quote, then ",}" in the string
        '{"object": "list", "data": [1, 2,]}',
        "\x0c" + step % (8, '"padded"', "") + "  ",  # whitespace Python strips, JSON not
        "  " + (step % (9, '"t"', "")).replace("1718000000", '"1718000000"') + " ",  # a reject
    ]
    (export / "edge.jsonl").write_text("\n".join(lines) + "\n")
    # a UTF-8 byte-order mark before the first line is ignored
    (export / "bom.jsonl").write_text("\ufeff" + step % (7, '"bom"', "") + "\n")
    problems = compare(export, tmp_path)
    assert all(not v for v in problems.values()), problems
