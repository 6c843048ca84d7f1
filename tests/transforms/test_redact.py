"""Redaction (transforms/redact.py) on every declared content field, both modes.

The expected values come from the plain-Python oracles over a seeded mixed export (both
APIs, streams, cut streams, bad lines), not from the product: a redacted field is NULL
(`content`) or HMAC-SHA256 of the oracle's value with a key made here (`hash`), its
length equals the length of the oracle's value, its JSON validity the oracle's; the
fields not asked for keep the oracle's values. Only values that the product rebuilt from
streamed fragments may be NULL in `hash` mode (a hash of pieces groups nothing; see the
module docstring), and only for ids whose input holds such fragments.
"""

from __future__ import annotations

import hashlib
import hmac

import orjson
import polars as pl
import pytest

from steplens.transforms import schemas
from steplens.transforms.parse import ParsedBatch
from steplens.transforms.redact import Redaction, redact
from steplens.transforms.tables import build_tables
from tests.support import responses_oracle as ro
from tests.support.generate_responses import generate_mixed_export
from tests.test_against_oracle import product_tables

KEY = b"test key: not the product's"
TOOL_FIELDS = {"tool_calls.function_arguments": "function_arguments",
               "tool_calls.function_output": "function_output",
               "tool_calls.code_input": "code_input"}


def mac(text: str) -> str:
    return hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()[:32]


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """(parsed batch, oracle result, ids whose input holds streamed fragments)."""
    src = tmp_path_factory.mktemp("redact") / "export"
    generate_mixed_export(src, responses=120, assistants_runs=40, seed=5)
    batch, _ = product_tables([src])
    expected = ro.compute([src])
    # ids whose input holds streamed fragments, as the oracle reads the files: step ids
    # with `thread.run.step.delta` events, response ids with `*.delta` stream events
    assistants, responses = ro.read_inputs([src])
    fragment_ids = set(assistants.deltas)
    fragment_ids |= {rid for rid, events in responses.events.items()
                     if any(str(ev.get("type", "")).endswith(".delta") for _, _, ev in events)}
    return batch, expected, fragment_ids


def oracle_calls(expected) -> dict[tuple, dict]:
    rows = list(expected.tool_calls) + list(expected.assistants.tool_calls)
    return {(r["api"], r["run_id"], r["step_id"], r["call_index"]): r for r in rows}


def product_calls(tables) -> dict[tuple, dict]:
    return {(r["api"], r["run_id"], r["step_id"], r["call_index"]): r
            for r in tables.tool_calls.iter_rows(named=True)}


def from_fragments(row: dict, fragment_ids: set[str]) -> bool:
    return row["step_id"] in fragment_ids or (row["api"] == "responses"
                                              and row["run_id"] in fragment_ids)


def redacted_metadata(text: str | None, mode: str) -> dict | None:
    if text is None:
        return None
    value = orjson.loads(text)
    return {k: None if v is None or mode == "content" else mac(
        v if isinstance(v, str) else orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode())
        for k, v in value.items()}


