"""The report's sections: each the rows of one view, and its result.

A section's `key` names the metric view it shows (its rows may come from a `report_*`
view that selects from it), so the JSON output, the Prefect artifacts and the tables
all name a section the same way. No SQL here beyond `from VIEW`: the views are in
transforms/sql/ (docs/views.md, "Views").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb


@dataclass(frozen=True)
class Section:
    """One table of the report: all the rows of one view.

    The SQL lives in the view (transforms/sql/metrics or transforms/sql/report), so the
    terminal, Markdown, JSON and HTML reports and a user's `steplens sql "from VIEW"`
    read the same definition. The title and the view are the key unless said otherwise
    (a `report_*` view over the metric view the key names).
    """

    key: str
    note: str = ""
    title: str = ""
    view: str = ""

    def __post_init__(self) -> None:
        for name in ("title", "view"):
            if not getattr(self, name):
                object.__setattr__(self, name, self.key)

    @property
    def query(self) -> str:
        return f"from {self.view}"


SECTIONS: tuple[Section, ...] = (
    Section("step_latency", note="Latency of completed steps (seconds)."),
    Section("failure_rate", note="Terminal outcomes of steps."),
    Section("token_usage", note="Token sums from steps that report usage."),
    Section("tool_stats", note="Calls and failures per tool type and function."),
    Section("run_lifecycle_stats", title="run_lifecycle_stats (all runs)",
            view="report_run_lifecycle_stats",
            note="Where a run's time goes, over runs in a terminal state (seconds or "
            "counts)."),
    Section("run_failure_funnel", title="run_failure_funnel (all runs)",
            view="report_run_failure_funnel", note="How runs ended."),
    Section("step_failure_funnel", title="step_failure_funnel (all steps)",
            view="report_step_failure_funnel", note="How steps ended."),
    Section("failing_step_tools",
            note="What the steps that failed, were cancelled or expired had called."),
    Section("tool_analytics", view="report_tool_analytics",
            note="Per tool type and function."),
    Section("usage_cost", title="usage_cost (all, assistant_id, model)",
            view="report_usage_cost",
            note="USD at list prices (data/prices.csv or your override); unpriced usage "
            "is counted, never priced at zero."),
    Section("tool_cost", note="USD of tool-calling steps, split evenly over their calls, and "
            "the built-in tools' own charges (per call or session, data/tool_prices.csv)."),
    Section("unpriced_models",
            note="Usage without a price: add these models to your price file."),
    Section("unpriced_tools",
            note="Built-in tool charges without a price (data/tool_prices.csv): not in "
            "the cost."),
    Section("migration", title="migration (Assistants API vs Responses API)",
            view="report_migration",
            note="Both APIs side by side, overall and per model (as priced): wall time "
            "of the runs that ended (seconds), failure rate, tokens and cost per run."),
    Section("threads", title="threads (prompts growing fastest)", view="report_threads",
            note="Context bloat: prompt tokens added per turn (least-squares slope over "
            "the turns that report usage)."),
    Section("version_comparison",
            title="version_comparison (latest configuration changes)",
            view="report_version_comparison",
            note="Each change of an assistant's configuration (model, instructions, "
            "tools, sampling) against the version it replaced, over all runs of each "
            "version."),
    Section("cost_reconciliation",
            title="cost_reconciliation (days and models off the bill)",
            view="report_cost_reconciliation",
            note="The Usage and Costs API exports against the export: billed minus seen "
            "(positive: the bill holds more than the export explains)."),
)
BY_KEY: dict[str, Section] = {s.key: s for s in SECTIONS}


@dataclass
class Table:
    """A query result: column names and rows."""

    title: str
    note: str
    columns: list[str]
    rows: list[tuple]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def query(con: duckdb.DuckDBPyConnection, sql: str,
          params: dict[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
    rel = con.sql(sql, params=params) if params else con.sql(sql)
    return list(rel.columns), rel.fetchall()


def view(con: duckdb.DuckDBPyConnection, name: str,
         params: dict[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
    """All rows of one view (or of one table macro, `name($unit)` with `params`)."""
    return query(con, f"from {name}", params)


def record(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    """The one row of a one-row view (report_overview), as a dict."""
    columns, rows = view(con, name)
    return dict(zip(columns, rows[0], strict=True))


def sections(con: duckdb.DuckDBPyConnection,
             wanted: Iterable[Section] = SECTIONS) -> dict[str, Table]:
    """Every section's rows, keyed by section key, in report order."""
    out = {}
    for s in wanted:
        columns, rows = query(con, s.query)
        out[s.key] = Table(s.title, s.note, columns, rows)
    return out
