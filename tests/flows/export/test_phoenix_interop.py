"""`steplens export otlp` into a real Arize Phoenix server (interop; not in the default run).

Phoenix is too heavy for the test extra (and its pins would move ours), so it lives in
its own virtual environment and this test finds its `phoenix` executable through
$STEPLENS_PHOENIX or PATH, and is skipped without one:

    python3 -m venv /tmp/phoenix-venv && /tmp/phoenix-venv/bin/pip install "arize-phoenix>=20,<21"
    STEPLENS_PHOENIX=/tmp/phoenix-venv/bin/phoenix .venv/bin/python -m pytest -m interop \\
        tests/flows/export/test_phoenix_interop.py

It starts Phoenix on 127.0.0.1 (free ports, a temporary working directory), ingests
data/sample and data/sample-responses into one warehouse (both APIs), sends the export,
waits until Phoenix has stored every span, and asks Phoenix's own GraphQL: its span count
equals the export's, its token total (which it counts on LLM spans only) equals
`sum(total_tokens)` of the `usage` table read here with Polars (of the finished runs after
a default export, of all after --include-unfinished), its ERROR spans are the export's
error spans; a re-send changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from steplens.flows.cli import app
from tests.flows.export.test_otlp import attrs, load, spans_of
from tests.support.paths import SAMPLE, SAMPLE_RESPONSES

pytestmark = pytest.mark.interop
runner = CliRunner()
START_TIMEOUT_S = 240  # about 25 s on an idle machine; much more on 2 busy cores
STORE_TIMEOUT_S = 300


def phoenix_executable() -> str | None:
    explicit = os.environ.get("STEPLENS_PHOENIX")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return shutil.which("phoenix")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(base: str, query: str) -> dict:
    req = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        doc = json.loads(resp.read())
    assert "errors" not in doc, doc
    return doc["data"]


def project_figures(base: str) -> dict[str, dict]:
    """Per project: spans, traces, tokens and ERROR spans, as Phoenix reports them."""
    data = graphql(base, "{ projects { edges { node { name recordCount traceCount "
                         "tokenCountTotal errors: recordCount(filterCondition: "
                         "\"status_code == 'ERROR'\") } } } }")
    return {e["node"]["name"]: e["node"] for e in data["projects"]["edges"]}


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory) -> Iterator[str]:
    exe = phoenix_executable()
    if exe is None:
        pytest.skip("no Arize Phoenix: install it into its own venv and set STEPLENS_PHOENIX "
                    "(see this module's docstring)")
    work = tmp_path_factory.mktemp("phoenix")
    port = free_port()
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(work), "PHOENIX_HOST": "127.0.0.1",
           "PHOENIX_PORT": str(port), "PHOENIX_GRPC_PORT": str(free_port()),
           "PHOENIX_TELEMETRY_ENABLED": "false"}
    log = (work / "phoenix.log").open("wb")
    proc = subprocess.Popen([exe, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"phoenix serve exited with {proc.returncode}: see {work}/phoenix.log")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Phoenix not healthy after {START_TIMEOUT_S} s")
            time.sleep(1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def both_apis(tmp_path_factory) -> Path:
    """data/sample and data/sample-responses in one warehouse, ingested without Prefect."""
    wh = tmp_path_factory.mktemp("both") / "wh"
    result = runner.invoke(app, ["ingest", str(SAMPLE), str(SAMPLE_RESPONSES), "-w", str(wh),
                                 "--orchestration", "direct"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return wh


def usage_total(wh: Path, runs: set[str] | None = None) -> int:
    usage = pl.read_parquet(wh / "current" / "usage" / "**" / "*.parquet",
                            hive_partitioning=False)
    if runs is not None:
        usage = usage.filter(pl.col("run_id").is_in(sorted(runs)))
    return int(usage["total_tokens"].sum())


def export(wh: Path, base: str, out: Path, *args: str):
    result = runner.invoke(app, ["export", "otlp", str(out), "-w", str(wh), "--endpoint",
                                 f"{base}/v1/traces", "--stored-timeout",
                                 str(STORE_TIMEOUT_S), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split()), spans_of(load(out))


def test_phoenix_stores_every_span_and_counts_every_token_once(phoenix, both_apis, tmp_path):
    """Finished runs first (the default), then the rest (--include-unfinished) into the
    same project, then a re-send: Phoenix's figures follow the export and `usage` at each
    step. (One project throughout: Phoenix's span ids are global, so a span already stored
    in one project is not stored again in another.)"""
    runs = pl.read_parquet(both_apis / "current" / "runs" / "**" / "*.parquet",
                           hive_partitioning=False)
    ended = set(runs.filter(pl.col("status").is_in(
        ["completed", "incomplete", "failed", "cancelled", "expired"]))["run_id"])
    assert 0 < len(ended) < runs.height

    text, spans = export(both_apis, phoenix, tmp_path / "finished.jsonl",
                         "--project", "steplens")
    n = len(spans)
    assert f"stored: {n:,} of the {n:,} spans sent, in Phoenix project 'steplens'" in text
    got = project_figures(phoenix)["steplens"]
    print(f"\nfinished runs: sent {n}, Phoenix {got}, usage {usage_total(both_apis, ended)}")
    assert got["recordCount"] == n
    assert got["traceCount"] == len(ended)
    assert got["tokenCountTotal"] == usage_total(both_apis, ended)

    text, spans = export(both_apis, phoenix, tmp_path / "all.jsonl", "--include-unfinished",
                         "--project", "steplens")
    n = len(spans)
    assert {attrs(s)["steplens.api"] for s in spans} == {"assistants", "responses"}
    assert f"stored: {n:,} of the {n:,} spans sent, in Phoenix project 'steplens'" in text
    got = project_figures(phoenix)["steplens"]
    print(f"all runs: sent {n}, Phoenix {got}, usage {usage_total(both_apis)}")
    assert got["recordCount"] == n
    assert got["traceCount"] == len({s.trace_id for s in spans}) == runs.height
    assert got["tokenCountTotal"] == usage_total(both_apis)
    assert got["errors"] == sum(s.status.code == 2 for s in spans) > 0

    # a re-send: Phoenix keeps the first copy of each span, and the command still says so
    text, _ = export(both_apis, phoenix, tmp_path / "again.jsonl", "--include-unfinished",
                     "--project", "steplens")
    assert f"stored: {n:,} of the {n:,} spans sent" in text
    assert project_figures(phoenix)["steplens"] == got
