"""The steplens report: the key views as tables, Markdown, JSON, or one HTML page.

`sections(con)` runs the report's queries on a (read-only) warehouse connection;
`markdown(...)` and `json_text(...)` format them for scripts; `html(con)` renders one
self-contained page: charts drawn by matplotlib as inline SVG, styles inline, nothing
fetched when it is opened (it works offline and from a mail attachment). A small inline
script marks the page with how many charts drew (`data-charts-drawn`), which the tests
read from headless Chromium.

No Prefect here: `steplens report` should not pay for importing it.
"""

from __future__ import annotations

import datetime as dt
import html as html_lib
import io
import json
import math
import re
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
    Section("run_lifecycle", "run_lifecycle_stats (all runs)",
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
    Section("cost", "usage_cost (all, assistant_id, model)",
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


# ---- text formats ------------------------------------------------------------------------

def _text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.0f}"
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    return str(v)


def _md_cell(v: object) -> str:
    return _text(v).replace("|", "\\|").replace("\n", " ")


def markdown(tables: dict[str, Table]) -> str:
    """The sections as GitHub-flavoured Markdown tables."""
    parts = ["# steplens report", ""]
    for table in tables.values():
        parts += [f"## {table.title}", ""]
        if table.note:
            parts += [table.note, ""]
        if not table.rows:
            parts += ["(no rows)", ""]
            continue
        parts.append("| " + " | ".join(table.columns) + " |")
        parts.append("|" + "---|" * len(table.columns))
        parts += ["| " + " | ".join(_md_cell(v) for v in r) + " |" for r in table.rows]
        parts.append("")
    return "\n".join(parts)


def _json_value(v: object) -> object:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, int | float | str | bool) or v is None:
        return v
    return str(v)


def json_text(tables: dict[str, Table]) -> str:
    """The sections as one JSON object: {section key: [row objects]}."""
    doc = {key: [{c: _json_value(v) for c, v in r.items()} for r in t.records()]
           for key, t in tables.items()}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


# ---- charts ------------------------------------------------------------------------------

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777",
           "#65a30d", "#475569", "#ea580c")
STATUS_COLORS = {"completed": "#16a34a", "failed": "#dc2626", "cancelled": "#d97706",
                 "expired": "#7c3aed", "incomplete": "#0891b2"}
