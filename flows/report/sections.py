"""The report's sections: each a query over the warehouse views, and its result.

A section's `key` is the name of the view it reads, so the JSON output, the Prefect
artifacts and the tables all name a section the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb


@dataclass(frozen=True)
class Section:
    """One table of the report: a query over the warehouse views."""

    key: str
    title: str
    query: str
    note: str = ""


SECTIONS: tuple[Section, ...] = (
    Section("step_latency", "step_latency",
            "from step_latency",
            "Latency of completed steps (seconds)."),
    Section("failure_rate", "failure_rate",
            "from failure_rate",
            "Terminal outcomes of steps."),
    Section("token_usage", "token_usage",
            "from token_usage",
            "Token sums from steps that report usage."),
    Section("tool_stats", "tool_stats",
            "from tool_stats",
            "Calls and failures per tool type and function."),
    Section("run_lifecycle_stats", "run_lifecycle_stats (all runs)",
            "select measure, n, mean, p50, p90, p95, p99, max from run_lifecycle_stats "
            "where dimension = 'all' order by measure",
            "Where a run's time goes, over runs in a terminal state (seconds or counts)."),
    Section("run_failure_funnel", "run_failure_funnel (all runs)",
            "select status, last_error_code, incomplete_reason, runs, share_of_runs, "
            "share_of_terminal from run_failure_funnel where dimension = 'all'",
            "How runs ended."),
    Section("step_failure_funnel", "step_failure_funnel (all steps)",
            "select status, last_error_code, steps, share_of_steps, share_of_terminal "
            "from step_failure_funnel where dimension = 'all'",
            "How steps ended."),
    Section("failing_step_tools", "failing_step_tools",
            "from failing_step_tools",
            "What the steps that failed, were cancelled or expired had called."),
    Section("tool_analytics", "tool_analytics",
            "select tool_type, function_name, calls, calls_per_run, failure_rate, "
            "step_p50_s, step_p95_s, args_chars_mean, output_chars_mean, invalid_json_args, "
            "file_search_results_mean, code_log_chars_mean, code_images from tool_analytics",
            "Per tool type and function."),
    Section("usage_cost", "usage_cost (all, assistant_id, model)",
            "select dimension, value, steps, unpriced_steps, prompt_tokens, cached_tokens, "
            "completion_tokens, cost_usd from usage_cost "
            "where dimension in ('all', 'assistant_id', 'model')",
            "USD at list prices (data/prices.csv or your override); unpriced usage is "
            "counted, never priced at zero."),
    Section("tool_cost", "tool_cost",
            "from tool_cost",
            "USD of tool-calling steps, split evenly over their calls."),
    Section("unpriced_models", "unpriced_models",
            "from unpriced_models",
            "Usage without a price: add these models to your price file."),
    Section("migration", "migration (Assistants API vs Responses API)",
            "select dimension, value, assistants_runs, responses_runs, assistants_p50_s, "
            "responses_p50_s, assistants_p95_s, responses_p95_s, assistants_failure_rate, "
            "responses_failure_rate, assistants_tokens_per_run, responses_tokens_per_run, "
            "assistants_cached_share, responses_cached_share, assistants_cost_per_run_usd, "
            "responses_cost_per_run_usd, assistants_unpriced_runs, responses_unpriced_runs "
            "from migration where dimension in ('all', 'model') "
            "order by dimension, assistants_runs + responses_runs desc, value",
            "Both APIs side by side, overall and per model (as priced): wall time of the "
            "runs that ended (seconds), failure rate, tokens and cost per run."),
    Section("threads", "threads (prompts growing fastest)",
            "select thread_id, assistant_id, turns, failed_turns, first_turn_prompt_tokens, "
            "last_turn_prompt_tokens, prompt_growth_per_turn, prompt_growth_ratio, cost_usd "
            "from threads where prompt_growth_per_turn is not null "
            "order by prompt_growth_per_turn desc, thread_id limit 10",
            "Context bloat: prompt tokens added per turn (least-squares slope over the "
            "turns that report usage)."),
    Section("version_comparison", "version_comparison (latest configuration changes)",
            "select assistant_id, version, previous_version, changed, changed_at, "
            "runs_before, runs_after, p95_duration_s_before, p95_duration_s_after, "
            "failure_rate_before, failure_rate_after, cost_per_run_usd_before, "
            "cost_per_run_usd_after from version_comparison "
            "order by changed_at desc nulls last, assistant_id, version limit 10",
            "Each change of an assistant's configuration (model, instructions, tools, "
            "sampling) against the version it replaced, over all runs of each version."),
    Section("cost_reconciliation", "cost_reconciliation (days and models off the bill)",
            "select day, model, finding, requests_seen, requests_billed, request_gap, "
            "estimated_cost_usd, billed_cost_usd, cost_gap_usd, cost_gap_pct "
            "from cost_reconciliation where finding not in ('ok', 'no_billing_data') "
            "order by day desc, model nulls last limit 15",
            "The Usage and Costs API exports against the export: billed minus seen "
            "(positive: the bill holds more than the export explains)."),
)


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


def sections(con: duckdb.DuckDBPyConnection,
             wanted: Iterable[Section] = SECTIONS) -> dict[str, Table]:
    """Every section's rows, keyed by section key, in report order."""
    out = {}
    for s in wanted:
        columns, rows = query(con, s.query)
        out[s.key] = Table(s.title, s.note, columns, rows)
    return out
