"""The product checked against the Responses oracle (tests/support/responses_oracle.py).

The oracle is an independent plain-Python reading of the Responses contract (R1-R18 of its
docstring, docs/responses.md, "Responses API and Conversations"), which hands the Assistants side of
a mixed folder to the Assistants oracle. The same inputs go through the product's pure
transforms (each file read as the flow reads it) and, once, through the Prefect flow and
DuckDB: every row of both APIs, the rejects (reasons word for word on the Responses
side), the skipped shapes and the accounting over both APIs must agree.

Inputs: every recorded real Responses payload (tests/data/real-responses, one directory
at a time and all at once), seeded mixed exports of `generate_responses` (both APIs,
duplicates, background polls, cut streams, SSE twins, bad lines), the same exports with
files and lines presented in another order, and incremental ingests that must end where
a clean ingest of the final input ends.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from steplens.transforms.schemas import ROW_PROVENANCE
from tests.support import oracle, versions_oracle
from tests.support import responses_oracle as ro
from tests.support.generate_responses import generate_mixed_export
from tests.support.paths import REAL_RESPONSES, real_responses_dirs
from tests.test_against_oracle import (
    ACCOUNTING,
    METRIC_KEYS,
    TABLE_KEYS,
    _pair,
    compare_rows,
    product_tables,
    reject_rows,
)

RESPONSE_KEYS = {"runs": ("run_id",), "steps": ("run_id", "step_id"),
                 "tool_calls": ("run_id", "step_id"), "usage": ("run_id", "step_id")}
SEEDS = [(1, 120, 20), (2, 90, 0), (3, 150, 30), (7, 100, 10)]


def split(rows: list[dict], api: str) -> list[dict]:
    return [r for r in rows if r["api"] == api]


def compare_both(tables: dict[str, list[dict]], expected: ro.Result,
                 extra_columns_ok: bool = False) -> None:
    """Every table of both APIs, and the rejects, against the oracle."""
    for name, key in RESPONSE_KEYS.items():
        compare_rows(name, split(tables[name], "responses"), getattr(expected, name), key,
                     extra_columns_ok)
        compare_rows(name, split(tables[name], "assistants"),
                     getattr(expected.assistants, name), TABLE_KEYS[name], extra_columns_ok)
    # Responses rejects word for word; the Assistants ones as the Assistants tests compare
    responses_rejects = {(r["source_file"], r["line_no"]) for r in expected.rejects}
    got = [r for r in tables["rejects"] if (r["source_file"], r["line_no"])
           not in responses_rejects]
    compare_rows("rejects", [r for r in tables["rejects"] if (r["source_file"], r["line_no"])
                             in responses_rejects], expected.rejects, TABLE_KEYS["rejects"])
    compare_rows("rejects", reject_rows(got), reject_rows(expected.assistants.rejects),
                 TABLE_KEYS["rejects"])


def skipped_both(expected: ro.Result) -> dict[str, int]:
    return dict(sorted((Counter(expected.skipped_by_shape)
                        + Counter(expected.assistants.skipped_by_shape)).items()))


def with_configs(expected: ro.Result, paths) -> ro.Result:
    """The oracle's runs of both APIs with their configuration columns (versions_oracle)."""
    configs = versions_oracle.run_configs(paths)
    expected.runs = versions_oracle.with_configs(expected.runs, configs)
    expected.assistants.runs = versions_oracle.with_configs(expected.assistants.runs, configs)
    return expected


def compare_to_oracle(paths, shuffle_seed: int | None = None) -> tuple[ro.Result, object]:
    expected = with_configs(ro.compute(paths), paths)
    batch, tables = product_tables(paths, shuffle_seed)
    compare_both({n: getattr(tables, n).to_dicts() for n in (*RESPONSE_KEYS, "rejects")},
                 expected)
    counts = {k: tables.accounting[k] for k in ACCOUNTING}
    assert counts == expected.total_counts, _pair(counts, expected.total_counts)
    assert tables.accounting["balanced"] == 1
    assert tables.accounting["lines_read"] == expected.lines_read
    assert batch.skipped_by_shape() == skipped_both(expected), _pair(
        batch.skipped_by_shape(), skipped_both(expected))
    return expected, tables


# --------------------------------------------------------------------------- real recordings


