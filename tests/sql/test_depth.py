"""Assistant versions and cost reconciliation (issue 13, parts 3-4) through the real
ingest (directly, without Prefect), against the independent oracles
(tests/support/versions_oracle.py, billing_oracle.py).

One seeded export with scheduled configuration changes (`config_changes=True`: one change
makes runs fail more) and, in the same folder, Usage/Costs API exports built from the
export's own usage with known gaps (tests/support/generate_billing.py), ingested directly;
the views must equal the oracles' plain-Python computations.
"""

from __future__ import annotations

import shutil
from collections import Counter

import duckdb
import pytest

from tests.support import billing_oracle as bo
from tests.support import responses_oracle as ro
from tests.support import versions_oracle as vo
from tests.support.generate import generate_export
from tests.support.generate_billing import generate_billing
from tests.support.ingest import ingest_direct
from tests.test_against_oracle import ACCOUNTING, compare_rows, view_rows
from tests.test_against_responses_oracle import skipped_both

PRICES = bo.PriceTable.shipped()


@pytest.fixture(scope="module")
def depth(tmp_path_factory):
    base = tmp_path_factory.mktemp("depth").resolve()
    src, bills = base / "export", base / "billing"
    changes = generate_export(src, runs=300, seed=7, config_changes=True)["config_changes"]
    truth = generate_billing(bills, bo.seen_usage([src], PRICES), seed=5)
    wh = base / "wh"
    summary = ingest_direct([str(src), str(bills)], str(wh))
    con = duckdb.connect(str(wh / "steplens.duckdb"), read_only=True)
    yield {"src": src, "bills": bills, "wh": wh, "summary": summary, "con": con,
           "changes": changes, "truth": truth}
    con.close()


def floats(rows: list[dict], columns: tuple[str, ...]) -> list[dict]:
    """The oracle's sums of no rows are int 0 where the view's column is DOUBLE."""
    return [{**r, **{c: float(r[c]) for c in columns if isinstance(r[c], int)}} for r in rows]


def test_accounting_balances_with_billing_records(depth):
    """The ingest's totals are the export's (both API oracles) plus the billing oracle's;
    the Assistants contract used to skip the billing lines (`page`, `bucket`, results)
    and still rejects the cut last line of the bad billing file."""
    export = ro.compute([depth["src"]])
    other = ro.compute([depth["bills"]])
    assert set(other.assistants.skipped_by_shape) <= {"page", "bucket", bo.USAGE_OBJECT}
    assert other.total_counts["kept"] == other.total_counts["superseded"] == 0
    bill = bo.compute([depth["bills"]])
    expected = {k: export.total_counts[k] + bill.counts[k] for k in ACCOUNTING}
    expected["rejected"] += other.total_counts["rejected"]
    expected["records_read"] += other.total_counts["rejected"]
    summary = depth["summary"]
    assert {k: summary[k] for k in ACCOUNTING} == expected
    assert summary["balanced"] == 1
    assert summary["tables"]["billing_usage"] == len(bill.billing_usage)
    assert summary["skipped_by_shape"] == dict(sorted(
        (Counter(skipped_both(export)) + Counter(bill.skipped_by_shape)).items()))


def test_billing_tables_equal_the_oracle(depth):
    expected = bo.compute([depth["bills"]])
    con = depth["con"]
    compare_rows("billing_usage", view_rows(con, "billing_usage"), expected.billing_usage,
                 ("start_time", "end_time", *bo.USAGE_DIMENSIONS))
    compare_rows("billing_costs", view_rows(con, "billing_costs"), expected.billing_costs,
                 ("start_time", "end_time", *bo.COSTS_DIMENSIONS))


def test_cost_reconciliation_equals_the_oracle_and_finds_the_gaps(depth):
    expected = bo.reconcile([depth["src"]], [depth["bills"]], PRICES)
    got = view_rows(depth["con"], "cost_reconciliation")
    columns = ("estimated_cost_usd", "billed_cost_usd", "cost_gap_usd")
    compare_rows("cost_reconciliation", floats(got, columns), floats(expected, columns),
                 ("day", "model"))
    findings = {(r["day"], r["model"]): r["finding"] for r in got}
    assert findings == depth["truth"]["findings"]
    assert {"no_billing_data", "missing_in_export", "mispriced", "incomplete_export",
            "ok"} <= set(findings.values())


def test_assistant_versions_equal_the_oracle(depth):
    expected = vo.compute([depth["src"], depth["bills"]], cost=PRICES.row_cost)
    assert len(expected.versions) > len({v["assistant_id"] for v in expected.versions})
    compare_rows("assistant_versions", view_rows(depth["con"], "assistant_versions"),
                 expected.versions, ("assistant_id", "version"))
    compare_rows("version_comparison", view_rows(depth["con"], "version_comparison"),
                 expected.comparison, ("assistant_id", "version"))


def test_the_change_that_made_runs_fail_more_shows(depth):
    worse = [c for c in depth["changes"] if c["worse"]]
    assert worse
    rows = view_rows(depth["con"], "version_comparison")
    for change in worse:
        mine = [r for r in rows if r["assistant_id"] == change["assistant_id"]
                and change["field"] in r["changed"]]
        assert any(r["failure_rate_after"] > r["failure_rate_before"] for r in mine), mine


def test_billing_files_added_and_rewritten_later_are_incremental(depth, tmp_path):
    """A second ingest brings the re-exports and rewrites a file: the billing tables and
    the accounting are those of the final files (the oracle over them)."""
    bills, wh = tmp_path / "bills", tmp_path / "wh"
    bills.mkdir()
    later = ("usage_completions_rerun.jsonl", "costs_rerun.json")
    for f in depth["bills"].iterdir():
        if f.name not in later:
            shutil.copy(f, bills / f.name)
    first = ingest_direct([str(bills)], str(wh))
    assert first["balanced"] == 1
    for name in later:
        shutil.copy(depth["bills"] / name, bills / name)
    by_project = bills / "usage_by_project.jsonl"
    by_project.write_bytes(b"".join(by_project.read_bytes().splitlines(keepends=True)[1:]))
    summary = ingest_direct([str(bills)], str(wh))
    expected = bo.compute([bills])
    for k in ("kept", "superseded", "skipped"):
        assert summary[k] == expected.counts[k], k
    assert summary["balanced"] == 1
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        compare_rows("billing_usage", view_rows(con, "billing_usage"), expected.billing_usage,
                     ("start_time", "end_time", *bo.USAGE_DIMENSIONS))
        compare_rows("billing_costs", view_rows(con, "billing_costs"), expected.billing_costs,
                     ("start_time", "end_time", *bo.COSTS_DIMENSIONS))
