"""The first screen: what `steplens report` prints, one screen that answers "how are my
agents doing" (issue 19).

Modelled on the end-of-run summaries people read without scrolling (k6, `vegeta
report`, hyperfine): the period and volume, then health (failure rates, how runs that
did not complete ended), speed (percentiles, slowest assistants and tools), money
(tokens, cost, top models, unpriced models), the API migration in one line, and one line
saying where the rest is. Every figure comes from a view of transforms/sql/report
(`report_overview` and its neighbours), so `steplens sql "from report_overview"` shows
the same numbers. At most `MAX_LINES` lines, none wider than the width it is given (80
columns at most): lists are cut to their top rows, with "N more" and the command that
shows them all. One table style: a header, right-aligned numbers, no rules.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from steplens.flows.report.sections import record, view

MAX_WIDTH = 80
MAX_LINES = 48  # fits an 80x50 terminal with the prompt line above and below
INDENT = "  "

# How many rows of each list the screen shows (the rest: "N more" and a command).
TOP_REASONS = 5
TOP_ASSISTANTS = 3
TOP_TOOLS = 3
TOP_MODELS = 4
TOP_UNPRICED = 3


# ---- human numbers -----------------------------------------------------------------------

def plural(n: int, what: str) -> str:
    """`1 day`, `632 days`."""
    return f"{n:,} {what}" + ("" if n == 1 else "s")


def _or_na(fmt: Callable[[Any], str]) -> Callable[[Any], str]:
    """The formatter `fmt`, with a missing figure (None) shown as `n/a`: one wording of
    "not known" on the whole screen, never a 0 that would read as a measurement."""

    @functools.wraps(fmt)
    def formatted(v: Any) -> str:
        return "n/a" if v is None else fmt(v)

    return formatted


@_or_na
def count(n: int) -> str:
    """1234567 -> `1,234,567`: counts stay exact."""
    return f"{n:,}"


@_or_na
def tokens(n: float) -> str:
    """1_370_000 -> `1.37 M`; 950_400 -> `950 k`; 812 -> `812`: three figures."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        v = n / size
        if abs(v) >= 0.9995:
            digits = 2 if abs(v) < 9.995 else 1 if abs(v) < 99.95 else 0
            return f"{v:.{digits}f} {unit}"
    return f"{n:.0f}"


@_or_na
def usd(v: float) -> str:
    """`$5.14`, `$1,234`, `$0.50`, `$0.017`: cents from a dime up, two figures below."""
    if v == 0:
        return "$0"
    if abs(v) >= 1000:
        return f"${v:,.0f}"
    if abs(v) >= 0.1:
        return f"${v:,.2f}"
    return f"${v:.2g}"


@_or_na
def seconds(v: float) -> str:
    """`0.45 s`, `3.0 s`, `42 s`, `2.5 min`, `1.2 h`."""
    if v < 1:
        return f"{v:.2f} s"
    if v < 9.95:
        return f"{v:.1f} s"
    if v < 59.5:
        return f"{v:.0f} s"
    if v < 3570:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.1f} h"


@_or_na
def pct(v: float) -> str:
    """A rate as a percentage: `4.3%`, `<0.1%` (never a non-zero rate shown as 0)."""
    if v < 0.001:  # shown with one decimal, it would read 0.0%
        return "0%" if v == 0 else "<0.1%"
    return f"{100 * v:.1f}%"


# ---- the one table style -----------------------------------------------------------------

@dataclass(frozen=True)
class Col:
    """A column of a screen table; the first column is the label and takes the width
    left over (cut with `…`), the others are right-aligned numbers."""

    name: str
    width: int = 0  # at least this wide (values and header widen it)


