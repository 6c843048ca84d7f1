"""The `threads` view against a plain-Python computation over the same runs.

The warehouse is ingested (directly, without Prefect) from generated data of both APIs
(`tests/support/generate.py` and `generate_responses.py`, seed 13: Responses threads are
conversations and previous_response_id chains), with a price file that starts
gpt-4o-mini's price after the data, so some turns have usage but no price. The expected
rows are computed here from the `runs` rows (the Parquet columns, plus the per-run
`cost_usd` that tests/sql/test_analytics.py checks against its own pricing) with nothing
but the standard library.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from tests.support.generate import generate_export
from tests.support.generate_responses import generate_mixed_export
from tests.support.ingest import ingest_direct

RUN_TERMINAL = ("completed", "incomplete", "failed", "cancelled", "expired")
FAILURE = ("failed", "expired")
LATE_PRICE = """\
model,effective_from,prompt_usd_per_1m,cached_prompt_usd_per_1m,completion_usd_per_1m
gpt-4o-mini,2030-01-01,1,0.5,2
"""


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    base = tmp_path_factory.mktemp("threads")
    generate_export(base / "export", runs=300, seed=13)
    generate_mixed_export(base / "export" / "responses-api", responses=120, seed=13,
                          assistants_runs=0)
    prices = base / "late.csv"
    prices.write_text(LATE_PRICE)
    ingest_direct([str(base / "export")], str(base / "wh"), prices=str(prices))
    with duckdb.connect(str(Path(base / "wh" / "steplens.duckdb")), read_only=True) as c:
        yield c


def rows(con, sql: str) -> list[dict]:
    rel = con.sql(sql)
    return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]


def quantile_cont(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    pos = (len(v) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


def slope(points: list[tuple[int, int]]) -> float | None:
    """Least-squares slope of y over x."""
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else None


def total(values) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def expected_threads(runs: list[dict]) -> dict[str, dict]:
    by_thread: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        if r["thread_id"] is not None:
            by_thread[r["thread_id"]].append(r)
    out = {}
    for thread, rs in by_thread.items():
        rs.sort(key=lambda r: (r["created_at"], r["run_id"]))
        turns = [r for r in rs if r["status"] in RUN_TERMINAL]
        with_usage = [(i, t["prompt_tokens"]) for i, t in enumerate(turns, start=1)
                      if t["prompt_tokens"] is not None]
        first = with_usage[0][1] if with_usage else None
        last = with_usage[-1][1] if with_usage else None
        first_at = min(r["created_at"] for r in rs)
        last_at = max(r["ended_at"] or r["created_at"] for r in rs)
        out[thread] = {
            "thread_id": thread,
            "api": rs[0]["api"],
            "assistant_id": rs[0]["assistant_id"],
            "assistants": len({r["assistant_id"] for r in rs if r["assistant_id"]}),
            "runs": len(rs),
            "turns": len(turns),
            "failed_turns": sum(t["status"] in FAILURE for t in turns),
            "first_at": first_at,
            "last_at": last_at,
            "duration_s": (last_at - first_at).total_seconds(),
            "prompt_tokens": total(r["prompt_tokens"] for r in rs),
            "completion_tokens": total(r["completion_tokens"] for r in rs),
            "total_tokens": total(r["total_tokens"] for r in rs),
            "prompt_tokens_by_turn": [t["prompt_tokens"] for t in turns] if turns else None,
            "first_turn_prompt_tokens": first,
            "last_turn_prompt_tokens": last,
            "max_turn_prompt_tokens": max((y for _, y in with_usage), default=None),
            "prompt_growth_per_turn": slope(with_usage),
            "prompt_growth_ratio": (last / first if len(with_usage) >= 2 and first
                                    else None),
            "cost_usd": total(r["cost_usd"] for r in rs),
            "turn_cost_p95_usd": quantile_cont(
                [t["cost_usd"] for t in turns if t["cost_usd"] is not None], 0.95),
            "unpriced_turns": sum(t["prompt_tokens"] is not None and t["cost_usd"] is None
                                  for t in turns),
        }
    return out


def same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9,
                                                                abs_tol=1e-12)
    return a == b


def test_threads_equal_a_plain_python_computation(con):
    runs = rows(con, "select * from runs")
    want = expected_threads(runs)
    got = rows(con, "from threads")
    assert [r["thread_id"] for r in got] == sorted(want, key=lambda t: (want[t]["first_at"],
                                                                        t))
    for row in got:
        expected = want[row["thread_id"]]
        assert set(row) == set(expected)
        for column, value in expected.items():
            assert same(row[column], value), (row["thread_id"], column, row[column], value)


def test_the_generated_data_exercises_every_column(con):
    """So that the comparison above compared something: several turns, growth, failures,
    unfinished runs, unpriced turns."""
    (stats,) = rows(con, """
        select count(*) as threads, max(turns) as max_turns,
               count(*) filter (where runs > turns) as with_unfinished_runs,
               sum(failed_turns) as failed_turns, sum(unpriced_turns) as unpriced_turns,
               count(prompt_growth_per_turn) as with_growth,
               count(*) filter (where prompt_growth_per_turn < 0) as shrinking,
               count(turn_cost_p95_usd) as with_cost
        from threads""")
    assert stats["threads"] > 100 and stats["max_turns"] >= 3
    assert all(stats[k] > 0 for k in ("with_unfinished_runs", "failed_turns",
                                      "unpriced_turns", "with_growth", "shrinking",
                                      "with_cost")), stats
    (responses,) = rows(con, "select count(*) as n, max(turns) as max_turns, "
                             "count(prompt_growth_per_turn) as with_growth from threads "
                             "where api = 'responses'")
    assert responses["n"] > 20 and responses["max_turns"] >= 2 and responses["with_growth"]
