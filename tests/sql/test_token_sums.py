"""Token sums cannot overflow (issue 18, item 2): the `token_stats` macro over more rows
at the per-line maximum (2^53) than a BIGINT holds answers NULL for that sum instead of
failing the query, and sums that fit are exact (checked against Python's integers)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from steplens import transforms
from steplens.transforms.rulebook import MAX_TOKENS

SQL = Path(transforms.__file__).parent / "sql" / "macros" / "token_stats.sql"


def test_token_stats_never_raises_and_is_exact_when_it_fits():
    con = duckdb.connect()
    con.execute(SQL.read_text())
    n = 1100  # 1100 * 2^53 > 2^63 - 1
    con.execute("create table u as select $big::bigint as prompt_tokens, 1::bigint as "
                "cached_tokens, 2::bigint as completion_tokens, null::bigint as "
                "reasoning_tokens, $big::bigint as total_tokens, 0.5::double as cost_usd "
                "from range($n)", {"big": MAX_TOKENS, "n": n})
    ((stats,),) = con.sql("select token_stats(prompt_tokens, cached_tokens, completion_tokens, "
                       "reasoning_tokens, total_tokens, cost_usd) from u").fetchall()
    assert n * MAX_TOKENS > 2**63 - 1
    assert stats["prompt_tokens"] is None and stats["total_tokens"] is None  # not an error
    assert (stats["cached_tokens"], stats["completion_tokens"]) == (n, 2 * n)
    ((fits,),) = con.sql("select token_stats(prompt_tokens, cached_tokens, completion_tokens, "
                      "reasoning_tokens, total_tokens, cost_usd) from (from u limit 1000)"
                      ).fetchall()
    assert fits["total_tokens"] == 1000 * MAX_TOKENS  # exact past 2^53