RC = {
    "svg.fonttype": "none",  # text stays text: small, selectable, searchable
    "font.family": ["DejaVu Sans", "sans-serif"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "axes.axisbelow": True,
}


def _svg(fig, key: str) -> str:
    """The figure as an <svg> element (no XML prologue), ids salted by chart key."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({**RC, "svg.hashsalt": f"steplens-{key}"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _figure(width: float = 9.0, height: float = 3.4):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _no_data(ax, message: str = "no data") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes,
            color="#6b7280")
    ax.set_xticks([])
    ax.set_yticks([])


def _short(label: object, width: int = 28) -> str:
    text = "(none)" if label is None else str(label)
    return text if len(text) <= width else text[: width - 1] + "…"


def _usd(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"${v:,.2f}" if abs(v) >= 1 else f"${v:.4f}"


def time_unit(con: duckdb.DuckDBPyConnection) -> str:
    """'hour', 'day' or 'week': a bucket that gives a readable number of points."""
    first, last = con.sql("select min(created_at), max(created_at) from steps").fetchall()[0]
    if first is None:
        return "day"
    span = last - first
    if span <= dt.timedelta(days=3):
        return "hour"
    return "day" if span <= dt.timedelta(days=120) else "week"


def chart_latency(con) -> str:
    _, rows = query(con, "select type, latency_s from steps "
                         "where status = 'completed' and latency_s is not null "
                         "using sample reservoir(50000 rows) repeatable (7)")
    fig = _figure()
    ax = fig.add_subplot()
    if not rows:
        _no_data(ax)
        return _svg(fig, "latency")
    by_type: dict[str, list[float]] = {}
    for kind, latency in rows:
        by_type.setdefault(_short(kind), []).append(latency)
    values = sorted(v for vs in by_type.values() for v in vs)
    top = values[min(len(values) - 1, int(len(values) * 0.99))] or max(values) or 1.0
    bins = [top * i / 40 for i in range(41)]
    kinds = sorted(by_type)
    ax.hist([[min(v, top) for v in by_type[k]] for k in kinds], bins=bins, stacked=True,
            label=kinds, color=PALETTE[: len(kinds)])
    stats = dict(query(con, "select 'p50', p50_s from step_latency where dimension = 'all' "
                            "union all select 'p95', p95_s from step_latency "
                            "where dimension = 'all'")[1])
    for name, style in (("p50", "--"), ("p95", ":")):
        if stats.get(name) is not None:
            ax.axvline(stats[name], color="#111827", linestyle=style, linewidth=1,
                       label=f"{name} {stats[name]:.1f} s")
    ax.set_xlabel("latency of completed steps, seconds (last bin: p99 and above)")
    ax.set_ylabel("steps")
    ax.legend(frameon=False)
    return _svg(fig, "latency")


def chart_run_time(con) -> str:
    _, rows = query(con, """
        select value, measure, p50
        from run_lifecycle_stats
        where dimension = 'assistant_id'
          and measure in ('queue_s', 'tool_calls_s', 'message_creation_s', 'tool_wait_s')
        order by value""")
    fig = _figure(height=max(2.4, 0.45 * (len({r[0] for r in rows}) + 2)))
    ax = fig.add_subplot()
    if not rows:
        _no_data(ax)
        return _svg(fig, "run-time")
    measures = [("queue_s", "queued"), ("tool_calls_s", "tool_calls steps"),
                ("message_creation_s", "message steps"), ("tool_wait_s", "waiting on tool outputs")]
    assistants = sorted({r[0] for r in rows}, key=lambda v: (v is None, v or ""))
    got = {(r[0], r[1]): r[2] or 0.0 for r in rows}
    left = [0.0] * len(assistants)
    labels = [_short(a) for a in assistants]
    for i, (measure, label) in enumerate(measures):
        widths = [got.get((a, measure), 0.0) for a in assistants]
        ax.barh(labels, widths, left=left, label=label, color=PALETTE[i])
        left = [x + w for x, w in zip(left, widths, strict=True)]
    ax.set_xlabel("median seconds per run, by assistant")
    ax.invert_yaxis()
    ax.legend(frameon=False, ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return _svg(fig, "run-time")


def chart_failure_over_time(con, unit: str) -> str:
    _, rows = query(con, "select bucket, failure_rate, cancelled_rate, expired_rate, terminal "
                         "from metrics_over_time($unit) where dimension = 'all' "
                         "and terminal > 0 order by bucket", {"unit": unit})
    fig = _figure()
    ax = fig.add_subplot()
    if not rows:
        _no_data(ax)
        return _svg(fig, "failure-over-time")
    x = [r[0] for r in rows]
    for i, (name, color) in enumerate((("failed", STATUS_COLORS["failed"]),
                                       ("cancelled", STATUS_COLORS["cancelled"]),
                                       ("expired", STATUS_COLORS["expired"]))):
        ax.plot(x, [100 * (r[1 + i] or 0.0) for r in rows], marker="o", markersize=3,
                linewidth=1.2, label=name, color=color)
    ax.set_ylabel(f"% of terminal steps, per {unit}")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.autofmt_xdate()
    return _svg(fig, "failure-over-time")


def chart_cost_by(con, dimension: str, key: str, label: str) -> str:
    _, rows = query(con, "select value, prompt_tokens, completion_tokens, cost_usd, "
                         "unpriced_steps from usage_cost where dimension = $dimension "
                         "order by cost_usd desc nulls last, value limit 15",
                    {"dimension": dimension})
    fig = _figure(height=max(2.4, 0.42 * (len(rows) + 2)))
    ax_tokens, ax_cost = fig.subplots(1, 2, sharey=True)
    if not rows:
        _no_data(ax_tokens)
        _no_data(ax_cost)
        return _svg(fig, key)
    labels = [_short(r[0]) for r in rows]
    prompt = [(r[1] or 0) / 1e3 for r in rows]
    completion = [(r[2] or 0) / 1e3 for r in rows]
    ax_tokens.barh(labels, prompt, color=PALETTE[0], label="prompt")
    ax_tokens.barh(labels, completion, left=prompt, color=PALETTE[3], label="completion")
    ax_tokens.set_xlabel(f"thousand tokens, by {label}")
    ax_tokens.legend(frameon=False, ncols=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    ax_tokens.invert_yaxis()
    costs = [r[3] or 0.0 for r in rows]
    bars = ax_cost.barh(labels, costs, color=PALETTE[2])
    for bar, r in zip(bars, rows, strict=True):
        text = _usd(r[3]) + (f"  ({r[4]} steps unpriced)" if r[4] else "")
        ax_cost.annotate(text, (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                         xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax_cost.set_xlabel(f"USD at list prices, by {label}")
    ax_cost.margins(x=0.35)
    return _svg(fig, key)


def chart_cost_over_time(con, unit: str) -> str:
    _, rows = query(con, "select bucket, prompt_tokens, completion_tokens, cost_usd "
                         "from metrics_over_time($unit) where dimension = 'all' "
                         "order by bucket", {"unit": unit})
    rows = [r for r in rows if r[1] is not None or r[2] is not None]
    fig = _figure()
    ax = fig.add_subplot()
    if not rows:
        _no_data(ax)
        return _svg(fig, "cost-over-time")
    width = {"hour": 1 / 24, "day": 0.8, "week": 5.6}[unit]
    x = [r[0] for r in rows]
    prompt = [(r[1] or 0) / 1e3 for r in rows]
    completion = [(r[2] or 0) / 1e3 for r in rows]
    ax.bar(x, prompt, width=width, color=PALETTE[0], label="prompt tokens")
    ax.bar(x, completion, width=width, bottom=prompt, color=PALETTE[3],
           label="completion tokens")
    ax.set_ylabel(f"thousand tokens per {unit}")
    cost_ax = ax.twinx()
    cost_ax.plot(x, [r[3] or 0.0 for r in rows], color=PALETTE[2], marker="o", markersize=3,
                 linewidth=1.2, label="USD")
    cost_ax.set_ylabel(f"USD per {unit}")
    cost_ax.set_ylim(bottom=0)
    cost_ax.grid(False)
    handles = ax.get_legend_handles_labels()
    cost_handles = cost_ax.get_legend_handles_labels()
    ax.legend(handles[0] + cost_handles[0], handles[1] + cost_handles[1], frameon=False,
              ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.autofmt_xdate()
    return _svg(fig, "cost-over-time")


def chart_slowest_functions(con) -> str:
    _, rows = query(con, "select function_name, step_p50_s, step_p95_s, calls "
                         "from tool_analytics where function_name is not null "
                         "and step_p95_s is not null "
                         "order by step_p95_s desc, function_name limit 15")
    fig = _figure(height=max(2.4, 0.42 * (len(rows) + 2)))
    ax = fig.add_subplot()
    if not rows:
        _no_data(ax, "no function calls in completed steps")
        return _svg(fig, "slowest-functions")
    labels = [f"{_short(r[0])} ({r[3]})" for r in rows]
    ax.barh(labels, [r[2] for r in rows], color=PALETTE[1], alpha=0.35, label="p95")
    ax.barh(labels, [r[1] for r in rows], color=PALETTE[1], label="p50")
    ax.invert_yaxis()
    ax.set_xlabel("latency of the completed steps that called it, seconds (calls)")
    ax.legend(frameon=False)
    return _svg(fig, "slowest-functions")


def chart_failure_funnel(con) -> str:
    _, rows = query(con, "select status, last_error_code, incomplete_reason, runs, "
                         "share_of_runs from run_failure_funnel where dimension = 'all' "
                         "order by runs desc")
    fig = _figure(height=max(2.4, 0.4 * (len(rows) + 2)))
    ax = fig.add_subplot()
    if not rows:
        _no_data(ax)
        return _svg(fig, "failure-funnel")
    labels = [" / ".join(_short(p, 24) for p in r[:3] if p is not None) or "(none)"
              for r in rows]
    bars = ax.barh(labels, [r[3] for r in rows],
                   color=[STATUS_COLORS.get(r[0], "#9ca3af") for r in rows])
    for bar, r in zip(bars, rows, strict=True):
        ax.annotate(f"{r[3]} ({100 * r[4]:.1f}%)",
                    (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=10)
    ax.margins(x=0.2)
    ax.set_xlabel("runs by final status / last_error_code / incomplete_reason (symlog)")
    return _svg(fig, "failure-funnel")


# ---- the page ----------------------------------------------------------------------------

PAGE_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827;
       margin: 0 auto; max-width: 1100px; padding: 1.5rem; }
h1 { margin: 0 0 .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #e5e7eb; }
.meta { color: #6b7280; margin: 0 0 1rem; }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; }
.card { border: 1px solid #e5e7eb; border-radius: .5rem; padding: .6rem .9rem; min-width: 9rem; }
.card b { display: block; font-size: 1.3rem; }
figure.chart { margin: 1rem 0; }
.scroll { overflow-x: auto; }
figure.chart svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #374151; font-weight: 600; margin-bottom: .3rem; }
table { border-collapse: collapse; font-size: 12.5px; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid #e5e7eb; padding: .25rem .6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.warn { background: #fef3c7; border: 1px solid #f59e0b; padding: .6rem .9rem;
        border-radius: .5rem; }
.ok { color: #166534; }
"""

# Marks the page with the number of charts and of charts that drew with a non-zero size
# and some marks in them: what the browser test reads back from the DOM.
PAGE_SCRIPT = """
(function () {
  var charts = document.querySelectorAll("figure.chart svg");
  var drawn = 0;
  charts.forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    var marks = svg.querySelectorAll("path, rect, line, polyline, use").length;
    if (box.width > 0 && box.height > 0 && marks > 0) { drawn += 1; }
  });
  document.documentElement.setAttribute("data-charts", String(charts.length));
  document.documentElement.setAttribute("data-charts-drawn", String(drawn));
})();
"""


def _e(text: object) -> str:
    return html_lib.escape(_text(text))


def html_table(table: Table, limit: int = 50) -> str:
    if not table.rows:
        return "<p><i>no rows</i></p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    body = []
    for r in table.rows[:limit]:
        cells = "".join(
            f'<td class="num">{_e(v)}</td>' if isinstance(v, int | float) and
            not isinstance(v, bool) else f"<td>{_e(v)}</td>" for v in r)
        body.append(f"<tr>{cells}</tr>")
    more = (f"<p><i>{len(table.rows) - limit} more rows: query the view.</i></p>"
            if len(table.rows) > limit else "")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>{more}")


def overview(con) -> dict[str, Any]:
    columns, rows = query(con, """
        select
            (select count(*) from runs) as runs,
            (select count(*) from steps) as steps,
            (select min(day) from steps) as first_day,
            (select max(day) from steps) as last_day,
            (select p50_s from step_latency where dimension = 'all') as step_p50_s,
            (select p95_s from step_latency where dimension = 'all') as step_p95_s,
            (select failure_rate from failure_rate where dimension = 'all')
                as step_failure_rate,
            (select count_if(status = 'failed') / nullif(count_if(is_run_terminal(status)), 0)
             from runs) as run_failure_rate,
            (select total_tokens from usage_cost where dimension = 'all') as total_tokens,
            (select cost_usd from usage_cost where dimension = 'all') as cost_usd,
            (select unpriced_steps from usage_cost where dimension = 'all') as unpriced_steps
    """)
    return dict(zip(columns, rows[0], strict=True))


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _secs(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f} s"


def html(con: duckdb.DuckDBPyConnection, title: str = "steplens report",
         source: str = "") -> str:
    """The whole report as one self-contained HTML page."""
    unit = time_unit(con)
    o = overview(con)
    tables = sections(con)
    charts = [
        ("latency", "Step latency distribution", chart_latency(con)),
        ("run-time", "Where a run's time goes (median per run, by assistant)",
         chart_run_time(con)),
        ("failure-over-time", f"Failure rate over time (per {unit})",
         chart_failure_over_time(con, unit)),
        ("failure-funnel", "Failure funnel: how runs ended", chart_failure_funnel(con)),
        ("cost-by-assistant", "Tokens and cost by assistant",
         chart_cost_by(con, "assistant_id", "cost-by-assistant", "assistant")),
        ("cost-by-model", "Tokens and cost by model",
         chart_cost_by(con, "model", "cost-by-model", "model")),
        ("cost-over-time", f"Tokens and cost per {unit}", chart_cost_over_time(con, unit)),
        ("slowest-functions", "Slowest functions (latency of the steps that called them)",
         chart_slowest_functions(con)),
    ]
    figures = {key: f'<figure class="chart" id="chart-{key}"><figcaption>{_e(caption)}'
                    f"</figcaption>{svg}</figure>" for key, caption, svg in charts}
    unpriced = tables["unpriced_models"]
    if unpriced.rows:
        unpriced_html = ('<div class="warn"><b>Usage without a price.</b> These models are '
                         "not in the price table (or have no price on that day); their "
                         "usage is left out of every cost figure, never priced at zero. Add "
                         "them to your price file (<code>steplens ingest --prices "
                         "PATH</code>).</div>" + html_table(unpriced))
    else:
        unpriced_html = '<p class="ok">Every model with usage has a price.</p>'
    cards = [
        ("runs", f"{o['runs']:,}"), ("steps", f"{o['steps']:,}"),
        ("step p50 / p95", f"{_secs(o['step_p50_s'])} / {_secs(o['step_p95_s'])}"),
        ("failed steps", _pct(o["step_failure_rate"])),
        ("failed runs", _pct(o["run_failure_rate"])),
        ("tokens", f"{o['total_tokens'] or 0:,}"),
        ("cost (list prices)", _usd(o["cost_usd"]) + (" + unpriced" if o["unpriced_steps"]
                                                       else "")),
    ]
    card_html = "".join(f'<div class="card">{_e(k)}<b>{_e(v)}</b></div>' for k, v in cards)
    days = (f"{o['first_day']} to {o['last_day']}" if o["first_day"] else "no steps")
    body = f"""
<h1>{_e(title)}</h1>
<p class="meta">{_e(days)}{' · ' + _e(source) if source else ''}</p>
<div class="cards">{card_html}</div>

<h2>Latency</h2>
{figures['latency']}
{figures['run-time']}
{html_table(tables['run_lifecycle'])}

<h2>Failures</h2>
{figures['failure-over-time']}
{figures['failure-funnel']}
<h3>Failing steps and the tools they called</h3>
{html_table(tables['failing_step_tools'])}

<h2>Tokens and cost</h2>
{figures['cost-by-assistant']}
{figures['cost-by-model']}
{figures['cost-over-time']}
<h3>Unpriced models</h3>
{unpriced_html}
<h3>Cost by tool</h3>
{html_table(tables['tool_cost'])}

<h2>Tools</h2>
{figures['slowest-functions']}
{html_table(tables['tool_analytics'])}
"""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{PAGE_CSS}</style>
</head>
<body>
{body}
<script>{PAGE_SCRIPT}</script>
</body>
</html>
"""


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def is_self_contained(page: str) -> bool:
    """No `src`/`href` pointing at another host (SVG namespaces are not fetched)."""
    return EXTERNAL.search(page) is None
