"""`steplens report`: tables, Markdown and JSON for scripts, the self-contained HTML page
drawn in a real browser (headless Chromium), and the Prefect artifacts of an ingest."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import duckdb
import pytest
from typer.testing import CliRunner

from steplens.flows.cli import app
from steplens.flows.report import html as report_html
from steplens.flows.report import sections as report_sections
from tests.support import billing_oracle as bo
from tests.support import versions_oracle as vo
from tests.support.paths import DATA, SAMPLE, SAMPLE_BILLING

runner = CliRunner()
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run")


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/system-deps installs it")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return path


@pytest.mark.flow
def test_all_is_tables_of_every_section_and_the_default_is_one_screen(sample_warehouse):
    result = run("report", "--all", "-w", str(sample_warehouse))
    assert result.exit_code == 0, result.output
    for section in report_sections.SECTIONS:
        assert section.title in result.output
    first = run("report", "-w", str(sample_warehouse)).output
    assert len(first.splitlines()) <= 60
    assert first.splitlines()[-1].startswith("More: steplens report --all")


@pytest.mark.flow
def test_versions_and_reconciliation_sections_hold_the_oracles_rows(sample_warehouse):
    """The report's two issue-13 sections: the latest configuration changes and the
    (day, model) rows off the bill, as the independent oracles compute them."""
    doc = json.loads(run("report", "-w", str(sample_warehouse), "-f", "json").output)
    changes = sorted(vo.compute([SAMPLE]).comparison, key=lambda r: (
        r["changed_at"] is None, -(r["changed_at"].timestamp() if r["changed_at"] else 0),
        r["assistant_id"], r["version"]))[:10]
    assert [(r["assistant_id"], r["version"], r["changed"])
            for r in doc["version_comparison"]] == [
        (r["assistant_id"], r["version"], r["changed"]) for r in changes]
    off = sorted((r for r in bo.reconcile([SAMPLE], [SAMPLE_BILLING])
                  if r["finding"] not in ("ok", "no_billing_data")),
                 key=lambda r: (-r["day"].toordinal(), r["model"] is None, r["model"] or ""))
    assert {"missing_in_export", "mispriced", "incomplete_export"} <= {
        r["finding"] for r in off}
    assert [(str(r["day"]), r["model"], r["finding"])
            for r in doc["cost_reconciliation"]] == [
        (str(r["day"]), r["model"], r["finding"]) for r in off[:15]]


@pytest.mark.flow
def test_markdown_and_json_hold_the_same_sections(sample_warehouse):
    md = run("report", "-w", str(sample_warehouse), "--format", "markdown").output
    doc = json.loads(run("report", "-w", str(sample_warehouse), "-f", "json").output)
    assert list(doc) == [s.key for s in report_sections.SECTIONS]
    for section in report_sections.SECTIONS:
        assert f"## {section.title}" in md
    with duckdb.connect(str(sample_warehouse / "steplens.duckdb"), read_only=True) as con:
        cost = con.sql("select cost_usd from usage_cost where dimension = 'all'").fetchall()
        assert doc["usage_cost"][0]["dimension"] == "all"
        assert doc["usage_cost"][0]["cost_usd"] == pytest.approx(cost[0][0])
        models = {r[0] for r in con.sql("select distinct model from runs").fetchall()}
    assert doc["unpriced_models"] == []  # the shipped table prices every sample model
    # NULL: tool charges whose run is not in the data (no model known)
    assert {r["value"] for r in doc["usage_cost"] if r["dimension"] == "model"} - {None} <= models
    table_row = next(line for line in md.splitlines() if line.startswith("| all |"))
    assert table_row.count("|") == len(doc["step_latency"][0]) + 1


@pytest.mark.flow
def test_html_report_is_self_contained_and_its_charts_draw_in_chromium(mixed_warehouse,
                                                                        tmp_path):
    browser = chromium()
    page = tmp_path / "page.html"
    result = run("report", "-w", str(mixed_warehouse), "--html", str(page))
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert report_html.is_self_contained(text)
    assert "<script src" not in text and "<link" not in text
    charts = text.count('<figure class="chart"')
    assert charts == 14
    assert "Assistant versions" in text and "Cost against the bill" in text
    assert "Responses API and the migration" in text and 'id="chart-migration"' in text
    dom = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         page.as_uri()],
        capture_output=True, text=True, timeout=60, check=True).stdout
    drawn = re.search(r'data-charts-drawn="(\d+)"', dom)
    assert drawn, "the page script did not run"
    assert int(drawn.group(1)) == charts


@pytest.mark.flow
def test_html_report_lists_unpriced_models(sample_warehouse, tmp_path):
    """A price that starts later than the data leaves that model's usage unpriced."""
    from steplens.flows.store import views

    wh = tmp_path / "wh"
    shutil.copytree(sample_warehouse, wh, symlinks=True)
    late = tmp_path / "late.csv"
    late.write_text("model,effective_from,prompt_usd_per_1m,cached_prompt_usd_per_1m,"
                    "completion_usd_per_1m\ngpt-4o-mini,2030-01-01,1,,2\n")
    views.build_duckdb(wh, late)
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        page = report_html.html(con)
        unpriced = con.sql("from unpriced_models").fetchall()
    assert [(r[0], r[1], r[2]) for r in unpriced] == [
        ("assistants", "gpt-4o-mini", "no price on or before its day")]
    assert "Usage without a price" in page and "gpt-4o-mini" in page
    assert " + unpriced" in page  # the headline cost says it is partial