def table(columns: list[Col], rows: list[list[str]], width: int) -> list[str]:
    """A header and one line per row; never wider than `width`."""
    widths = [max([c.width, len(c.name), *(len(r[i]) for r in rows)])
              for i, c in enumerate(columns)]
    rest = sum(widths[1:]) + 2 * (len(columns) - 1)
    label = max(min(widths[0], width - len(INDENT) - rest), 8)

    def line(cells: list[str]) -> str:
        head = cells[0] if len(cells[0]) <= label else cells[0][:label - 1] + "…"
        parts = [head.ljust(label)] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:],
                                                                   strict=True)]
        return (INDENT + "  ".join(parts)).rstrip()[:width]

    return [line([c.name for c in columns]), *(line(r) for r in rows)]


def _more(hidden: int, what: str, command: str, hint: str, width: int) -> list[str]:
    """`… 12 more reasons: COMMAND`: shorter forms when it does not fit, and a command is
    never cut (the warehouse flag goes before the command does)."""
    if hidden <= 0:
        return []
    for text in (f"{INDENT}… {hidden} more {what}: {command}{hint}",
                 f"{INDENT}… {hidden} more: {command}{hint}",
                 f"{INDENT}… {hidden} more {what}: {command}",
                 f"{INDENT}… {hidden} more: {command}"):
        if len(text) <= width:
            return [text]
    return [_fit(f"{INDENT}… {hidden} more {what}", width)]


# ---- the screen --------------------------------------------------------------------------

@dataclass
class ScreenData:
    """What the first screen shows: the rows of the report views it reads."""

    overview: dict[str, Any]
    reasons: list[dict[str, Any]]
    assistants: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    models: list[dict[str, Any]]
    unpriced: list[dict[str, Any]]
    migration: dict[str, Any] | None
    unpriced_tools: list[dict[str, Any]] = field(default_factory=list)


def _records(con: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, Any]]:
    columns, rows = view(con, name)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def load(con: duckdb.DuckDBPyConnection) -> ScreenData:
    """Read the first screen's views (each one query; lists are cut when drawn)."""
    migration = [r for r in _records(con, "report_migration") if r["dimension"] == "all"]
    return ScreenData(
        overview=record(con, "report_overview"),
        reasons=_records(con, "report_failure_reasons"),
        assistants=_records(con, "report_slowest_assistants"),
        tools=_records(con, "report_slowest_tools"),
        models=_records(con, "report_top_models"),
        unpriced=_records(con, "unpriced_models"),
        migration=migration[0] if migration else None,
        unpriced_tools=_records(con, "unpriced_tools"),
    )


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _period(o: dict[str, Any]) -> str:
    first, last = o["first_day"], o["last_day"]
    if first is None:
        return "no data"
    days = (last - first).days + 1 if isinstance(first, dt.date) else None
    return f"{first} .. {last}" + (f" ({plural(days, 'day')})" if days else "")


def _volume(o: dict[str, Any]) -> list[str]:
    """`Volume` (runs, steps, tool calls) and, with both APIs, how the runs split."""
    out = [f"Volume  {count(o['runs'])} runs · {count(o['steps'])} steps · "
           f"{count(o['tool_calls'])} tool calls"]
    if o["assistants_runs"] and o["responses_runs"]:
        out.append(f"APIs    {count(o['assistants_runs'])} Assistants API runs, "
                   f"{count(o['responses_runs'])} Responses API runs")
    else:
        out[0] += " (Responses API)" if o["responses_runs"] else " (Assistants API)"
    return out


