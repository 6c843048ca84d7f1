"""The report's charts: matplotlib figures rendered as inline SVG (nothing fetched)."""

from __future__ import annotations

import io

import duckdb

from steplens.flows.report.sections import record, view

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


def usd(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"${v:,.2f}" if abs(v) >= 1 else f"${v:.4f}"


def time_unit(con: duckdb.DuckDBPyConnection) -> str:
    """'hour', 'day' or 'week': a bucket that gives a readable number of points."""
    return record(con, "report_time_unit")["unit"]


def chart_latency(con, overview: dict | None = None) -> str:
    """Latency of completed steps by type, with p50 and p95 (from `overview`, the
    report_overview row, when the caller has it already)."""
    _, rows = view(con, "report_latency_sample")
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
    overview = overview or record(con, "report_overview")
    stats = {"p50": overview["step_p50_s"], "p95": overview["step_p95_s"]}
    for name, style in (("p50", "--"), ("p95", ":")):
        if stats.get(name) is not None:
            ax.axvline(stats[name], color="#111827", linestyle=style, linewidth=1,
                       label=f"{name} {stats[name]:.1f} s")
    ax.set_xlabel("latency of completed steps, seconds (last bin: p99 and above)")
    ax.set_ylabel("steps")
    ax.legend(frameon=False)
    return _svg(fig, "latency")


def chart_run_time(con) -> str:
    _, rows = view(con, "report_run_time")
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
    _, rows = view(con, "report_over_time($unit)", {"unit": unit})
    rows = [(r[0], r[2], r[3], r[4], r[1]) for r in rows if r[1]]  # buckets with an outcome
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
    _, ranked = view(con, "report_cost_by")
    rows = [r[1:6] for r in ranked if r[0] == dimension]
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
        text = usd(r[3]) + (f"  ({r[4]} steps unpriced)" if r[4] else "")
        ax_cost.annotate(text, (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                         xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax_cost.set_xlabel(f"USD at list prices, by {label}")
    ax_cost.margins(x=0.35)
    return _svg(fig, key)


def chart_cost_over_time(con, unit: str) -> str:
    _, rows = view(con, "report_over_time($unit)", {"unit": unit})
    rows = [(r[0], r[5], r[6], r[7]) for r in rows]
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
    _, rows = view(con, "report_slowest_functions")
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
    _, rows = view(con, "report_run_failure_funnel")
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


def chart_thread_turns(con) -> str:
    """How many turns threads have: threads by turn count (the last bar: that many or more)."""
    _, rows = view(con, "report_thread_turns")
    fig = _figure(height=3.0)
    ax = fig.add_subplot()
    if not rows:
        _no_data(ax)
        return _svg(fig, "thread-turns")
    x = [r[0] for r in rows]
    ok = [r[1] - r[2] for r in rows]
    ax.bar(x, ok, color=PALETTE[0], label="no failed turn")
    ax.bar(x, [r[2] for r in rows], bottom=ok, color=STATUS_COLORS["failed"],
           label="with a failed turn")
    ax.set_xticks(x, [f"{v}+" if v == 20 else str(v) for v in x])
    ax.set_xlabel("turns per thread (runs that ended)")
    ax.set_ylabel("threads")
    ax.legend(frameon=False)
    return _svg(fig, "thread-turns")


def chart_thread_cost(con) -> str:
    """Cost per thread: a histogram clipped at the 99th percentile, with p50 and p95."""
    _, rows = view(con, "report_thread_cost_sample")
    fig = _figure(height=3.0)
    ax = fig.add_subplot()
    if not rows:
        _no_data(ax, "no priced threads")
        return _svg(fig, "thread-cost")
    values = sorted(r[0] for r in rows)
    top = values[min(len(values) - 1, int(len(values) * 0.99))] or max(values) or 1.0
    ax.hist([min(v, top) for v in values], bins=[top * i / 40 for i in range(41)],
            color=PALETTE[2])
    thread_stats = record(con, "report_thread_stats")
    stats = (thread_stats["cost_p50_usd"], thread_stats["cost_p95_usd"])
    for name, value, style in (("p50", stats[0], "--"), ("p95", stats[1], ":")):
        if value is not None:
            ax.axvline(value, color="#111827", linestyle=style, linewidth=1,
                       label=f"{name} {usd(value)}")
    ax.set_xlabel("USD per thread at list prices (last bin: p99 and above)")
    ax.set_ylabel("threads")
    ax.legend(frameon=False)
    return _svg(fig, "thread-cost")


def chart_prompt_growth(con, limit: int = 10) -> str:
    """Prompt tokens turn after turn, for the threads whose prompt grows fastest."""
    _, rows = view(con, "report_prompt_growth")
    rows = rows[:limit]
    fig = _figure()
    ax = fig.add_subplot()
    if not rows:
        _no_data(ax, "no thread with two turns that report usage")
        return _svg(fig, "prompt-growth")
    for i, (thread, tokens, growth) in enumerate(rows):
        points = [(turn, t) for turn, t in enumerate(tokens, start=1) if t is not None]
        ax.plot([p[0] for p in points], [p[1] / 1e3 for p in points], marker="o",
                markersize=3, linewidth=1.2, color=PALETTE[i % len(PALETTE)],
                label=f"{_short(thread, 20)} (+{growth:,.0f}/turn)")
    ax.set_xlabel("turn")
    ax.set_ylabel("prompt, thousand tokens")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(fig, "prompt-growth")


def chart_migration(con) -> str:
    """Per model (and overall), the two APIs side by side: median wall time of a run and
    cost per run, for the models that ran on both (else the busiest ones)."""
    _, rows = view(con, "report_migration_chart")
    fig = _figure(height=max(2.6, 0.5 * (len(rows) + 2)))
    ax_time, ax_cost = fig.subplots(1, 2, sharey=True)
    if not rows:
        _no_data(ax_time)
        _no_data(ax_cost)
        return _svg(fig, "migration")
    labels = [_short(r[0]) for r in rows]
    y = list(range(len(rows)))
    for ax, (a, b), xlabel in ((ax_time, (1, 2), "median wall time of a run, seconds"),
                               (ax_cost, (3, 4), "USD per run at list prices")):
        ax.barh([v - 0.2 for v in y], [r[a] or 0 for r in rows], height=0.4,
                color=PALETTE[0], label="Assistants API")
        ax.barh([v + 0.2 for v in y], [r[b] or 0 for r in rows], height=0.4,
                color=PALETTE[2], label="Responses API")
        ax.set_xlabel(xlabel)
    ax_time.set_yticks(y, labels)
    ax_time.invert_yaxis()
    ax_time.legend(frameon=False, ncols=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return _svg(fig, "migration")


def chart_version_changes(con, limit: int = 10) -> str:
    """Run failure rate before and after each configuration change that moved it most
    (changes with at least 5 runs on each side)."""
    _, rows = view(con, "report_version_changes")
    rows = rows[:limit]
    fig = _figure(height=max(2.6, 0.4 * (len(rows) + 2)))
    ax = fig.add_subplot()
    if not rows:
        _no_data(ax, "no configuration change with 5 runs on each side")
        return _svg(fig, "version-changes")
    labels = [f"{_short(a, 16)} v{p}->v{v}: {_short(c, 30)}" for a, p, v, c, _, _ in rows]
    y = list(range(len(rows)))
    ax.barh([v - 0.2 for v in y], [r[4] for r in rows], height=0.4, color=PALETTE[0],
            label="before")
    ax.barh([v + 0.2 for v in y], [r[5] for r in rows], height=0.4, color=PALETTE[1],
            label="after")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("run failure rate")
    ax.legend(frameon=False, ncols=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return _svg(fig, "version-changes")


def chart_bill(con) -> str:
    """Estimated (export, list prices) against billed (Costs API) USD per month, over
    the days the Costs API export covers."""
    _, rows = view(con, "report_bill_by_month")
    fig = _figure(height=3.0)
    ax = fig.add_subplot()
    if not rows:
        _no_data(ax, "no Costs API export ingested")
        return _svg(fig, "bill")
    months = [r[0] for r in rows]
    ax.plot(months, [r[1] for r in rows], marker="o", markersize=3, color=PALETTE[0],
            label="estimated from the export")
    ax.plot(months, [r[2] for r in rows], marker="s", markersize=3, color=PALETTE[3],
            label="billed")
    ax.set_ylabel("USD per month")
    ax.legend(frameon=False)
    return _svg(fig, "bill")
