"""Assistant versions and cost reconciliation (issue 13, parts 3-4) through the real flow,
against the independent oracles (tests/support/versions_oracle.py, billing_oracle.py).

One seeded export with scheduled configuration changes (`config_changes=True`: one change
makes runs fail more) and, in the same folder, Usage/Costs API exports built from the
export's own usage with known gaps (tests/support/generate_billing.py), ingested by the
flow; the views must equal the oracles' plain-Python computations.
"""

from __future__ import annotations

import duckdb
import pytest

from tests.support import billing_oracle as bo
from tests.support import versions_oracle as vo
from tests.support.generate import generate_export
from tests.test_against_oracle import compare_rows, view_rows

pytestmark = pytest.mark.flow
PRICES = bo.PriceTable.shipped()


@pytest.fixture(scope="module")
def depth(tmp_path_factory, prefect_server):
    from steplens.flows.ingest import ingest

    base = tmp_path_factory.mktemp("depth").resolve()
    src = base / "export"
    changes = generate_export(src, runs=300, seed=7, config_changes=True)["config_changes"]
    wh = base / "wh"
    summary = ingest(paths=[str(src)], warehouse_dir=str(wh))
    con = duckdb.connect(str(wh / "steplens.duckdb"), read_only=True)
    yield {"src": src, "wh": wh, "summary": summary, "con": con, "changes": changes}
    con.close()


def test_assistant_versions_equal_the_oracle(depth):
    expected = vo.compute([depth["src"]], cost=PRICES.row_cost)
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
