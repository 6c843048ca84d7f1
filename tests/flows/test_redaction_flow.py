"""Redaction through the real flow (docs/redaction.md, "Redaction"): what the warehouse holds, what
the manifest records, what an incremental run may and may not do, and what the HTML
report embeds.

The per-field values are checked against the oracles in tests/transforms/test_redact.py;
here the flow's tables must equal the pure build over the redacted records, and no
content value of the inputs may be in any Parquet file the warehouse holds.
"""

from __future__ import annotations

import json
import shutil

import duckdb
import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from steplens.flows.errors import RedactionError
from steplens.flows.ingest import ingest
from steplens.flows.report import html as report_html
from steplens.flows.settings import ENV_REDACT_KEY
from steplens.transforms import schemas
from steplens.transforms.redact import Redaction, fingerprint, redact
from steplens.transforms.tables import build_tables
from tests.support.generate_responses import generate_mixed_export
from tests.support.paths import SAMPLE, SAMPLE_RESPONSES
from tests.test_against_oracle import product_tables
from tests.transforms.test_redact import content_strings

pytestmark = pytest.mark.flow
KEY = "flow test key"


def stored_strings(root) -> set[str]:
    """Every string and binary value of every Parquet file under `root`."""
    out = set()
    for path in root.rglob("*.parquet"):
        frame = pl.read_parquet(path)
        for col, dtype in frame.schema.items():
            if dtype in (pl.String, pl.Binary):
                out |= {v.decode(errors="replace") if isinstance(v, bytes) else v
                        for v in frame[col].drop_nulls()}
    return out


def manifest(wh) -> dict:
    return json.loads((wh / "current" / "manifest.json").read_text())


def test_hash_redaction_end_to_end(prefect_server, tmp_path, monkeypatch):
    src = tmp_path / "export"
    generate_mixed_export(src, responses=60, assistants_runs=20, seed=3)
    wh = tmp_path / "wh"
    monkeypatch.setenv(ENV_REDACT_KEY, KEY)
    summary = ingest(paths=[str(src)], warehouse_dir=str(wh), redact="hash")
    assert summary["balanced"] == 1
    record = manifest(wh)["redaction"]
    assert record == {"mode": "hash", "fields": sorted(schemas.CONTENT),
                      "key_fingerprint": fingerprint(KEY.encode())}

    # the flow's tables are the pure build over the redacted records
    batch, _ = product_tables([src])
    policy = Redaction("hash", tuple(sorted(schemas.CONTENT)), KEY.encode())
    expected = build_tables(redact(batch, policy))
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        for name, frame in expected.frames().items():
            got = con.sql(f"select * from {name}").pl().drop("cost_usd", strict=False)
            sort = {"rejects": ["source_file", "line_no"], "runs": ["run_id"],
                    "tool_calls": ["run_id", "step_id", "call_index"],
                    "steps": ["run_id", "step_id"], "usage": ["run_id", "step_id"]}.get(
                name, frame.columns)  # billing tables: every column
            assert_frame_equal(got.sort(sort), frame.sort(sort), check_dtypes=False)
        page = report_html.html(con)

    # nothing the inputs said is in any file of the warehouse, nor in the report
    secrets_ = content_strings(batch)
    assert len(secrets_) > 50
    assert not secrets_ & stored_strings(wh)
    assert not [s for s in secrets_ if s in page]

    # an incremental run cannot mix modes, nor keys
    more = tmp_path / "more"
    generate_mixed_export(more, responses=10, assistants_runs=0, seed=4)
    with pytest.raises(RedactionError, match="--full-refresh"):
        ingest(paths=[str(src), str(more)], warehouse_dir=str(wh), redact="content")
    with pytest.raises(RedactionError, match="--full-refresh"):
        ingest(paths=[str(src), str(more)], warehouse_dir=str(wh), redact="none")
    monkeypatch.setenv(ENV_REDACT_KEY, "another key")
    with pytest.raises(RedactionError, match=f"{ENV_REDACT_KEY}.*--full-refresh"):
        ingest(paths=[str(src), str(more)], warehouse_dir=str(wh))
    assert manifest(wh)["redaction"] == record  # refused before anything changed

    # without --redact the recorded redaction goes on
    monkeypatch.setenv(ENV_REDACT_KEY, KEY)
    ingest(paths=[str(src), str(more)], warehouse_dir=str(wh))
    assert manifest(wh)["redaction"] == record
    assert not content_strings(product_tables([more])[0]) & stored_strings(wh)

    # --full-refresh rebuilds everything under the new mode
    summary = ingest(paths=[str(src), str(more)], warehouse_dir=str(wh), redact="content",
                     redact_fields="tool_calls.function_arguments", full_refresh=True)
    assert summary["balanced"] == 1
    assert manifest(wh)["redaction"] == {"mode": "content",
                                         "fields": ["tool_calls.function_arguments"],
                                         "key_fingerprint": None}
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        args = con.sql("select count(*) filter (where function_arguments is not null), "
                       "count(function_arguments_chars), count(function_output) "
                       "from tool_calls").fetchall()[0]
    assert args[0] == 0 and args[1] > 0 and args[2] > 0


def test_html_report_embeds_no_content(mixed_warehouse, tmp_path):
    """The report of a clear warehouse (the shipped samples) shows no content value."""
    batch, _ = product_tables([SAMPLE, SAMPLE_RESPONSES])
    secrets_ = content_strings(batch, shortest=8, fragments=False)
    assert len(secrets_) > 10
    wh = tmp_path / "wh"
    shutil.copytree(mixed_warehouse, wh, symlinks=True)
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        page = report_html.html(con)
    leaked = [s for s in secrets_ if s in page or orjson.dumps(s).decode()[1:-1] in page]
    assert not leaked, leaked[:5]
