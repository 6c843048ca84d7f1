"""Model prices: reading and checking price files, the per-model override, and the SQL
that matches a model and a day to a price (inline micro-tables, in-memory DuckDB)."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import duckdb
import pytest

from steplens.flows.errors import InputError
from steplens.flows.store import prices, views
from tests.support.ingest import ingest_direct
from tests.support.paths import SAMPLE

HEADER = "model,effective_from,prompt_usd_per_1m,cached_prompt_usd_per_1m,completion_usd_per_1m\n"
D = dt.date.fromisoformat


def write(tmp_path, text: str, name: str = "prices.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_table_reads_and_covers_the_assistants_models():
    rows = prices.shipped_prices()
    models = {p.model for p in rows}
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4-turbo", "gpt-4-turbo-preview", "gpt-4",
                  "gpt-3.5-turbo", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1",
                  "o1-mini", "o3", "o3-mini", "o4-mini"):
        assert model in models, model
    assert all(p.prompt_usd_per_1m > 0 and p.completion_usd_per_1m > 0 for p in rows)
    shipped = resources.files("steplens.data").joinpath("prices.csv").read_text()
    assert "list prices" in shipped


def test_comments_blank_lines_extra_columns_and_empty_cached_price(tmp_path):
    path = write(tmp_path, "# my negotiated prices\n\n" + HEADER.strip() + ",note\n"
                 "gpt-4o,2024-05-13,4,,12,contract A\n"
                 "gpt-4o,2024-10-02,2,1,8,\n")
    rows = prices.read_prices(path)
    assert [(p.model, p.effective_from, p.prompt_usd_per_1m, p.cached_prompt_usd_per_1m,
             p.completion_usd_per_1m, p.source) for p in rows] == [
        ("gpt-4o", D("2024-05-13"), 4.0, None, 12.0, "user"),
        ("gpt-4o", D("2024-10-02"), 2.0, 1.0, 8.0, "user"),
    ]


@pytest.mark.parametrize("text, message", [
    ("model,prompt_usd_per_1m\ngpt-4o,1\n", r"missing column\(s\) effective_from"),
    (HEADER + "gpt-4o,13/05/2024,1,,2\n", "not a YYYY-MM-DD date"),
    (HEADER + "gpt-4o,2024-05-13,cheap,,2\n", "prompt_usd_per_1m is not a number"),
    (HEADER + "gpt-4o,2024-05-13,-1,,2\n", "must be a number >= 0"),
    (HEADER + "gpt-4o,2024-05-13,1,,\n", "completion_usd_per_1m is empty"),
    (HEADER + ",2024-05-13,1,,2\n", "model is empty"),
    (HEADER + "gpt-4o,2024-05-13,1,,2\ngpt-4o,2024-05-13,2,,3\n", "already priced on line 2"),
    ("# only a comment\n", "no header line"),
])
def test_bad_price_files_name_file_line_and_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(prices.PricesError, match=message) as err:
        prices.read_prices(path)
    assert isinstance(err.value, InputError)  # the CLI prints it as one line
    assert str(path) in str(err.value)


def test_missing_price_file(tmp_path):
    with pytest.raises(prices.PricesError, match="not found"):
        prices.read_prices(tmp_path / "nope.csv")


def P(model, day, prompt, completion, cached=None, source="shipped", write=None):  # noqa: N802
    return prices.Price(model, D(day), prompt, cached, completion, source, write)


def test_user_rows_replace_every_shipped_row_of_their_models():
    shipped = [P("gpt-4o", "2024-05-13", 5, 15), P("gpt-4o", "2024-10-02", 2.5, 10),
               P("gpt-4", "2023-03-14", 30, 60)]
    user = [P("gpt-4o", "2024-01-01", 1, 2, source="user"),
            P("my-model", "2024-01-01", 3, 4, source="user")]
    merged = prices.merge(shipped, user)
    assert [(p.model, p.effective_from, p.source) for p in merged] == [
        ("gpt-4", D("2023-03-14"), "shipped"),
        ("gpt-4o", D("2024-01-01"), "user"),
        ("my-model", D("2024-01-01"), "user"),
    ]


# ---- SQL: matching and cost -------------------------------------------------------------

MICRO_PRICES = [
    P("gpt-4", "2023-03-14", 30, 60),
    P("gpt-4-turbo", "2024-04-09", 10, 30),
    P("gpt-4o", "2024-05-13", 5, 15),
    P("gpt-4o", "2024-10-02", 2.5, 10, cached=1.25),
    P("gpt-4o-mini", "2024-07-18", 0.15, 0.6, cached=0.075),
    P("gpt-5.6-sol", "2026-06-26", 5, 30, cached=0.5, write=6.25),
]


@pytest.fixture
def micro():
    """An in-memory DuckDB with the price macros and a micro price table."""
    con = duckdb.connect()
    prices.load(con, prices.PriceTable(tuple(MICRO_PRICES)))
    by_name = {m.name: m.text for m in views.sql_models()}
    for name in ("price_model", "token_cost_usd", "with_cost_usd"):
        con.execute(by_name[name])
    con.execute("create table t (model varchar, day date, prompt_tokens bigint, "
                "cached_tokens bigint, completion_tokens bigint)")
    # the usage of a model before cache writes: none reported
    con.execute("create view tc as select *, null::bigint as cache_write_tokens from t")
    yield con
    con.close()


@pytest.mark.parametrize("model, day, expected_model, expected_usd", [
    # exact name; the row in force that day
    ("gpt-4o", "2024-06-01", "gpt-4o", (1000 * 5 + 100 * 15) / 1e6),
    ("gpt-4o", "2024-10-02", "gpt-4o", (1000 * 2.5 + 100 * 10) / 1e6),
    # snapshot names: the longest price-table name that is a prefix followed by '-'
    ("gpt-4o-mini-2024-07-18", "2024-08-01", "gpt-4o-mini", (1000 * 0.15 + 100 * 0.6) / 1e6),
    ("gpt-4o-2024-08-06", "2024-11-01", "gpt-4o", (1000 * 2.5 + 100 * 10) / 1e6),
    ("gpt-4-turbo-2024-04-09", "2024-05-01", "gpt-4-turbo", (1000 * 10 + 100 * 30) / 1e6),
    ("gpt-4-0613", "2024-05-01", "gpt-4", (1000 * 30 + 100 * 60) / 1e6),
    # a prefix without the '-' boundary never matches: unpriced, not priced as gpt-4
    ("gpt-4.5-preview", "2025-03-01", None, None),
    ("gpt-4oo", "2024-06-01", None, None),
    # before the model's first price: unpriced
    ("gpt-4o-mini", "2024-07-17", "gpt-4o-mini", None),
    ("o3-mini", "2025-03-01", None, None),
    (None, "2025-03-01", None, None),
])
def test_model_and_day_pick_the_price(micro, model, day, expected_model, expected_usd):
    micro.execute("insert into t values ($model, $day, 1000, null, 100)",
                  {"model": model, "day": day})
    got_model, got_usd = micro.sql("select price_model(model), cost_usd "
                                   "from with_cost_usd('tc')").fetchall()[0]
    assert got_model == expected_model
    assert got_usd == pytest.approx(expected_usd) if expected_usd else got_usd is None


@pytest.mark.parametrize("prompt, cached, completion, expected", [
    # cached prompt tokens at the cached price where one exists
    (1000, 400, 100, (600 * 2.5 + 400 * 1.25 + 100 * 10) / 1e6),
    (1000, None, 100, (1000 * 2.5 + 100 * 10) / 1e6),
    (None, None, 100, (100 * 10) / 1e6),
    (1000, 5000, 0, (1000 * 1.25) / 1e6),  # more cached than prompt: capped
    (None, None, None, None),  # no usage: no cost
])
def test_cost_formula(micro, prompt, cached, completion, expected):
    micro.execute("insert into t values ('gpt-4o', date '2024-12-01', $p, $c, $o)",
                  {"p": prompt, "c": cached, "o": completion})
    got = micro.sql("select cost_usd from with_cost_usd('tc')").fetchall()[0][0]
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_cached_tokens_at_prompt_price_when_no_cached_price(micro):
    micro.execute("insert into t values ('gpt-4-turbo', date '2024-12-01', 1000, 400, 100)")
    got = micro.sql("select cost_usd from with_cost_usd('tc')").fetchall()[0][0]
    assert got == pytest.approx((1000 * 10 + 100 * 30) / 1e6)


@pytest.mark.parametrize("model, prompt, cached, written, completion, expected", [
    # writes at their own price where the model has one, apart from the cached tokens
    ("gpt-5.6-sol", 10_000, 2000, 400, 100, (7600 * 5 + 2000 * 0.5 + 400 * 6.25 + 100 * 30) / 1e6),
    ("gpt-5.6-sol", 10_000, 0, 10_000, 0, (10_000 * 6.25) / 1e6),  # a cold cache: all written
    ("gpt-5.6-sol", 1000, 800, 900, 0, (800 * 0.5 + 200 * 6.25) / 1e6),  # over the prompt: cut
    ("gpt-5.6-sol", 1000, None, None, 10, (1000 * 5 + 10 * 30) / 1e6),
    ("gpt-5.6-sol", 1000, 0, -500, 10, (1000 * 5 + 10 * 30) / 1e6),  # negative: none
    # a model without a cache-write price: writes are prompt tokens at the prompt price
    ("gpt-4o", 1000, 400, 300, 100, (600 * 2.5 + 400 * 1.25 + 100 * 10) / 1e6),
])
def test_cache_writes(micro, model, prompt, cached, written, completion, expected):
    micro.execute("create table w as select *, 0::bigint as cache_write_tokens from t")
    micro.execute("insert into w values ($m, date '2026-08-01', $p, $c, $o, $w)",
                  {"m": model, "p": prompt, "c": cached, "o": completion, "w": written})
    got = micro.sql("select cost_usd from with_cost_usd('w')").fetchall()[0][0]
    assert got == pytest.approx(expected)


def test_shipped_cache_write_prices_follow_the_published_rule():
    """Writes cost 1.25 x the uncached input on GPT-5.6 models (and are not priced apart on
    any model before them): every shipped cache-write price is that."""
    shipped = prices.shipped_prices()
    written = [p for p in shipped if p.cache_write_usd_per_1m is not None]
    assert {p.model for p in written} == {"gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna"}
    for p in written:
        assert p.cache_write_usd_per_1m == pytest.approx(1.25 * p.prompt_usd_per_1m)


def test_with_cost_usd_keeps_every_row(micro):
    rows = [("gpt-4o", f"2024-{m:02d}-01", m, None, m) for m in (12, 1, 7, 3, 11)]
    rows += [(None, "2024-01-01", 1, None, 1), ("gpt-4o", None, 1, None, 1)]
    micro.executemany("insert into t values (?, ?, ?, ?, ?)", rows)
    got = micro.sql("select * exclude (cost_usd, cache_write_tokens) "
                    "from with_cost_usd('tc')").fetchall()
    assert sorted(got, key=repr) == sorted(
        [(m, None if d is None else D(d), p, c, o) for m, d, p, c, o in rows], key=repr)


# ---- the override reaches the warehouse and is remembered --------------------------------

def test_override_is_remembered_and_changes_rebuild_the_duckdb_file(tmp_path):
    wh = tmp_path / "wh"
    ingest_direct([SAMPLE], wh)
    (wh / "steplens.duckdb").unlink()

    def gpt4o_price() -> tuple:
        with views.connect(wh / "steplens.duckdb", read_only=True) as con:
            return con.sql("select prompt_usd_per_1m, source from model_prices "
                           "where model = 'gpt-4o' order by effective_from").fetchall()

    views.build_duckdb(wh)
    shipped = gpt4o_price()
    assert {s for _, s in shipped} == {"shipped"}

    mine = write(tmp_path, HEADER + "gpt-4o,2020-01-01,1,,2\n", "mine.csv")
    views.build_duckdb(wh, mine)
    assert gpt4o_price() == [(1.0, "user")]
    assert (wh / prices.WAREHOUSE_COPY).read_text() == mine.read_text()

    mine.write_text(HEADER + "gpt-4o,2020-01-01,3,,4\n")  # the copy, not the file, counts
    before = (wh / "steplens.duckdb").stat().st_mtime_ns
    views.build_duckdb(wh)  # no override: the remembered copy, nothing changed
    assert gpt4o_price() == [(1.0, "user")]
    assert (wh / "steplens.duckdb").stat().st_mtime_ns == before

    views.build_duckdb(wh, mine)  # new content: rebuilt
    assert gpt4o_price() == [(3.0, "user")]

    (wh / prices.WAREHOUSE_COPY).unlink()  # back to the shipped prices
    views.build_duckdb(wh)
    assert gpt4o_price() == shipped


def test_bad_override_leaves_warehouse_untouched(tmp_path):
    bad = write(tmp_path, HEADER + "gpt-4o,yesterday,1,,2\n")
    with pytest.raises(prices.PricesError):
        prices.price_table(tmp_path / "wh", bad)
    assert not (tmp_path / "wh" / prices.WAREHOUSE_COPY).exists()


# ---- built-in tool prices ---------------------------------------------------------------

TOOL_HEADER = "api,tool,model,effective_from,unit,usd_per_unit,source\n"


def test_shipped_tool_prices_parse_and_cite_their_source():
    text = (Path(__file__).resolve().parents[3] / "data" / "tool_prices.csv").read_text()
    cited = {line.split("]")[0].lstrip("# [") for line in text.splitlines()
             if line.startswith("# [")}
    rows = prices.shipped_tool_prices()
    assert rows and all(r.source in cited for r in rows)
    assert {(r.api, r.tool) for r in rows} >= {
        ("assistants", "code_interpreter"), ("responses", "file_search"),
        ("responses", "web_search"), ("responses", "code_interpreter")}
    assert not any(r.tool == "image_generation" for r in rows)  # unpriced, on purpose


@pytest.mark.parametrize("line, message", [
    ("chat,web_search,,2025-01-01,call,0.01,x", "api must be one of"),
    ("responses,web_search,,2025-01-01,image,0.01,x", "unit must be one of"),
    ("responses,,,2025-01-01,call,0.01,x", "tool is empty"),
    ("responses,web_search,,2025-13-01,call,0.01,x", "not a YYYY-MM-DD"),
    ("responses,web_search,,2025-01-01,call,-1,x", "must be a number >= 0"),
    ("responses,web_search,,2025-01-01,call,,x", "usd_per_unit is empty"),
])
def test_bad_tool_price_lines_name_file_and_line(line, message):
    with pytest.raises(prices.PricesError, match=rf"tools\.csv:3: .*{message}"):
        prices.parse_tool_prices("# c\n" + TOOL_HEADER + line + "\n", "tools.csv")


def test_a_tool_priced_twice_on_one_day_is_refused():
    text = TOOL_HEADER + "responses,web_search,,2025-01-01,call,0.01,x\n" * 2
    with pytest.raises(prices.PricesError, match="already priced on line 2"):
        prices.parse_tool_prices(text, "tools.csv")