@pytest.mark.parametrize("directory", real_responses_dirs(), ids=lambda p: p.name)
def test_every_real_recording_matches_the_oracle(directory):
    expected, tables = compare_to_oracle([directory])
    assert expected.rejects == [] and tables.rejects.height == 0  # 0 rejects (issue 12)
    assert tables.runs.height == len(expected.runs) > 0 or expected.skipped_by_shape


def test_all_real_recordings_at_once_match_the_oracle():
    expected, tables = compare_to_oracle([REAL_RESPONSES])
    assert tables.rejects.height == 0
    s = ro.summary(expected)
    # the comparison is not vacuous: the counts are all there
    assert s["responses"] > 80 and len(s["items_per_type"]) >= 10
    assert {"function", "web_search", "mcp", "file_search", "code_interpreter",
            "computer"} <= set(s["tool_calls_per_type"])
    assert s["tokens"]["cached_tokens"] and s["tokens"]["reasoning_tokens"]
    runs = tables.runs.filter(pl.col("api") == "responses")
    assert dict(Counter(runs["status"].to_list())) == dict(s["responses_per_status"])


# --------------------------------------------------------------------------- generated


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> dict[int, tuple[Path, dict]]:
    out = {}
    for seed, responses, assistants in SEEDS:
        path = tmp_path_factory.mktemp(f"mixed{seed}").resolve() / "export"
        out[seed] = (path, generate_mixed_export(path, responses=responses, seed=seed,
                                                 assistants_runs=assistants))
    return out


@pytest.mark.parametrize("seed", [s for s, _, _ in SEEDS])
def test_generated_mixed_export_matches_the_oracle(mixed, seed):
    path, made = mixed[seed]
    expected, tables = compare_to_oracle([path])
    truth = made["truth"]
    # and both agree with what the simulation itself recorded
    assert {r["run_id"]: r["status"] for r in expected.runs} == truth["status"]
    rejects = [r for r in expected.rejects + expected.assistants.rejects
               if Path(r["source_file"]).parent.name == "responses"]
    assert sorted((Path(r["source_file"]).name, r["line_no"], r["reason"])
                  for r in rejects) == sorted(truth["rejects"])
    # not vacuous: cut streams, polls, outputs from later requests, both APIs, bad lines
    assert made["cut_streams"] and made["polls"] and made["twin_streams"] + made[
        "sse_streams"]
    assert "in_progress" in truth["status"].values()
    assert any(c["function_output"] is not None for c in expected.tool_calls)
    assert expected.rejects and tables.accounting["superseded"] > 0
    if made["assistants"]:
        assert split(tables.runs.to_dicts(), "assistants")


def _streams(lines: list[bytes]) -> list[list[bytes]]:
    """The whole streams of a JSON-lines stream file, each from its `response.created`."""
    out: list[list[bytes]] = []
    for line in lines:
        if not out or orjson.loads(line).get("type") == "response.created":
            out.append([])
        out[-1].append(line)
    return out


def _sse_streams(text: bytes) -> list[bytes]:
    blocks = [b for b in text.split(b"\n\n") if b.strip()]
    out: list[list[bytes]] = []
    for block in blocks:
        if not out or block.startswith(b"event: response.created\n"):
            out.append([])
        out[-1].append(block)
    return [b"".join(x + b"\n\n" for x in s) for s in out]


