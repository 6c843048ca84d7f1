"""The report's charts: matplotlib figures rendered as inline SVG (nothing fetched)."""

from __future__ import annotations

import io
from collections.abc import Callable

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


def _chart(key: str, rows: list, draw: Callable[..., None], *, height: float = 3.4,
           panels: int = 1, empty: str = "no data") -> str:
    """One chart as SVG: `draw(fig, *axes)` on a figure `height` inches tall with `panels`
    side by side (one y axis), or `empty` written on each panel when there are no rows:
    a chart with nothing to show keeps its place and says so."""
    fig = _figure(height=height)
    axes = [fig.add_subplot()] if panels == 1 else fig.subplots(1, panels, sharey=True)
    if not rows:
        for ax in axes:
            _no_data(ax, empty)
    else:
        draw(fig, *axes)
    return _svg(fig, key)


def _bars_height(rows: list, per_bar: float, least: float = 2.4) -> float:
    """The height of a chart with a bar per row, and room for its axis."""
    return max(least, per_bar * (len(rows) + 2))


def _clipped_bins(values: list[float]) -> tuple[float, list[float]]:
    """Where a histogram of `values` is clipped (their 99th percentile: the last bin holds
    it and above) and its 40 bins."""
    ordered = sorted(values)
    top = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] or max(ordered) or 1.0
    return top, [top * i / 40 for i in range(41)]


def _percentile_lines(ax, p50: float | None, p95: float | None,
                      fmt: Callable[[float], str]) -> None:
    """A dashed line at p50 and a dotted one at p95 (where known), labelled by `fmt`."""
    for name, value, style in (("p50", p50, "--"), ("p95", p95, ":")):
        if value is not None:
            ax.axvline(value, color="#111827", linestyle=style, linewidth=1,
                       label=f"{name} {fmt(value)}")


def chart_latency(con, overview: dict | None = None) -> str:
    """Latency of completed steps by type, with p50 and p95 (from `overview`, the
    report_overview row, when the caller has it already)."""
    _, rows = view(con, "report_latency_sample")

    def draw(fig, ax) -> None:
        by_type: dict[str, list[float]] = {}
        for kind, latency in rows:
            by_type.setdefault(_short(kind), []).append(latency)
        top, bins = _clipped_bins([v for vs in by_type.values() for v in vs])
        kinds = sorted(by_type)
        ax.hist([[min(v, top) for v in by_type[k]] for k in kinds], bins=bins, stacked=True,
                label=kinds, color=PALETTE[: len(kinds)])
        row = overview or record(con, "report_overview")
        _percentile_lines(ax, row["step_p50_s"], row["step_p95_s"], lambda v: f"{v:.1f} s")
        ax.set_xlabel("latency of completed steps, seconds (last bin: p99 and above)")
        ax.set_ylabel("steps")
        ax.legend(frameon=False)

    return _chart("latency", rows, draw)


def chart_run_time(con) -> str:
    _, rows = view(con, "report_run_time")
    assistants = sorted({r[0] for r in rows}, key=lambda v: (v is None, v or ""))

    def draw(fig, ax) -> None:
        measures = [("queue_s", "queued"), ("tool_calls_s", "tool_calls steps"),
                    ("message_creation_s", "message steps"),
                    ("tool_wait_s", "waiting on tool outputs")]
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

    return _chart("run-time", rows, draw, height=_bars_height(assistants, 0.45))


def chart_failure_over_time(con, unit: str) -> str:
    _, rows = view(con, "report_over_time($unit)", {"unit": unit})
    rows = [(r[0], r[2], r[3], r[4], r[1]) for r in rows if r[1]]  # buckets with an outcome

    def draw(fig, ax) -> None:
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

    return _chart("failure-over-time", rows, draw)


