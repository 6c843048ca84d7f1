"""Seeded generator of organization Usage API (completions) and Costs API exports that agree
with an export of agent data, plus known gaps (issue 13, part 4).

`generate_billing(out_dir, usage_rows, seed=5)` takes the expected `usage` rows of an
export (`tests.support.billing_oracle.seen_usage(export_dir, prices)`: day, model, prompt,
cached and completion tokens; they are what any correct reader of the export sees, so a
bill built from them reconciles to zero) and writes what an organization's admin exported:

==================================  ========================================================
``usage_completions.jsonl``         `/v1/organization/usage/completions` pages
                                    (`bucket_width=1d`, `group_by=[model]`, `limit=31`,
                                    `has_more`/`next_page`), one page a line, a bucket for
                                    every day of the range, empty buckets included
``costs.jsonl``                     `/v1/organization/costs` pages (`group_by=[line_item]`,
                                    `limit=60`): per day and billed model the line items
                                    `<model>, input`, `<model>, cached input` (when cached
                                    tokens were used) and `<model>, output` at list price
``usage_completions_rerun.jsonl``   (``duplicates``) the last 14 days exported again; in the
                                    first export the last day with usage was still running
                                    (half its figures), the re-run has it whole
``costs_rerun.json``                (``duplicates``) the last 10 days of costs again, as one
                                    pretty-printed JSON document
``usage_by_project.jsonl``          (``duplicates``) 5 days exported again with
                                    `group_by=[model, project_id]`, each model split over two
                                    projects: another layout of the same usage
``bad_billing.jsonl``               (``bad_pages``) one of each reject and skip of the
                                    contract, and a truncated last line
==================================  ========================================================

Billed model names are the snapshots the Usage API reports (`gpt-4o` runs are billed as
`gpt-4o-2024-05-13`, from 2024-10-02 as `gpt-4o-2024-08-06`; `gpt-4o-mini` as
`gpt-4o-mini-2024-07-18`, ...), so reconciliation must match model families. Costs are the
list prices of the seen model on its day (the README cost formula, computed here per day x
model from token sums, not per row).

Known gaps (``gaps=True``), recorded in the returned ``truth``:
- the bill starts one day after the export's first usage day: that day has no billing data;
- a missing day: usage and cost billed on a day of the range where the export has nothing;
- a mispriced model: one model whose family has no other model in the export, billed at
  1.25 x list price on every day;
- extra billed requests: one (day, model) billed 3 more requests than the export holds.

``truth["findings"]`` is the expected `finding` of every (day, family) the export or the
bill names; ``truth["billed"]`` the intended billed sums per (day, family);
``truth["rejects"]`` / ``truth["skipped"]`` the exact rejects and skips of the bad file.
Every page but the bad file validates against openai 3.57.0 (`UsageCompletionsResponse`,
`UsageCostsResponse`).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict
from pathlib import Path

import orjson

from tests.support.billing_oracle import (
    COSTS_OBJECT,
    USAGE_OBJECT,
    PriceTable,
    model_family,
)

__all__ = ["generate_billing", "billed_name", "SNAPSHOTS"]

DAY_S = 86_400
EPOCH_DAY = dt.date(1970, 1, 1)
# alias -> [(from day, snapshot the Usage API reports)]
SNAPSHOTS = {
    "gpt-4o": [(dt.date(2024, 5, 13), "gpt-4o-2024-05-13"),
               (dt.date(2024, 10, 2), "gpt-4o-2024-08-06")],
    "gpt-4o-mini": [(dt.date(2024, 7, 18), "gpt-4o-mini-2024-07-18")],
    "gpt-4-turbo": [(dt.date(2024, 4, 9), "gpt-4-turbo-2024-04-09")],
    "gpt-3.5-turbo": [(dt.date(2024, 1, 25), "gpt-3.5-turbo-0125")],
    "o3-mini": [(dt.date(2025, 1, 31), "o3-mini-2025-01-31")],
    "gpt-4.1": [(dt.date(2025, 4, 14), "gpt-4.1-2025-04-14")],
    "gpt-4.1-mini": [(dt.date(2025, 4, 14), "gpt-4.1-mini-2025-04-14")],
}
MISPRICE = 1.25
EXTRA_REQUESTS = 3
FILES = {
    "usage": "usage_completions.jsonl",
    "costs": "costs.jsonl",
    "usage_rerun": "usage_completions_rerun.jsonl",
    "costs_rerun": "costs_rerun.json",
    "by_project": "usage_by_project.jsonl",
    "bad": "bad_billing.jsonl",
}


def billed_name(model: str, day: dt.date) -> str:
    """The name the Usage API bills a seen model under on a day."""
    name = model
    for since, snapshot in SNAPSHOTS.get(model, []):
        if day >= since:
            name = snapshot
    return name


def _ts(day: dt.date) -> int:
    return (day - EPOCH_DAY).days * DAY_S


def _usage_result(name: str | None, t: dict, **dims) -> dict:
    return {"object": USAGE_OBJECT, "input_tokens": t["input"], "output_tokens": t["output"],
            "input_cached_tokens": t["cached"], "input_audio_tokens": 0,
            "output_audio_tokens": 0, "num_model_requests": t["requests"], "model": name,
            "project_id": None, "user_id": None, "api_key_id": None, "batch": None,
            **dims}


def _cost_result(line_item: str, value: float, tokens: int) -> dict:
    return {"object": COSTS_OBJECT, "amount": {"value": value, "currency": "usd"},
            "line_item": line_item, "project_id": None, "quantity": float(tokens),
            "quantity_unit": "tokens"}


def _pages(buckets: list[dict], limit: int, rng: random.Random) -> list[dict]:
    pages = []
    for i in range(0, len(buckets), limit):
        more = i + limit < len(buckets)
        pages.append({"object": "page", "data": buckets[i:i + limit], "has_more": more,
                      "next_page": ("page_" + "".join(rng.choices("0123456789abcdef", k=24))
                                    if more else None)})
    return pages


def _write_lines(path: Path, values: list) -> None:
    path.write_bytes(b"".join(orjson.dumps(v) + b"\n" for v in values))


class _Bill:
    """Billed figures per (day, billed name): usage counts and cost line items."""

    def __init__(self) -> None:
        self.usage: dict[tuple, dict] = defaultdict(
            lambda: {"requests": 0, "input": 0, "cached": 0, "output": 0})
        self.costs: dict[tuple, dict] = defaultdict(
            lambda: {"input": [0.0, 0], "cached input": [0.0, 0], "output": [0.0, 0]})

    def add(self, day, name, requests, prompt, cached, completion, price, factor=1.0):
        u = self.usage[(day, name)]
        cached = min(cached, prompt)
        u["requests"] += requests
        u["input"] += prompt
        u["cached"] += cached
        u["output"] += completion
        if price is None:
            return
        _, pp, cp, op = price
        c = self.costs[(day, name)]
        for kind, tokens, per_1m in (("input", prompt - cached, pp),
                                     ("cached input", cached, cp if cp is not None else pp),
                                     ("output", completion, op)):
            c[kind][0] += tokens * per_1m / 1e6 * factor
            c[kind][1] += tokens

    def usage_results(self, day, scale=1.0) -> list[dict]:
        out = []
        for (d, name), t in sorted(self.usage.items()):
            if d == day:
                out.append(_usage_result(name, {k: int(v * scale) for k, v in t.items()}))
        return out

    def cost_results(self, day, scale=1.0) -> list[dict]:
        out = []
        for (d, name), c in sorted(self.costs.items()):
            if d != day:
                continue
            for kind in ("input", "cached input", "output"):
                value, tokens = c[kind]
                if tokens or kind != "cached input":
                    out.append(_cost_result(f"{name}, {kind}", value * scale,
                                            int(tokens * scale)))
        return out


def generate_billing(out_dir: Path, usage_rows: list[dict], *, seed: int = 5,
                     prices: PriceTable | None = None, gaps: bool = True,
                     duplicates: bool = True, bad_pages: bool = True) -> dict:
    """Write billing exports for `usage_rows` into `out_dir`; return the truth (module
    docstring)."""
    prices = prices or PriceTable.shipped()
    rng = random.Random(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        (out / name).unlink(missing_ok=True)

    seen: dict[tuple, dict] = defaultdict(lambda: {"requests": 0, "prompt": 0, "cached": 0,
                                                   "completion": 0, "unpriced": False})
    for r in usage_rows:
        if r["model"] is None or r["day"] is None:
            continue
        s = seen[(r["day"], r["model"])]
        s["requests"] += 1
        s["prompt"] += r["prompt_tokens"] or 0
        s["cached"] += r["cached_tokens"] or 0
        s["completion"] += r["completion_tokens"] or 0
        if r["cost_usd"] is None and (r["prompt_tokens"] is not None
                                      or r["completion_tokens"] is not None):
            s["unpriced"] = True
    days = sorted({d for d, _ in seen})
    first_day = days[1] if gaps else days[0]
    last_day = days[-1]
    families: dict[str, set[str]] = defaultdict(set)
    for _, m in seen:
        families[model_family(m)].add(m)

    truth: dict = {"start_day": first_day, "end_day": last_day, "gaps": {},
                   "findings": {}, "billed": {}, "rejects": [], "skipped": Counter(),
                   "files": {}}
    mispriced = extra = missing = None
    if gaps:
        truth["gaps"]["uncovered_day"] = days[0]
        candidates = sorted(m for m, n in Counter(m for d, m in seen if d >= first_day).items()
                            if n >= 2 and len(families[model_family(m)]) == 1)
        mispriced = rng.choice(candidates)
        cells = sorted((d, m) for d, m in seen if d >= first_day
                       and model_family(m) != model_family(mispriced))
        extra = rng.choice(cells)
        empty = [d for d in (first_day + dt.timedelta(days=i)
                             for i in range((last_day - first_day).days)) if d not in days]
        missing_day = rng.choice(empty)
        before = max(d for d in days if d < missing_day)
        missing_model = sorted(m for d, m in seen if d == before)[0]
        missing = (missing_day, missing_model)
        truth["gaps"].update(missing_day=(missing_day, model_family(missing_model)),
                             mispriced_model=mispriced,
                             extra_requests=(extra[0], model_family(extra[1]),
                                             EXTRA_REQUESTS))

    bill = _Bill()
    for (day, model), s in sorted(seen.items()):
        if day < first_day:
            continue
        bill.add(day, billed_name(model, day), s["requests"] + (
            EXTRA_REQUESTS if (day, model) == extra else 0), s["prompt"], s["cached"],
            s["completion"], prices.price(model, day), MISPRICE if model == mispriced else 1.0)
    if missing:
        day, model = missing
        bill.add(day, billed_name(model, day), 5, 4000, 0, 600, prices.price(model, day))

    # the truth: expected billed sums and findings per (day, family)
    for (day, name), u in bill.usage.items():
        b = truth["billed"].setdefault((day, model_family(name)), {
            "requests": 0, "input_tokens": 0, "cached_tokens": 0, "output_tokens": 0,
            "cost_usd": 0.0})
        b["requests"] += u["requests"]
        b["input_tokens"] += u["input"]
        b["cached_tokens"] += u["cached"]
        b["output_tokens"] += u["output"]
        b["cost_usd"] += sum(v for v, _ in bill.costs[(day, name)].values())
    for (day, model), s in seen.items():
        key = (day, model_family(model))
        finding = ("no_billing_data" if day < first_day else "unpriced" if s["unpriced"]
                   else "ok")
        if truth["findings"].get(key) not in (None, "ok"):
            continue
        truth["findings"][key] = finding
    for day, model in [(d, m) for d, m in seen if d >= first_day and m == mispriced]:
        truth["findings"][(day, model_family(model))] = "mispriced"
    if gaps:
        truth["findings"][(extra[0], model_family(extra[1]))] = "incomplete_export"
        truth["findings"][truth["gaps"]["missing_day"]] = "missing_in_export"

    # the pages
    range_days = [first_day + dt.timedelta(days=i) for i in range((last_day - first_day).days
                                                                  + 1)]
    partial = max(d for d, _ in bill.usage) if duplicates else None

    def usage_bucket(day, scale=1.0):
        return {"object": "bucket", "start_time": _ts(day), "end_time": _ts(day) + DAY_S,
                "results": bill.usage_results(day, scale)}

    def cost_bucket(day, scale=1.0):
        return {"object": "bucket", "start_time": _ts(day), "end_time": _ts(day) + DAY_S,
                "results": bill.cost_results(day, scale)}

    _write_lines(out / FILES["usage"], _pages(
        [usage_bucket(d, 0.5 if d == partial else 1.0) for d in range_days], 31, rng))
    _write_lines(out / FILES["costs"], _pages(
        [cost_bucket(d, 0.5 if d == partial else 1.0) for d in range_days], 60, rng))
    if duplicates:
        _write_lines(out / FILES["usage_rerun"], _pages(
            [usage_bucket(d) for d in range_days[-14:]], 31, rng))
        (out / FILES["costs_rerun"]).write_bytes(orjson.dumps(
            _pages([cost_bucket(d) for d in range_days[-10:]], 60, rng)[0],
            option=orjson.OPT_INDENT_2))
        by_project = []
        for day in sorted({d for d, _ in bill.usage})[:5]:
            results = []
            for (d, name), t in sorted(bill.usage.items()):
                if d != day:
                    continue
                half = {k: v // 2 for k, v in t.items()}
                rest = {k: v - half[k] for k, v in t.items()}
                results += [_usage_result(name, half, project_id="proj_a"),
                            _usage_result(name, rest, project_id="proj_b")]
            by_project.append({"object": "bucket", "start_time": _ts(day),
                               "end_time": _ts(day) + DAY_S, "results": results})
        _write_lines(out / FILES["by_project"], _pages(by_project, 31, rng))
    if bad_pages:
        _bad_pages(out / FILES["bad"], truth)
    truth["files"] = {name: (out / name).stat().st_size for name in FILES.values()
                      if (out / name).exists()}
    return truth


def _bad_pages(path: Path, truth: dict) -> None:
    """One of each billing reject and skip; expected rejects and skips into `truth`."""
    t = _ts(dt.date(2024, 6, 1))
    good = _usage_result("gpt-4o-2024-08-06", {"requests": 1, "input": 10, "cached": 0,
                                              "output": 2})
    lines: list[tuple[bytes, list[str], list[str]]] = [  # (line, reject reasons, skips)
        (orjson.dumps({"object": "page", "data": "oops", "has_more": False}),
         ["data is not a list"], []),
        (orjson.dumps({"object": "page", "data": [], "has_more": False}), [], ["empty_page"]),
        (orjson.dumps({"object": "page", "has_more": False, "data": [
            {"object": "bucket", "start_time": str(t), "end_time": t + DAY_S,
             "results": [good, good]}]}),
         ["data[0]: wrong type: start_time is not an integer timestamp in range"] * 2, []),
        (orjson.dumps({"object": "page", "has_more": False, "data": [
            {"object": "bucket", "start_time": t, "end_time": t, "results": [good]}]}),
         ["data[0]: end_time is not after start_time"], []),
        (orjson.dumps({"object": "page", "has_more": False, "data": [
            {"object": "bucket", "start_time": t, "end_time": t + DAY_S, "results": [
                dict(good, input_tokens=-5),
                {k: v for k, v in good.items() if k != "num_model_requests"},
                {k: v for k, v in good.items() if k != "object"},
                {"object": "organization.usage.embeddings.result", "input_tokens": 3,
                 "num_model_requests": 1, "model": "text-embedding-3-small"},
                dict(good, batch="no"),
            ]}]}),
         ["data[0]: results[0]: wrong type: input_tokens is not a non-negative integer",
          "data[0]: results[1]: missing num_model_requests",
          "data[0]: results[2]: missing object",
          "data[0]: results[4]: wrong type: batch is not a boolean"],
         ["organization.usage.embeddings.result"]),
        (orjson.dumps({"object": "page", "has_more": False, "data": [
            {"object": "bucket", "start_time": t, "end_time": t + DAY_S, "results": [
                _cost_result("gpt-4o, input", 1.0, 10) | {"amount": {"value": "abc",
                                                                      "currency": "usd"}},
                _cost_result("gpt-4o, output", 1.0, 10) | {"amount": 3},
            ]}]}),
         ["data[0]: results[0]: wrong type: amount.value is not a number",
          "data[0]: results[1]: wrong type: amount is not an object"], []),
        (orjson.dumps({"object": "page", "has_more": False, "data": [7, {"object": "list"}]}),
         ["data[0]: not a JSON object", "data[1]: not a bucket"], []),
        (orjson.dumps({"object": "bucket", "start_time": t, "end_time": t + DAY_S,
                       "results": []}), [], ["empty_bucket"]),
        (orjson.dumps(good), ["result outside a bucket"], []),
    ]
    cut = orjson.dumps({"object": "page", "data": [{"object": "bucket", "start_time": t,
                                                   "end_time": t + DAY_S,
                                                   "results": [good]}]})
    body = b"".join(line + b"\n" for line, _, _ in lines) + cut[: len(cut) // 2]
    path.write_bytes(body)
    for line_no, (_, reasons, skips) in enumerate(lines, start=1):
        truth["rejects"] += [(path.name, line_no, reason) for reason in reasons]
        truth["skipped"].update(skips)