def reorder(src: Path, dst: Path, seed: int) -> None:
    """The same export with lines shuffled in every file that holds no stream, whole
    streams shuffled in those that do (a stream's own order is its meaning), and the
    files renamed so that they sort in another order."""
    rng = random.Random(seed)
    for path in sorted(src.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(src)
        out = dst / rel.parent / f"{rng.randint(0, 99):02d}-{rel.name}"
        out.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        if path.suffix == ".sse":
            streams = _sse_streams(data)
            rng.shuffle(streams)
            out.write_bytes(b"".join(streams))
        elif path.name == "streams.jsonl":
            streams = _streams(data.splitlines())
            rng.shuffle(streams)
            out.write_bytes(b"".join(x + b"\n" for s in streams for x in s))
        elif path.name in ("responses.jsonl", "requests.jsonl", "items.jsonl"):
            lines = data.splitlines()
            rng.shuffle(lines)
            out.write_bytes(b"".join(x + b"\n" for x in lines))
        else:
            out.write_bytes(data)


def _content(tables, name: str) -> pl.DataFrame:
    """A table's content without its provenance (lines move when the input is reordered)."""
    frame = getattr(tables, name).drop(ROW_PROVENANCE, strict=False)
    return frame.sort(frame.columns, nulls_last=True)


@pytest.mark.parametrize("seed", [1, 3])
def test_order_of_files_lines_and_streams_does_not_matter(mixed, tmp_path, seed):
    path, _ = mixed[seed]
    other = tmp_path / "reordered"
    reorder(path, other, seed)
    _, original = product_tables([path])
    _, shuffled = product_tables([other], shuffle_seed=seed)
    for name in ("runs", "steps", "tool_calls", "usage"):
        assert_frame_equal(_content(shuffled, name), _content(original, name))
    for key in ACCOUNTING:
        assert shuffled.accounting[key] == original.accounting[key], key
    compare_to_oracle([other], shuffle_seed=seed + 1)  # and the oracle agrees there too


# --------------------------------------------------------------------------- the flow


def view_rows(con, name: str) -> list[dict]:
    rel = con.sql(f"select * from {name}")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


@pytest.mark.flow
def test_flow_ingests_both_apis_into_one_warehouse(prefect_server, mixed, tmp_path):
    """One Prefect ingest of a mixed export and every real Responses recording, then a
    second batch (new files, a file rewritten): the DuckDB views equal the oracle over
    the final input, and the accounting over both APIs balances."""
    import duckdb

    from steplens.flows.ingest import ingest

    src = tmp_path.resolve() / "export"
    shutil.copytree(mixed[1][0], src)
    shutil.copytree(REAL_RESPONSES, src / "real-responses")
    wh = tmp_path.resolve() / "wh"
    first = ingest(paths=[str(src)], warehouse_dir=str(wh))
    assert first["balanced"] == 1

    # the second batch: another export's Responses files, and a poll file rewritten
    shutil.copytree(mixed[3][0] / "responses", src / "later")
    polls = src / "responses" / "responses.jsonl"
    polls.write_bytes(b"".join(x + b"\n" for x in reversed(polls.read_bytes().splitlines())))
    summary = ingest(paths=[str(src)], warehouse_dir=str(wh))

    expected = with_configs(ro.compute([src]), [src])
    got = {k: summary[k] for k in ACCOUNTING}
    assert got == expected.total_counts, _pair(got, expected.total_counts)
    assert summary["balanced"] == 1 and summary["lines_read"] == expected.lines_read
    assert summary["skipped_by_shape"] == skipped_both(expected)
    assert summary["responses"] == len(expected.runs)
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        compare_both({n: view_rows(con, n) for n in (*RESPONSE_KEYS, "rejects")}, expected,
                     extra_columns_ok=True)
        a = expected.assistants
        for name, key in METRIC_KEYS.items():  # the metric views over both APIs at once
            rows = {"step_latency": lambda: oracle.step_latency(expected.steps + a.steps),
                    "failure_rate": lambda: oracle.failure_rate(expected.steps + a.steps),
                    "token_usage": lambda: oracle.token_usage(expected.usage + a.usage),
                    "tool_stats": lambda: oracle.tool_stats(expected.tool_calls + a.tool_calls),
                    }[name]()
            compare_rows(name, view_rows(con, name), rows, key, extra_columns_ok=True)
        by_api = dict(con.sql("select value, runs from run_failure_funnel "
                              "where dimension = 'api' and status = 'completed'").fetchall())
        priced = con.sql("select model, prompt_tokens, cached_tokens, completion_tokens, "
                         "reasoning_tokens, cost_usd from usage where api = 'responses' "
                         "and model like 'gpt-5.1-%' and cached_tokens > 0").fetchall()
        unpriced = con.sql("select model, reason from unpriced_models "
                           "where api = 'responses'").fetchall()
    completed = Counter(r["status"] for r in expected.runs)["completed"]
    assert by_api["responses"] == completed
    # cached input at the cached rate, reasoning inside the output (data/prices.csv:
    # gpt-5.1 from 2025-11-13 at 1.25 / 0.125 / 10.00 USD per million)
    assert priced
    for _, prompt, cached, completion, reasoning, cost in priced:
        assert reasoning <= completion
        want = ((prompt - cached) * 1.25 + cached * 0.125 + completion * 10.00) / 1e6
        assert cost == pytest.approx(want)
        assert cost < (prompt * 1.25 + completion * 10.00) / 1e6  # not the full rate
    # and a model without a price says so rather than costing nothing
    assert ("gpt-5-2025-08-07", "model not in the price table") in unpriced