def chart_cost_by(con, dimension: str, key: str, label: str) -> str:
    _, ranked = view(con, "report_cost_by")
    rows = [r[1:6] for r in ranked if r[0] == dimension]

    def draw(fig, ax_tokens, ax_cost) -> None:
        labels = [_short(r[0]) for r in rows]
        prompt = [(r[1] or 0) / 1e3 for r in rows]
        completion = [(r[2] or 0) / 1e3 for r in rows]
        ax_tokens.barh(labels, prompt, color=PALETTE[0], label="prompt")
        ax_tokens.barh(labels, completion, left=prompt, color=PALETTE[3], label="completion")
        ax_tokens.set_xlabel(f"thousand tokens, by {label}")
        ax_tokens.legend(frameon=False, ncols=2, loc="lower center",
                         bbox_to_anchor=(0.5, 1.0))
        ax_tokens.invert_yaxis()
        costs = [r[3] or 0.0 for r in rows]
        bars = ax_cost.barh(labels, costs, color=PALETTE[2])
        for bar, r in zip(bars, rows, strict=True):
            text = usd(r[3]) + (f"  ({r[4]} steps unpriced)" if r[4] else "")
            ax_cost.annotate(text, (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                             xytext=(3, 0), textcoords="offset points", va="center",
                             fontsize=8)
        ax_cost.set_xlabel(f"USD at list prices, by {label}")
        ax_cost.margins(x=0.35)

    return _chart(key, rows, draw, height=_bars_height(rows, 0.42), panels=2)


def chart_cost_over_time(con, unit: str) -> str:
    _, rows = view(con, "report_over_time($unit)", {"unit": unit})
    rows = [(r[0], r[5], r[6], r[7]) for r in rows]
    rows = [r for r in rows if r[1] is not None or r[2] is not None]

    def draw(fig, ax) -> None:
        width = {"hour": 1 / 24, "day": 0.8, "week": 5.6}[unit]
        x = [r[0] for r in rows]
        prompt = [(r[1] or 0) / 1e3 for r in rows]
        completion = [(r[2] or 0) / 1e3 for r in rows]
        ax.bar(x, prompt, width=width, color=PALETTE[0], label="prompt tokens")
        ax.bar(x, completion, width=width, bottom=prompt, color=PALETTE[3],
               label="completion tokens")
        ax.set_ylabel(f"thousand tokens per {unit}")
        cost_ax = ax.twinx()
        cost_ax.plot(x, [r[3] or 0.0 for r in rows], color=PALETTE[2], marker="o",
                     markersize=3, linewidth=1.2, label="USD")
        cost_ax.set_ylabel(f"USD per {unit}")
        cost_ax.set_ylim(bottom=0)
        cost_ax.grid(False)
        handles = ax.get_legend_handles_labels()
        cost_handles = cost_ax.get_legend_handles_labels()
        ax.legend(handles[0] + cost_handles[0], handles[1] + cost_handles[1], frameon=False,
                  ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
        fig.autofmt_xdate()

    return _chart("cost-over-time", rows, draw)


def chart_slowest_functions(con) -> str:
    _, rows = view(con, "report_slowest_functions")

    def draw(fig, ax) -> None:
        labels = [f"{_short(r[0])} ({r[3]})" for r in rows]
        ax.barh(labels, [r[2] for r in rows], color=PALETTE[1], alpha=0.35, label="p95")
        ax.barh(labels, [r[1] for r in rows], color=PALETTE[1], label="p50")
        ax.invert_yaxis()
        ax.set_xlabel("latency of the completed steps that called it, seconds (calls)")
        ax.legend(frameon=False)

    return _chart("slowest-functions", rows, draw, height=_bars_height(rows, 0.42),
                  empty="no function calls in completed steps")


def chart_failure_funnel(con) -> str:
    _, rows = view(con, "report_run_failure_funnel")

    def draw(fig, ax) -> None:
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

    return _chart("failure-funnel", rows, draw, height=_bars_height(rows, 0.4))


def chart_thread_turns(con) -> str:
    """How many turns threads have: threads by turn count (the last bar: that many or more)."""
    _, rows = view(con, "report_thread_turns")

    def draw(fig, ax) -> None:
        x = [r[0] for r in rows]
        ok = [r[1] - r[2] for r in rows]
        ax.bar(x, ok, color=PALETTE[0], label="no failed turn")
        ax.bar(x, [r[2] for r in rows], bottom=ok, color=STATUS_COLORS["failed"],
               label="with a failed turn")
        ax.set_xticks(x, [f"{v}+" if v == 20 else str(v) for v in x])
        ax.set_xlabel("turns per thread (runs that ended)")
        ax.set_ylabel("threads")
        ax.legend(frameon=False)

    return _chart("thread-turns", rows, draw, height=3.0)


def chart_thread_cost(con) -> str:
    """Cost per thread: a histogram clipped at the 99th percentile, with p50 and p95."""
    _, rows = view(con, "report_thread_cost_sample")

    def draw(fig, ax) -> None:
        values = sorted(r[0] for r in rows)
        top, bins = _clipped_bins(values)
        ax.hist([min(v, top) for v in values], bins=bins, color=PALETTE[2])
        thread_stats = record(con, "report_thread_stats")
        _percentile_lines(ax, thread_stats["cost_p50_usd"], thread_stats["cost_p95_usd"], usd)
        ax.set_xlabel("USD per thread at list prices (last bin: p99 and above)")
        ax.set_ylabel("threads")
        ax.legend(frameon=False)

    return _chart("thread-cost", rows, draw, height=3.0, empty="no priced threads")


def chart_prompt_growth(con, limit: int = 10) -> str:
    """Prompt tokens turn after turn, for the threads whose prompt grows fastest."""
    _, rows = view(con, "report_prompt_growth")
    rows = rows[:limit]

    def draw(fig, ax) -> None:
        for i, (thread, tokens, growth) in enumerate(rows):
            points = [(turn, t) for turn, t in enumerate(tokens, start=1) if t is not None]
            ax.plot([p[0] for p in points], [p[1] / 1e3 for p in points], marker="o",
                    markersize=3, linewidth=1.2, color=PALETTE[i % len(PALETTE)],
                    label=f"{_short(thread, 20)} (+{growth:,.0f}/turn)")
        ax.set_xlabel("turn")
        ax.set_ylabel("prompt, thousand tokens")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    return _chart("prompt-growth", rows, draw,
                  empty="no thread with two turns that report usage")


def chart_migration(con) -> str:
    """Per model (and overall), the two APIs side by side: median wall time of a run and
    cost per run, for the models that ran on both (else the busiest ones)."""
    _, rows = view(con, "report_migration_chart")

    def draw(fig, ax_time, ax_cost) -> None:
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

    return _chart("migration", rows, draw, height=_bars_height(rows, 0.5, least=2.6),
                  panels=2)


def chart_version_changes(con, limit: int = 10) -> str:
    """Run failure rate before and after each configuration change that moved it most
    (changes with at least 5 runs on each side)."""
    _, rows = view(con, "report_version_changes")
    rows = rows[:limit]

    def draw(fig, ax) -> None:
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

    return _chart("version-changes", rows, draw, height=_bars_height(rows, 0.4, least=2.6),
                  empty="no configuration change with 5 runs on each side")


def chart_bill(con) -> str:
    """Estimated (export, list prices) against billed (Costs API) USD per month, over
    the days the Costs API export covers."""
    _, rows = view(con, "report_bill_by_month")

    def draw(fig, ax) -> None:
        months = [r[0] for r in rows]
        ax.plot(months, [r[1] for r in rows], marker="o", markersize=3, color=PALETTE[0],
                label="estimated from the export")
        ax.plot(months, [r[2] for r in rows], marker="s", markersize=3, color=PALETTE[3],
                label="billed")
        ax.set_ylabel("USD per month")
        ax.legend(frameon=False)

    return _chart("bill", rows, draw, height=3.0, empty="no Costs API export ingested")
