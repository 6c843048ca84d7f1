"""The report as one self-contained HTML page (`steplens report --html`).

Charts are inline SVG (flows/report/charts.py), styles inline, nothing fetched when it
is opened: it works offline and from a mail attachment. A small inline script marks the
page with how many charts drew (`data-charts-drawn`), which the tests read from headless
Chromium.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import duckdb

from steplens.flows.report.charts import (
    chart_bill,
    chart_cost_by,
    chart_cost_over_time,
    chart_failure_funnel,
    chart_failure_over_time,
    chart_latency,
    chart_migration,
    chart_prompt_growth,
    chart_run_time,
    chart_slowest_functions,
    chart_thread_cost,
    chart_thread_turns,
    chart_version_changes,
    time_unit,
    usd,
)
from steplens.flows.report.render import cell_text
from steplens.flows.report.sections import Table, record, sections, view

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
    return html_lib.escape(cell_text(text))


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
    """The headline figures (the `report_overview` view, as the terminal shows them)."""
    return record(con, "report_overview")


def thread_stats(con) -> Table:
    """Turns and cost per thread: their distribution over threads."""
    return Table("threads (distribution)", "", *view(con, "report_thread_stats"))


def api_overview(con) -> Table:
    """Per API: runs, steps, tool calls, failed calls, tokens and cost."""
    return Table("by api", "", *view(con, "report_api_overview"))


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
        ("latency", "Step latency distribution", chart_latency(con, o)),
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
        ("thread-turns", "Turns per thread", chart_thread_turns(con)),
        ("thread-cost", "Cost per thread", chart_thread_cost(con)),
        ("prompt-growth", "Threads whose prompts grow fastest (context bloat)",
         chart_prompt_growth(con)),
        ("migration", "Assistants API vs Responses API: time and cost per run, by model",
         chart_migration(con)),
        ("version-changes", "Configuration changes that moved the run failure rate most",
         chart_version_changes(con)),
        ("bill", "Estimated cost against the bill, per month", chart_bill(con)),
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
        ("cost (list prices)", usd(o["cost_usd"]) + (" + unpriced" if o["unpriced_steps"]
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
{html_table(tables['run_lifecycle_stats'])}

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

<h2>Threads</h2>
{html_table(thread_stats(con))}
{figures['thread-turns']}
{figures['thread-cost']}
{figures['prompt-growth']}
{html_table(tables['threads'])}

<h2>Responses API and the migration</h2>
<p>Runs of the Assistants API and responses of the Responses API, side by side (the
<code>api</code> column of every table; <code>migration</code> view). A run's wall time is
<code>ended_at - created_at</code>; models are grouped as priced.</p>
{html_table(api_overview(con))}
{figures['migration']}
{html_table(tables['migration'])}

<h2>Assistant versions</h2>
<p>Each distinct configuration of an assistant (model, instructions, tools, sampling,
reasoning effort) is a version; every change against the version it replaced, over all
runs of each (<code>version_comparison</code>).</p>
{figures['version-changes']}
{html_table(tables['version_comparison'])}

<h2>Cost against the bill</h2>
<p>The organization Usage and Costs API exports against the export, per day and model
family (<code>cost_reconciliation</code>); the days and models that disagree.</p>
{figures['bill']}
{html_table(tables['cost_reconciliation'])}
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