def _health(d: ScreenData, width: int, hint: str) -> list[str]:
    o = d.overview
    lines = ["HEALTH"]
    for label, rate, of, extra in (
            ("Runs failed", o["run_failure_rate"],
             f"{count(o['failed_runs'])} of {count(o['terminal_runs'])} that ended",
             f"; with expired {pct(o['run_failed_or_expired_rate'])}"),
            ("Steps failed", o["step_failure_rate"],
             f"{count(o['failed_steps'])} of {count(o['terminal_steps'])} that ended", ""),
            ("Tool calls failed", o["tool_call_failure_rate"],
             f"{count(o['failed_tool_calls'])} of {count(o['ended_tool_calls'])} that ended",
             "")):
        text = f"{INDENT}{label:<18}{pct(rate):>6}  ({of}{extra})"
        lines.append(text if len(text) <= width else _fit(f"{INDENT}{label:<18}"
                                                          f"{pct(rate):>6}  ({of})", width))
    if d.reasons:
        shown = d.reasons[:TOP_REASONS]
        rows = [[f"{r['status']}: {r['reason']}" if r["reason"] else str(r["status"]),
                 count(r["runs"]), pct(r["share_of_terminal"])] for r in shown]
        lines += table([Col("Runs that did not complete, by reason"), Col("runs", 7),
                        Col("of ended", 8)], rows, width)
        lines += _more(len(d.reasons) - len(shown), "reasons",
                       "steplens report run_failure_funnel", hint, width)
    else:
        lines.append(f"{INDENT}Every run that ended completed.")
    return lines


def _speed(d: ScreenData, width: int, hint: str) -> list[str]:
    o = d.overview
    lines = ["SPEED"]
    lines += table([Col("Latency"), Col("p50", 8), Col("p95", 8), Col("p99", 8)], [
        ["step (completed steps)" if o["step_p50_s"] is not None
         else "step (none has a time: Responses items)" if o["responses_runs"]
         else "step (no completed step)", seconds(o["step_p50_s"]), seconds(o["step_p95_s"]),
         seconds(o["step_p99_s"])],
        ["run (wall time of runs that ended)", seconds(o["run_p50_s"]),
         seconds(o["run_p95_s"]), seconds(o["run_p99_s"])],
    ], width)
    if d.assistants:
        shown = d.assistants[:TOP_ASSISTANTS]
        rows = [[r["assistant_id"] or f"(none, {r['api']} API)",
                 count(r["runs"]), seconds(r["p50_s"]), seconds(r["p95_s"]),
                 seconds(r["p99_s"])] for r in shown]
        lines += table([Col("Slowest assistants / prompts (run p95)"), Col("runs", 6),
                        Col("p50", 8), Col("p95", 8), Col("p99", 8)], rows, width)
        lines += _more(len(d.assistants) - len(shown), "assistants",
                       'steplens sql "from report_slowest_assistants"', hint, width)
    if d.tools:
        shown = d.tools[:TOP_TOOLS]
        rows = [[str(r["tool"]), count(r["calls"]), seconds(r["step_p50_s"]),
                 seconds(r["step_p95_s"]), pct(r["failure_rate"])] for r in shown]
        lines += table([Col("Slowest tools (p95 of their steps)"), Col("calls", 6),
                        Col("p50", 8), Col("p95", 8), Col("failed", 8)], rows, width)
        lines += _more(len(d.tools) - len(shown), "tools",
                       'steplens sql "from report_slowest_tools"', hint, width)
    return lines