@pytest.mark.parametrize("mode", ["content", "hash"])
@pytest.mark.parametrize("field", sorted(schemas.CONTENT))
def test_each_content_field(export, field, mode):
    batch, expected, fragment_ids = export
    policy = Redaction(mode, (field,), KEY if mode == "hash" else None)
    tables = build_tables(redact(batch, policy))
    want, got = oracle_calls(expected), product_calls(tables)
    assert want.keys() == got.keys()
    checked = 0
    for k, exp in want.items():
        row = got[k]
        for name, col in TOOL_FIELDS.items():
            value = exp[col]
            assert row[f"{col}_chars"] == (None if value is None else len(value)), (k, col)
            if name != field or value is None:
                if name != field:
                    assert row[col] == value, (k, col)
                continue
            checked += 1
            if mode == "content":
                assert row[col] is None, (k, col)
            elif row[col] is None:  # only a value rebuilt from fragments
                assert from_fragments(exp, fragment_ids), (k, col)
            else:
                assert row[col] == mac(value), (k, col)
        valid = row["arguments_valid_json"]
        assert valid == exp["arguments_valid_json"] or (
            valid is None and field == "tool_calls.function_arguments"
            and from_fragments(exp, fragment_ids)), k
        assert row["code_log_chars"] == exp["code_log_chars"], k
    if field in TOOL_FIELDS:
        assert checked > 20, f"too few {field} values in the export to test"

    for table, key in (("runs", "run_id"), ("steps", "step_id")):
        rows = list(getattr(expected, table)) + list(getattr(expected.assistants, table))
        exp_rows = {(r["api"], r[key]): r for r in rows}
        got_rows = {(r["api"], r[key]): r for r in getattr(tables, table).iter_rows(named=True)}
        assert exp_rows.keys() == got_rows.keys()
        present = 0
        for k, exp in exp_rows.items():
            if field == f"{table}.metadata":
                got_meta = got_rows[k]["metadata"]
                assert (None if got_meta is None else orjson.loads(got_meta)) == \
                    redacted_metadata(exp["metadata"], mode), k
                present += exp["metadata"] not in (None, "{}")
            else:
                assert got_rows[k]["metadata"] == exp["metadata"], k
        if field == f"{table}.metadata":
            assert present > 5, "too few metadata values in the export to test"

    rejects = sorted(list(expected.rejects) + list(expected.assistants.rejects),
                     key=lambda r: (r["source_file"], r["line_no"]))
    got_rejects = tables.rejects.sort("source_file", "line_no").iter_rows(named=True)
    for exp, row in zip(rejects, got_rejects, strict=True):
        if field != "rejects.raw" or exp["raw"] is None:
            assert row["raw"] == exp["raw"]
        else:
            assert row["raw"] == (None if mode == "content" else mac(exp["raw"]))


def content_strings(batch: ParsedBatch, shortest: int = 12, fragments: bool = True
                    ) -> set[str]:
    """Every content value of the clear records long enough not to occur by chance
    (streamed pieces too with `fragments`: a piece such as `https://` is short text)."""
    out = set()
    for cols in schemas.CONTENT.values():
        for c in cols:
            if c.kind == "fragment" and not fragments:
                continue
            series = getattr(batch, c.frame)[c.column].drop_nulls()
            for v in series:
                text = v.decode(errors="replace") if isinstance(v, bytes) else v
                if c.kind == "json_values":
                    out |= {x for x in orjson.loads(text).values()
                            if isinstance(x, str) and len(x) >= shortest}
                elif len(text) >= shortest:
                    out.add(text)
    return out


@pytest.mark.parametrize("mode", ["content", "hash"])
def test_no_content_left_in_any_record_frame(export, mode):
    """With every field redacted, no content value of the export is in any stored
    column: what `write_segment` writes holds none."""
    batch, _, _ = export
    secrets_ = content_strings(batch)
    assert len(secrets_) > 100
    red = redact(batch, Redaction(mode, tuple(schemas.CONTENT), KEY))
    for name in ParsedBatch.FRAMES:
        frame = getattr(red, name)
        assert frame.schema == schemas.STORED_FRAMES[name]
        for col, dtype in frame.schema.items():
            if dtype not in (pl.String, pl.Binary):
                continue
            for v in frame[col].drop_nulls():
                text = v.decode(errors="replace") if isinstance(v, bytes) else v
                assert text not in secrets_, (name, col, text[:80])
                if len(text) >= 40:  # a fragment of a long value is also content
                    assert not any(s in text for s in secrets_ if len(s) >= 40), (name, col)


def test_equal_values_group_under_hash(export):
    """Calls with equal arguments get equal hashes, different ones different hashes."""
    batch, _, _ = export
    clear = build_tables(batch).tool_calls
    red = build_tables(redact(batch, Redaction("hash", tuple(schemas.CONTENT), KEY))).tool_calls
    pairs = (clear.select("step_id", "call_index", clear_args="function_arguments")
             .join(red.select("step_id", "call_index", "function_arguments"),
                   on=["step_id", "call_index"])
             .drop_nulls())
    assert pairs["clear_args"].n_unique() == pairs["function_arguments"].n_unique() > 10
    groups = pairs.group_by("clear_args").agg(pl.col("function_arguments").n_unique())
    assert groups["function_arguments"].max() == 1


def test_nothing_redacted_is_the_identity(export):
    batch, _, _ = export
    assert redact(batch, Redaction()) is batch
    assert redact(batch, Redaction("hash", (), KEY)) is batch