@pytest.mark.flow
def test_html_to_an_unwritable_place_is_one_line(sample_warehouse, tmp_path):
    result = run("report", "-w", str(sample_warehouse), "--html",
                 str(tmp_path / "no" / "such" / "dir" / "r.html"))
    assert result.exit_code == 1
    assert "cannot write" in result.output and "Traceback" not in result.output


def test_bad_price_file_fails_before_ingesting(tmp_path):
    bad = tmp_path / "prices.csv"
    bad.write_text("model,effective_from\ngpt-4o,2024-01-01\n")
    result = run("ingest", str(DATA / "real"), "-w", str(tmp_path / "wh"), "--prices", str(bad))
    assert result.exit_code == 1
    assert "missing column(s)" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "wh").exists()


@pytest.mark.flow
def test_ingest_publishes_the_key_views_as_artifacts(prefect_server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, FlowRunFilter, FlowRunFilterId

    from steplens.flows.artifacts import ARTIFACTS
    from steplens.flows.ingest import ingest

    state = ingest(paths=[str(DATA / "real")], warehouse_dir=str(tmp_path / "wh"),
                   return_state=True)
    assert state.is_completed()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[
                state.state_details.flow_run_id])))
    by_key = {a.key: a for a in artifacts}
    for key, _, _ in ARTIFACTS:
        assert re.fullmatch(r"[a-z0-9-]+", key)
        assert key in by_key, key
        assert by_key[key].type == "table"
    cost = json.loads(by_key["usage-cost"].data)
    assert cost[0]["dimension"] == "all" and cost[0]["cost_usd"] > 0


@pytest.mark.flow
@pytest.mark.flow
def test_a_report_query_that_fails_skips_the_artifacts_not_the_ingest(prefect_server, tmp_path,
                                                                       monkeypatch):
    import duckdb

    from steplens.flows import artifacts
    from steplens.flows.artifacts import publish_report_artifacts
    from steplens.flows.ingest import ingest

    export = tmp_path / "e"
    export.mkdir()
    (export / "a.jsonl").write_bytes(
        (DATA / "real" / "openai-dotnet" / "steps_and_runs.jsonl").read_bytes())

    def out_of_memory(*_args, **_kwargs):
        raise duckdb.OutOfMemoryException("Out of Memory Error: test")

    monkeypatch.setattr(artifacts.report, "sections", out_of_memory)
    summary = ingest(paths=[str(export)], warehouse_dir=str(tmp_path / "wh"))
    assert summary["balanced"] == 1
    assert publish_report_artifacts(str(tmp_path / "wh" / "steplens.duckdb")) == []


@pytest.mark.flow
def test_the_migration_section_compares_both_apis(mixed_warehouse):
    doc = json.loads(run("report", "-w", str(mixed_warehouse), "-f", "json").output)
    (overall,) = [r for r in doc["migration"] if r["dimension"] == "all"]
    with duckdb.connect(str(mixed_warehouse / "steplens.duckdb"), read_only=True) as con:
        runs = dict(con.sql("select api, count(*) from runs group by api").fetchall())
    assert (overall["assistants_runs"], overall["responses_runs"]) == (
        runs["assistants"], runs["responses"])
    both = [r for r in doc["migration"] if r["dimension"] == "model"
            and r["assistants_runs"] and r["responses_runs"]]
    assert both and any(r["responses_p50_s"] is not None for r in both)