def _money(d: ScreenData, width: int, hint: str) -> list[str]:
    o = d.overview
    lines = ["MONEY"]
    lines.append(_fit(
        f"{INDENT}Tokens  {tokens(o['total_tokens'])}  (prompt {tokens(o['prompt_tokens'])}"
        f", cached {tokens(o['cached_tokens'])}, completion "
        f"{tokens(o['completion_tokens'])})", width))
    partial = (f" + {count(o['unpriced_steps'])} unpriced usage records"
               if o["unpriced_steps"] else "")
    tools = o.get("tool_cost_usd")
    if tools is None:  # no built-in tool billed apart from tokens
        cost = [f"{INDENT}Cost    {usd(o['cost_usd'])} at list prices{partial}"]
    else:
        split = f"(tokens {usd(o['cost_usd'])} + tools {usd(tools)})"
        cost = [f"{INDENT}Cost    {usd(o['total_cost_usd'])} at list prices {split}{partial}",
                f"{INDENT}Cost    {usd(o['total_cost_usd'])} {split}{partial}",
                f"{INDENT}Cost    {usd(o['total_cost_usd'])} {split}"
                + (f" + {count(o['unpriced_steps'])} unpriced" if partial else "")]
    lines.append(next((c for c in cost if len(c) <= width), _fit(cost[-1], width)))
    if d.models:
        shown = d.models[:TOP_MODELS]
        rows = [[str(r["model"] or "(unknown)"), tokens(r["total_tokens"]), usd(r["cost_usd"]),
                 pct(r["share_of_cost"])] for r in shown]
        lines += table([Col("Top models by cost"), Col("tokens", 8), Col("cost", 9),
                        Col("share", 6)], rows, width)
        lines += _more(len(d.models) - len(shown), "models",
                       'steplens sql "from report_top_models"', hint, width)
    if d.unpriced or d.unpriced_tools:
        names = (sorted({str(r["model"] or "(unknown)") for r in d.unpriced})
                 + sorted({f"{r['tool']} tool" for r in d.unpriced_tools}))
        head = ("Unpriced (not in the cost): " if d.unpriced
                else "Every model with usage has a price. Unpriced: ")
        for n in range(min(len(names), TOP_UNPRICED), 0, -1):
            more = f" and {len(names) - n} more" if len(names) > n else ""
            text = f"{INDENT}{head}{', '.join(names[:n])}{more}"
            if len(text) <= width:
                break
        lines.append(_fit(text, width))
        which = ("unpriced_models" if not d.unpriced_tools else "unpriced_tools"
                 if not d.unpriced else "unpriced_models (and unpriced_tools)")
        why = [f"{INDENT}  which and why: steplens report {which}{hint}",
               f"{INDENT}  which and why: steplens report {which}"]
        lines.append(next((w for w in why if len(w) <= width), _fit(why[-1], width)))
    else:
        lines.append(f"{INDENT}Every model with usage has a price.")
    return lines


def _migration(d: ScreenData, width: int) -> list[str]:
    m = d.migration
    if not m or not (m["assistants_runs"] and m["responses_runs"]):
        return []
    parts = [
        f"p50 {seconds(m['assistants_p50_s'])}→{seconds(m['responses_p50_s'])}",
        f"failed {pct(m['assistants_failure_rate'])}→{pct(m['responses_failure_rate'])}",
        f"{usd(m['assistants_cost_per_run_usd'])}→{usd(m['responses_cost_per_run_usd'])}"
        " a run",
    ]
    head = f"{INDENT}Assistants→Responses: "
    while len(parts) > 1 and len(head + ", ".join(parts)) > width:
        parts.pop()
    return ["MIGRATION", _fit(head + ", ".join(parts), width)]


def lines(d: ScreenData, width: int = MAX_WIDTH, source: str = "", hint: str = ""
          ) -> list[str]:
    """The first screen as text lines, at most `MAX_LINES`, none wider than `width`
    (capped at `MAX_WIDTH`). `hint`: the ` --warehouse X` to repeat in commands."""
    width = min(width, MAX_WIDTH)
    o = d.overview
    out = [_fit(f"steplens report · {source}" if source else "steplens report", width),
           _fit(f"Period  {_period(o)}", width),
           *(_fit(x, width) for x in _volume(o))]
    if not o["runs"] and not o["steps"]:
        out += ["", _fit(f"Nothing ingested yet: steplens ingest PATH{hint}", width)]
        return out
    for block in (_health(d, width, hint), _speed(d, width, hint), _money(d, width, hint),
                  _migration(d, width)):
        if block:
            out += ["", *block]
    more = (f"More: steplens report --all{hint} · steplens report SECTION (--help) · "
            "--html FILE")
    if len(more) > width:
        more = "More: steplens report --all · steplens report SECTION (--help) · --html FILE"
    out += ["", _fit(more, width)]
    return out[:MAX_LINES]
