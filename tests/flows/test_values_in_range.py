"""Values in range (issue 18, item 2): one line can no longer break every report.

A step with `total_tokens` 2^63-1 and one with -5 are rejected with a reason naming the
field; `steplens report` and `report --html` succeed; the warehouse's token totals equal
a plain Python sum over the kept lines of the fixture.
"""

from __future__ import annotations

import json

import orjson
from typer.testing import CliRunner

from steplens.flows.cli import app
from tests.support.builders import T0, run, step

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_out_of_range_tokens_are_rejected_and_reports_hold(tmp_path):
    usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    kept = [step(id=f"step_{i}", usage={**usage, "total_tokens": 120 + i}, created_at=T0 + i,
                 completed_at=T0 + i + 2) for i in range(5)]
    huge = step(id="step_huge", usage={**usage, "total_tokens": 9223372036854775807})
    negative = step(id="step_neg", usage={**usage, "prompt_tokens": -5})
    past = run(id="run_B", usage={**usage, "completion_tokens_details": {
        "reasoning_tokens": 2**53 + 1}})
    lines = [*kept[:2], huge, *kept[2:4], negative, kept[4], run(), past]
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    wh = tmp_path / "wh"
    result = invoke("ingest", str(src), "-w", str(wh), "--orchestration", "direct")
    assert result.exit_code == 0, result.output

    rejects = json.loads(invoke("sql", "select line_no, reason from rejects order by line_no",
                                "-w", str(wh), "-f", "json").output)
    assert [(r["line_no"], r["reason"].split(":")[0]) for r in rejects] == [
        (3, "usage.total_tokens"), (6, "usage.prompt_tokens"),
        (9, "usage.completion_tokens_details.reasoning_tokens")]
    assert all("out of range" in r["reason"] for r in rejects)

    report = invoke("report", "-w", str(wh), "-f", "json")
    assert report.exit_code == 0, report.output
    html = tmp_path / "r.html"
    page = invoke("report", "-w", str(wh), "--html", str(html))
    assert page.exit_code == 0, page.output
    assert html.stat().st_size > 0

    # independent: plain Python over the kept lines (the steps that report usage)
    totals = json.loads(invoke("sql", "select prompt_tokens, total_tokens from usage_cost "
                               "where dimension = 'all'", "-w", str(wh), "-f", "json").output)
    assert totals == [{"prompt_tokens": sum(s["usage"]["prompt_tokens"] for s in kept),
                       "total_tokens": sum(s["usage"]["total_tokens"] for s in kept)}]
