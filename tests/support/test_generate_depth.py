"""The issue-13 generators: billing pages consistent with a generated export plus known gaps
(tests/support/generate_billing.py) and the `config_changes` option of generate_export.

The billing checks compare the generator's own record (its ``truth``), the oracles' reading
of the written files, and sums computed here from the export's usage rows; SDK validation
uses openai 3.57.0's admin usage/costs models and `Run`."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest
from openai.types.admin.organization import UsageCompletionsResponse, UsageCostsResponse

from tests.support import billing_oracle as bo
from tests.support import versions_oracle as vo
from tests.support.generate import LEGACY_RUN_BEFORE, generate_export
from tests.support.generate_billing import FILES, billed_name, generate_billing
from tests.support.paths import SAMPLE, SAMPLE_BILLING
from tests.support.sdk_validation import errors, json_lines, records

PRICES = bo.PriceTable.shipped()


@pytest.fixture(scope="module")
def billed(tmp_path_factory):
    base = tmp_path_factory.mktemp("billing")
    generate_export(base / "export", runs=300, seed=7)
    usage = bo.seen_usage([base / "export"], PRICES)
    truth = generate_billing(base / "billing", usage, seed=5)
    billing = bo.compute([base / "billing"])
    rows = bo.cost_reconciliation(usage, billing.billing_usage, billing.billing_costs)
    return base, usage, truth, billing, rows


def test_pages_validate_against_the_sdk(billed):
    base, *_ = billed
    models = {FILES["usage"]: UsageCompletionsResponse, FILES["usage_rerun"]:
              UsageCompletionsResponse, FILES["by_project"]: UsageCompletionsResponse,
              FILES["costs"]: UsageCostsResponse}
    n = 0
    for name, model in models.items():
        for value in json_lines(base / "billing" / name):
            model.model_validate(value)
            n += 1
    UsageCostsResponse.model_validate(orjson.loads((base / "billing" / FILES["costs_rerun"])
                                                   .read_bytes()))
    assert n >= 25


def test_generation_is_deterministic(billed, tmp_path):
    base, usage, truth, *_ = billed
    again = generate_billing(tmp_path, usage, seed=5)
    for name in FILES.values():
        assert (tmp_path / name).read_bytes() == (base / "billing" / name).read_bytes()
    assert again["gaps"] == truth["gaps"]
    other = generate_billing(tmp_path / "other", usage, seed=6)
    assert other["gaps"] != truth["gaps"]


def test_every_page_day_has_a_bucket_and_pages_chain(billed):
    base, _, truth, *_ = billed
    pages = list(json_lines(base / "billing" / FILES["usage"]))
    starts = [b["start_time"] for p in pages for b in p["data"]]
    days = [dt.date(1970, 1, 1) + dt.timedelta(seconds=s) for s in starts]
    assert days == [truth["start_day"] + dt.timedelta(days=i) for i in range(len(days))]
    assert days[-1] == truth["end_day"]
    assert all(len(p["data"]) <= 31 for p in pages)
    assert [p["has_more"] for p in pages] == [True] * (len(pages) - 1) + [False]
    assert all((p["next_page"] is None) == (not p["has_more"]) for p in pages)


def expected_billed(usage: list[dict], truth: dict) -> dict:
    """Billed sums per (day, family) computed here from the usage rows and the gap record."""
    out: dict = defaultdict(lambda: Counter())
    gaps = truth["gaps"]
    for r in usage:
        if r["day"] < truth["start_day"]:
            continue
        key = (r["day"], bo.model_family(r["model"]))
        cost = r["cost_usd"] * (1.25 if r["model"] == gaps["mispriced_model"] else 1.0)
        out[key].update(requests=1, input_tokens=r["prompt_tokens"] or 0,
                        cached_tokens=r["cached_tokens"] or 0,
                        output_tokens=r["completion_tokens"] or 0)
        out[key]["cost_usd"] += cost
    day, family, extra = gaps["extra_requests"]
    out[(day, family)]["requests"] += extra
    return out


def test_bill_equals_the_export_except_the_injected_gaps(billed):
    _, usage, truth, _, rows = billed
    expected = expected_billed(usage, truth)
    got = {(r["day"], r["model"]): r for r in rows}
    missing = truth["gaps"]["missing_day"]
    assert set(got) == set(expected) | {missing} | {
        (truth["gaps"]["uncovered_day"], bo.model_family(r["model"])) for r in usage
        if r["day"] == truth["gaps"]["uncovered_day"]}
    for key, e in expected.items():
        r = got[key]
        assert (r["requests_billed"], r["input_tokens_billed"], r["cached_tokens_billed"],
                r["output_tokens_billed"]) == (e["requests"], e["input_tokens"],
                                               e["cached_tokens"], e["output_tokens"]), key
        assert r["billed_cost_usd"] == pytest.approx(e["cost_usd"], rel=1e-9), key
        assert truth["billed"][key]["requests"] == e["requests"]
    assert got[missing]["requests_seen"] == 0 and got[missing]["requests_billed"] == 5


def test_findings_are_exactly_the_injected_gaps(billed):
    _, _, truth, _, rows = billed
    got = {(r["day"], r["model"]): r["finding"] for r in rows}
    assert got == truth["findings"]
    counts = Counter(got.values())
    assert counts["no_billing_data"] >= 1 and counts["missing_in_export"] == 1
    assert counts["incomplete_export"] == 1 and counts["mispriced"] >= 2
    assert counts["ok"] > 50


def test_billed_names_are_snapshots_matched_by_family(billed):
    _, _, _, billing, rows = billed
    names = {r["model"] for r in billing.billing_usage if r["model"]}
    assert {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-3.5-turbo-0125"} <= names
    assert "gpt-4o" not in names
    assert billed_name("gpt-4o", dt.date(2024, 10, 1)) == "gpt-4o-2024-05-13"
    assert any(r["seen_models"] == ["gpt-4o"] and r["billed_models"] == ["gpt-4o-2024-08-06"]
               and r["finding"] == "ok" for r in rows)


def test_reruns_are_superseded_and_the_partial_day_is_billed_whole(billed):
    base, usage, truth, billing, rows = billed
    assert billing.counts["superseded"] > 14
    last = {(r["day"], r["model"]): r for r in rows if r["day"] == truth["end_day"]}
    assert last and all(r["requests_billed"] == r["requests_seen"] for r in last.values())
    partial = [b for p in json_lines(base / "billing" / FILES["usage"]) for b in p["data"]
               if b["results"]][-1]["results"][0]
    whole = [r for r in billing.billing_usage if r["day"] == truth["end_day"]
             and r["model"] == partial["model"]][0]
    assert whole["num_model_requests"] > partial["num_model_requests"]


def test_bad_billing_file_rejects_and_skips(billed):
    base, _, truth, billing, _ = billed
    got = [(Path(r["source_file"]).name, r["line_no"], r["reason"]) for r in billing.rejects]
    assert got == truth["rejects"]
    for name, n in truth["skipped"].items():
        assert billing.skipped_by_shape[name] >= n
    c = billing.counts
    assert c["records_read"] == c["kept"] + c["superseded"] + c["rejected"] + c["skipped"]


# --------------------------------------------------------------------------- config changes


@pytest.fixture(scope="module")
def changed(tmp_path_factory):
    out = tmp_path_factory.mktemp("versions")
    counts = generate_export(out, runs=600, seed=7, config_changes=True)
    return out, counts, vo.compute([out], cost=PRICES.row_cost)


def run_records(out: Path) -> list[dict]:
    return [rec for p in sorted(out.rglob("*.jsonl*")) if p.name != "bad_lines.jsonl"
            for value in json_lines(p) for model, rec in records(value) if model == "Run"]


def test_changed_runs_validate_against_the_sdk(changed):
    out, *_ = changed
    runs = [r for r in run_records(out) if r["created_at"] >= LEGACY_RUN_BEFORE]
    assert {r["temperature"] for r in runs} >= {1.0, 0.3}
    assert any(isinstance(r["response_format"], dict) for r in runs)
    assert [e for r in runs for e in errors("Run", r)] == []


def test_every_scheduled_change_starts_a_version_that_names_its_field(changed):
    _, counts, result = changed
    schedule = counts["config_changes"]
    assert len(schedule) == 18 and sum(c["worse"] for c in schedule) == 1
    runs = sorted(result.runs, key=lambda r: (r["created_at"], r["run_id"]))
    versions = {(v["assistant_id"], v["version"]): v for v in result.versions}
    for change in schedule:
        at = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=change["at"])
        first = next(r for r in runs if r["assistant_id"] == change["assistant_id"]
                     and r["created_at"] >= at)
        version = versions[result.version_of_run[first["run_id"]]]
        assert change["field"] in version["changed"], change
        assert version["first_seen"] == first["created_at"]


def test_the_worse_change_shows_a_higher_failure_rate(changed):
    _, counts, result = changed
    [worse] = [c for c in counts["config_changes"] if c["worse"]]
    at = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=worse["at"])
    [row] = [c for c in result.comparison if c["assistant_id"] == worse["assistant_id"]
             and c["changed_at"] >= at and worse["field"] in c["changed"]]
    assert row["failure_rate_after"] > row["failure_rate_before"] + 0.2


def test_without_the_option_configurations_do_not_change(tmp_path):
    counts = generate_export(tmp_path, runs=200, seed=7)
    assert "config_changes" not in counts
    runs = run_records(tmp_path)
    assert {r.get("temperature", 1.0) for r in runs} == {1.0}
    assert {r.get("top_p", 1.0) for r in runs} == {1.0}
    assert {str(r.get("response_format", "auto")) for r in runs} == {"auto"}
    assert not any("escalate_to_human" in orjson.dumps(r["tools"]).decode() for r in runs)


def test_data_sample_billing_is_what_its_readme_command_makes(tmp_path):
    """data/sample-billing: the billing of data/sample's usage (see its README)."""
    generate_billing(tmp_path, bo.seen_usage([SAMPLE], PRICES), seed=5, bad_pages=False)
    made = sorted(p.name for p in tmp_path.iterdir())
    committed = sorted(p.name for p in SAMPLE_BILLING.iterdir() if p.name != "README.md")
    assert made == committed
    for name in made:
        assert (SAMPLE_BILLING / name).read_bytes() == (tmp_path / name).read_bytes(), name
