"""An independent, plain-Python reading of the billing contract (issue 13, part 4): exports of
the organization Usage API (completions) and Costs API, the tables `billing_usage` and
`billing_costs`, and the view `cost_reconciliation`.

Standard library and orjson only; it imports nothing from `steplens` (file reading is the
docs/ingest.md, "Input" contract, reused from `tests.support.oracle`). Value types are those of
`tests.support.oracle`: naive UTC datetimes, `date` days, None for NULL, lists for LIST.
Shapes follow openai 3.57.0 (`openai.types.admin.organization.UsageCompletionsResponse`,
`UsageCostsResponse`): a page `{"object": "page", "data": [bucket], "has_more",
"next_page"}`, a bucket `{"object": "bucket", "start_time", "end_time", "results": [...]}`.

Shapes (beside the Assistants and Responses shapes; records the Assistants contract used to
skip under `page` or `bucket` become billing records)
 B1. A *billing page* is an object with `"object": "page"` and a `data` key; a *bucket* is
     an object with `"object": "bucket"`, as a line of its own, an item of a billing
     page's `data`, or an item of a list page / top-level JSON array document (the README
     reads those items as lines: the cookbook saves the buckets of several pages as one
     array). Inside a billing page, an item without `object` is read as a bucket too.
 B2. **Each result of a bucket is one record**; the page and bucket around it are not. A
     page whose `data` is empty, a bucket whose `results` list is empty and whose kind is
     unknown (B5) are each one record skipped under `empty_page` / `empty_bucket`.
 B3. A result is dispatched on its `object`: `organization.usage.completions.result` ->
     `billing_usage`, `organization.costs.result` -> `billing_costs`; any other string
     (`organization.usage.embeddings.result`, images, ...) is skipped under that string.
     A result of those two kinds outside any bucket has no time: rejected (`result
     outside a bucket`).

Rejects (`reason` as in the Assistants contract: `missing <key>`, `wrong type: <key> is
not <...>`, prefixed with where the item sits: `data[i]: `, then `results[j]: `; `raw` is
the item's compact JSON, `line_no` the line of the page or bucket)
 B4. A page whose `data` is not a list: one record, `data is not a list`. A page item
     that is not an object: one record, `data[i]: not a JSON object`; an object whose
     `object` is not `bucket`: one record, `data[i]: not a bucket`. A bucket's
     `start_time`/`end_time` missing (`missing start_time`) or not an integer timestamp in
     0..253402300799 (bool is never an integer), `end_time` not after `start_time`
     (`end_time is not after start_time`), `results` missing or not a list: every result of
     it is rejected with that reason (one record when it has no result list or an empty
     one). A result that is not an object: `not a JSON object`; whose `object` is absent
     or not a string: `missing object`.
     Usage results: `num_model_requests`, `input_tokens`, `output_tokens` required
     (`missing X`), and they, `input_cached_tokens`, `input_audio_tokens`,
     `output_audio_tokens` non-negative integers or null (`wrong type: X is not a
     non-negative integer`); `model`, `project_id`, `user_id`, `api_key_id`,
     `service_tier`, `api_source` strings or null; `batch` a boolean or null.
     Cost results: `amount` an object or null; `amount.value` a number, a string holding a
     finite decimal number (some exporters write decimals as text), or null;
     `amount.currency`, `line_item`, `project_id`, `user_id`, `api_key_id`, `api_source`,
     `quantity_unit` strings or null; `quantity` a number or null. Other keys are ignored.

Tables
 B5. Every row has `start_time`, `end_time` (TIMESTAMP), `day` (DATE, UTC, of
     `start_time`), `bucket_width_s` (`end_time - start_time`, BIGINT) and `empty_bucket`.
     **An empty bucket is a row too** (one record, `empty_bucket` true, every dimension
     NULL, usage counts 0 and optional counts NULL, cost `amount_value` 0.0 and `currency`
     NULL), because the API answers an empty bucket for a day without usage: it is what
     tells "billed nothing that day" from "no billing data for that day". Its table is the
     kind of the container it came in (the billing page, the list page or array document):
     the one kind (B3) of all the results in it; a container with results of both kinds or
     none makes its empty buckets `empty_bucket` skips.
 B6. `billing_usage`: `start_time, end_time, day, bucket_width_s, empty_bucket, model,
     project_id, user_id, api_key_id, batch, service_tier, api_source, num_model_requests,
     input_tokens, output_tokens, input_cached_tokens, input_audio_tokens,
     output_audio_tokens`, all as sent (`input_tokens` includes cached tokens, as
     `prompt_tokens` does).
 B7. `billing_costs`: `start_time, end_time, day, bucket_width_s, empty_bucket, line_item,
     model, cost_kind, project_id, user_id, api_key_id, api_source, amount_value (DOUBLE),
     currency, quantity, quantity_unit`; `model` and `cost_kind` parsed from `line_item`
     (B9).
 B8. De-duplication (the same bucket exported twice: overlapping weekly exports, a re-run):
     one row per key; `billing_usage` key = (`start_time`, `end_time`, `model`, `project_id`,
     `user_id`, `api_key_id`, `batch`, `service_tier`, `api_source`), NULL a value like any
     other; `billing_costs` key = (`start_time`, `end_time`, `line_item`, `project_id`,
     `user_id`, `api_key_id`, `api_source`). The winner is the more complete export (a
     bucket exported while its day was still running holds less): usage by the largest
     (`num_model_requests`, `input_tokens`, `output_tokens`, `input_cached_tokens` (NULL
     lowest)), costs by the largest (`amount_value`, `quantity`) (NULL lowest), then both by
     the larger canonical content (the row's values as orjson with sorted keys, times in
     Unix seconds): size, then crc32. An empty bucket shares its key with an ungrouped
     result of the same bucket, which beats it. Losers count `superseded`.
     `records_read = kept + superseded + rejected + skipped` over billing records.
 B9. `line_item` -> (`model`, `cost_kind`): strip it; drop everything up to the last ` | `
     (a service-tier prefix: `priority | gpt-5.6-sol, output`); split at the first comma.
     With a comma, `model` is the first whitespace-separated word before it, lowercased
     (`gpt-audio-mini-2025-12-15 audio, input` -> `gpt-audio-mini-2025-12-15`) and
     `cost_kind` is read from the rest, lowercased: containing `cached` -> `cached_input`,
     else `input` -> `input`, else `output` -> `output`, else `other` (`whisper-1, audio`).
     Without a comma, a single word (`gpt-4o`, `GPT-5.4`) is a model (lowercased) with
     `cost_kind` `other`; several words (`web search tool calls`, `Vector storage`) are no
     model: `model` and `cost_kind` NULL. Formats seen in public code that reads the Costs
     API: `gpt-4o-2024-08-06, input`, `..., cached input`, `..., output`,
     `ft-gpt-4o-2024-08-06, input`, `gpt-6-astra, input_tokens` (the SDK's own example),
     `priority | gpt-5.6-sol, output, long context`, `gpt-4o` alone, `web search tool
     calls`.

Reconciliation (view `cost_reconciliation`, one row per UTC day x model family)
B10. Model family: lowercased, a trailing snapshot date `-YYYY-MM-DD` or `-MMDD` removed
     (`gpt-4o-2024-08-06` -> `gpt-4o`, `gpt-3.5-turbo-0125` -> `gpt-3.5-turbo`). The Usage
     API names the snapshot a request ran on, an Assistants run the name it was given
     (often the alias): the family is what both share. Snapshots of one family are summed
     together; each side's own names are listed (`seen_models`, `billed_models`). Known
     limit: aliases whose snapshots have another stem (`gpt-4-turbo-preview` ->
     `gpt-4-0125-preview`) stay two rows, one `not_billed` and one `missing_in_export`.
B11. **A request seen is a usage record**: an Assistants step with `usage` or a Responses
     response with `usage` (the rows of `usage`). The Usage API counts model requests;
     an Assistants run calls the model once per step (each step has its own usage) and a
     run with tool calls makes several, so runs would under-count; a step without usage
     (in progress, or an archive from before 2024-02) has no tokens to compare either, and
     counting requests and tokens over the same records keeps the two comparable. A
     Responses response with hosted tools (web/file search, code interpreter, MCP) can make
     several model requests server-side while reporting one usage: there billed > seen is
     expected. Seen figures per (day, family) over `usage` rows (`day` = UTC date of the
     step's or response's `created_at`): `requests_seen` (rows), `input_tokens_seen`
     (`prompt_tokens`), `cached_tokens_seen` (`cached_tokens`), `output_tokens_seen`
     (`completion_tokens`, reasoning included), NULL counted as 0; `estimated_cost_usd`
     (sum of `cost_usd` of the priced rows, 0.0 when none); `unpriced_requests` (rows with
     `prompt_tokens` or `completion_tokens` but no `cost_usd`).
B12. Billed figures. A bucket may be exported in several *layouts*: bucket width x
     grouping (the dimensions whose value is not NULL, e.g. `model` or `model,project_id`).
     Summing two layouts counts the same usage twice, so per day one layout of
     `billing_usage` is used: rows grouped by `model` first, then the widest bucket, then
     the fewest grouping dimensions, then the grouping's name; for `billing_costs`:
     grouped by `line_item` first, then widest, fewest, name. Over the chosen layout's rows
     of the family: `requests_billed` (`num_model_requests`), `input_tokens_billed`,
     `cached_tokens_billed` (`input_cached_tokens`, NULL as 0), `output_tokens_billed`;
     `billed_cost_usd` (`amount_value` of rows whose `currency` is `usd` in any case or
     NULL). A day is *covered* by a table when it has any row of it that day (an empty
     bucket counts): then a family without rows is billed 0; a day not covered has NULL
     billed figures.
B13. Rows: every (day, family) with a seen usage row, a non-empty chosen-layout usage row or
     a non-empty chosen-layout cost row. Family NULL holds usage of runs missing from the
     data, usage exported without `group_by=model`, and costs that are no model's (B9).
     Columns: `day, model` (the family), `seen_models, billed_models` (sorted distinct raw
     names: `usage` models; chosen usage rows' models and cost rows' parsed models),
     `requests_seen, requests_billed, request_gap, request_gap_pct, input_tokens_seen,
     input_tokens_billed, input_token_gap_pct, cached_tokens_seen, cached_tokens_billed,
     output_tokens_seen, output_tokens_billed, output_token_gap_pct, estimated_cost_usd,
     unpriced_requests, billed_cost_usd, cost_gap_usd, cost_gap_pct, finding`.
     Gaps are billed minus seen (positive: the bill holds more than the export explains);
     `*_gap_pct` = 100 x gap / billed, NULL when billed is NULL or 0.
B14. `finding`, the first that applies: `no_billing_data` (the day is covered by neither
     table); `unattributed` (family NULL); `missing_in_export` (nothing seen, something
     billed: requests or cost > 0); `not_billed` (seen, but billed requests and cost are 0
     or NULL); `incomplete_export` (billed > seen for requests, input or output tokens);
     `exceeds_bill` (seen > billed for one of them: the bill is for fewer projects than the
     export, or the export counts something twice); `unpriced` (`unpriced_requests` > 0);
     `mispriced` (|`cost_gap_pct`| > 1.0: tokens agree but the money does not: a price
     missing from the price table, changed, or a discount); else `ok`. Cached tokens are
     not compared on their own: a difference there shows as a cost gap.
B15. The view sums every project of the billing data: export the Usage and Costs APIs with
     `project_ids=[...]` to reconcile one project.

Prices (the docs/billing.md, "Cost and prices" rules, re-implemented for the oracle and the billing
generator): `PriceTable` reads a prices CSV; a model is priced as the table model equal to
it, else the longest table model that is a prefix of it followed by `-`, at the row with
the latest `effective_from` on or before the day; cost = ((prompt - cached) x prompt +
cached x (cached price, else prompt price) + completion x completion price) / 1e6.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.support import oracle, responses_oracle

USAGE_OBJECT = "organization.usage.completions.result"
COSTS_OBJECT = "organization.costs.result"
KINDS = {USAGE_OBJECT: "usage", COSTS_OBJECT: "costs"}
USAGE_DIMENSIONS = ("model", "project_id", "user_id", "api_key_id", "batch", "service_tier",
                    "api_source")
COSTS_DIMENSIONS = ("line_item", "project_id", "user_id", "api_key_id", "api_source")
USAGE_REQUIRED = ("num_model_requests", "input_tokens", "output_tokens")
USAGE_OPTIONAL = ("input_cached_tokens", "input_audio_tokens", "output_audio_tokens")
USAGE_STRINGS = ("model", "project_id", "user_id", "api_key_id", "service_tier", "api_source")
COSTS_STRINGS = ("line_item", "project_id", "user_id", "api_key_id", "api_source",
                 "quantity_unit")
USAGE_COLUMNS = ("start_time", "end_time", "day", "bucket_width_s", "empty_bucket",
                 *USAGE_DIMENSIONS, *USAGE_REQUIRED, *USAGE_OPTIONAL)
COSTS_COLUMNS = ("start_time", "end_time", "day", "bucket_width_s", "empty_bucket",
                 "line_item", "model", "cost_kind", "project_id", "user_id", "api_key_id",
                 "api_source", "amount_value", "currency", "quantity", "quantity_unit")
RECONCILIATION_COLUMNS = (
    "day", "model", "seen_models", "billed_models", "requests_seen", "requests_billed",
    "request_gap", "request_gap_pct", "input_tokens_seen", "input_tokens_billed",
    "input_token_gap_pct", "cached_tokens_seen", "cached_tokens_billed", "output_tokens_seen",
    "output_tokens_billed", "output_token_gap_pct", "estimated_cost_usd", "unpriced_requests",
    "billed_cost_usd", "cost_gap_usd", "cost_gap_pct", "finding",
)
FINDINGS = ("no_billing_data", "unattributed", "missing_in_export", "not_billed",
            "incomplete_export", "exceeds_bill", "unpriced", "mispriced", "ok")
COST_TOLERANCE_PCT = 1.0
SNAPSHOT_DATE = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")
EPOCH = dt.datetime(1970, 1, 1)


# --------------------------------------------------------------------------- prices


@dataclass
class PriceTable:
    """model -> [(effective_from, prompt, cached or None, completion)], sorted by date."""

    rows: dict[str, list[tuple[dt.date, float, float | None, float]]]

    @classmethod
    def from_csv(cls, text: str) -> PriceTable:
        body = "\n".join(line for line in text.splitlines()
                         if line.strip() and not line.lstrip().startswith("#"))
        rows: dict[str, list] = defaultdict(list)
        for r in csv.DictReader(io.StringIO(body)):
            cached = r["cached_prompt_usd_per_1m"].strip()
            rows[r["model"].strip()].append((
                dt.date.fromisoformat(r["effective_from"].strip()),
                float(r["prompt_usd_per_1m"]), float(cached) if cached else None,
                float(r["completion_usd_per_1m"])))
        return cls({m: sorted(v) for m, v in rows.items()})

    @classmethod
    def shipped(cls) -> PriceTable:
        """The repository's data/prices.csv (project data, not product code)."""
        return cls.from_csv((Path(__file__).resolve().parents[2] / "data" / "prices.csv")
                            .read_text(encoding="utf-8"))

    def price_model(self, model: str | None) -> str | None:
        if model is None:
            return None
        if model in self.rows:
            return model
        prefixes = [m for m in self.rows if model.startswith(m + "-")]
        return max(prefixes, key=len, default=None)

    def price(self, model: str | None, day: dt.date | None):
        name = self.price_model(model)
        if name is None or day is None:
            return None
        valid = [p for p in self.rows[name] if p[0] <= day]
        return valid[-1] if valid else None

    def cost(self, model, day, prompt, cached, completion) -> float | None:
        if prompt is None and completion is None:
            return None
        p = self.price(model, day)
        if p is None:
            return None
        _, prompt_price, cached_price, completion_price = p
        prompt = prompt or 0
        cached = min(cached or 0, prompt)
        return ((prompt - cached) * prompt_price
                + cached * (cached_price if cached_price is not None else prompt_price)
                + (completion or 0) * completion_price) / 1e6

    def row_cost(self, row: dict) -> float | None:
        """`cost_usd` of a runs/steps/usage row."""
        return self.cost(row["model"], row["day"], row["prompt_tokens"], row["cached_tokens"],
                         row["completion_tokens"])


# --------------------------------------------------------------------------- reading


@dataclass
class Read:
    usage: dict[tuple, list[dict]] = field(default_factory=lambda: defaultdict(list))
    costs: dict[tuple, list[dict]] = field(default_factory=lambda: defaultdict(list))
    rejects: list[dict] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    records_read: int = 0


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def amount_number(v: Any) -> float | None:
    """B4: `amount.value` as a float; raises ValueError when it is not a number."""
    if v is None:
        return None
    if _is_number(v):
        return float(v)
    if isinstance(v, str) and re.fullmatch(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*", v):
        return float(v)
    raise ValueError


def _text(value: Any) -> str:
    return orjson.dumps(value).decode()


def is_billing(value: Any) -> bool:
    """Whether a line's value is a billing shape (B1, B3)."""
    if not isinstance(value, dict):
        return False
    kind = value.get("object")
    if kind == "page" and "data" in value:
        return True
    return kind in ("bucket", USAGE_OBJECT, COSTS_OBJECT) or (
        kind == "list" and isinstance(value.get("data"), list)
        and any(isinstance(i, dict) and i.get("object") == "bucket" for i in value["data"]))


def container_kind(buckets: list) -> str | None:
    """B5: the one kind of all results in these buckets, else None."""
    kinds = set()
    for b in buckets:
        if isinstance(b, dict) and isinstance(b.get("results"), list):
            for r in b["results"]:
                if isinstance(r, dict) and r.get("object") in KINDS:
                    kinds.add(KINDS[r["object"]])
    return kinds.pop() if len(kinds) == 1 else None


def bucket_error(b: dict) -> str | None:
    for k in ("start_time", "end_time"):
        if b.get(k) is None:
            return f"missing {k}"
        if not (_is_int(b[k]) and 0 <= b[k] <= oracle.MAX_TIMESTAMP):
            return f"wrong type: {k} is not an integer timestamp in range"
    if b["end_time"] <= b["start_time"]:
        return "end_time is not after start_time"
    if "results" not in b or b["results"] is None:
        return "missing results"
    if not isinstance(b["results"], list):
        return "wrong type: results is not a list"
    return None


def _strings(r: dict, keys) -> str | None:
    for k in keys:
        if r.get(k) is not None and not isinstance(r[k], str):
            return f"wrong type: {k} is not a string"
    return None


def usage_error(r: dict) -> str | None:
    for k in USAGE_REQUIRED:
        if r.get(k) is None:
            return f"missing {k}"
    for k in USAGE_REQUIRED + USAGE_OPTIONAL:
        if r.get(k) is not None and not (_is_int(r[k]) and r[k] >= 0):
            return f"wrong type: {k} is not a non-negative integer"
    err = _strings(r, USAGE_STRINGS)
    if err:
        return err
    if r.get("batch") is not None and not isinstance(r["batch"], bool):
        return "wrong type: batch is not a boolean"
    return None


def costs_error(r: dict) -> str | None:
    amount = r.get("amount")
    if amount is not None:
        if not isinstance(amount, dict):
            return "wrong type: amount is not an object"
        try:
            amount_number(amount.get("value"))
        except ValueError:
            return "wrong type: amount.value is not a number"
        if amount.get("currency") is not None and not isinstance(amount["currency"], str):
            return "wrong type: amount.currency is not a string"
    err = _strings(r, COSTS_STRINGS)
    if err:
        return err
    if r.get("quantity") is not None and not _is_number(r["quantity"]):
        return "wrong type: quantity is not a number"
    return None


def parse_line_item(line_item: str | None) -> tuple[str | None, str | None]:
    """B9: (model, cost_kind)."""
    if line_item is None:
        return None, None
    text = line_item.strip()
    if " | " in text:
        text = text.rsplit(" | ", 1)[1].strip()
    head, comma, rest = text.partition(",")
    words = head.split()
    if not comma:
        return (words[0].lower(), "other") if len(words) == 1 else (None, None)
    if not words:
        return None, None
    rest = rest.strip().lower()
    kind = ("cached_input" if "cached" in rest else "input" if "input" in rest
            else "output" if "output" in rest else "other")
    return words[0].lower(), kind


def _times(b: dict) -> dict:
    start = EPOCH + dt.timedelta(seconds=b["start_time"])
    return {"start_time": start, "end_time": EPOCH + dt.timedelta(seconds=b["end_time"]),
            "day": start.date(), "bucket_width_s": b["end_time"] - b["start_time"]}


def usage_row(b: dict, r: dict | None) -> dict:
    if r is None:  # an empty bucket
        return {**_times(b), "empty_bucket": True, **dict.fromkeys(USAGE_DIMENSIONS),
                **dict.fromkeys(USAGE_REQUIRED, 0), **dict.fromkeys(USAGE_OPTIONAL)}
    return {**_times(b), "empty_bucket": False, **{k: r.get(k) for k in USAGE_DIMENSIONS},
            **{k: r.get(k) for k in USAGE_REQUIRED + USAGE_OPTIONAL}}


def costs_row(b: dict, r: dict | None) -> dict:
    if r is None:
        return {**_times(b), "empty_bucket": True, "line_item": None, "model": None,
                "cost_kind": None, "project_id": None, "user_id": None, "api_key_id": None,
                "api_source": None, "amount_value": 0.0, "currency": None, "quantity": None,
                "quantity_unit": None}
    amount = r.get("amount") or {}
    model, kind = parse_line_item(r.get("line_item"))
    return {**_times(b), "empty_bucket": False, "line_item": r.get("line_item"),
            "model": model, "cost_kind": kind,
            **{k: r.get(k) for k in ("project_id", "user_id", "api_key_id", "api_source")},
            "amount_value": amount_number(amount.get("value")),
            "currency": amount.get("currency"),
            "quantity": None if r.get("quantity") is None else float(r["quantity"]),
            "quantity_unit": r.get("quantity_unit")}


def usage_key(row: dict) -> tuple:
    return (row["start_time"], row["end_time"], *(row[k] for k in USAGE_DIMENSIONS))


def costs_key(row: dict) -> tuple:
    return (row["start_time"], row["end_time"], *(row[k] for k in COSTS_DIMENSIONS))


class _Reader:
    def __init__(self) -> None:
        self.out = Read()

    def reject(self, src, line_no, raw: str, reason: str) -> None:
        self.out.records_read += 1
        self.out.rejects.append({"source_file": src, "line_no": line_no, "reason": reason,
                                 "raw": raw[:oracle.RAW_LIMIT]})

    def skip(self, name: str) -> None:
        self.out.records_read += 1
        self.out.skipped[name] += 1

    def keep(self, kind: str, row: dict) -> None:
        self.out.records_read += 1
        if kind == "usage":
            self.out.usage[usage_key(row)].append(row)
        else:
            self.out.costs[costs_key(row)].append(row)

    def value(self, value: Any, src: str, line_no: int, raw: str) -> None:
        """A line (or document) value that `is_billing`."""
        kind = value.get("object")
        if kind == "page":
            data = value["data"]
            if not isinstance(data, list):
                self.reject(src, line_no, raw, "data is not a list")
                return
            if not data:
                self.skip("empty_page")
                return
            context = container_kind(data)
            for i, item in enumerate(data):
                prefix = f"data[{i}]: "
                if not isinstance(item, dict):
                    self.reject(src, line_no, _text(item), prefix + "not a JSON object")
                elif item.get("object", "bucket") != "bucket":
                    self.reject(src, line_no, _text(item), prefix + "not a bucket")
                else:
                    self.bucket(item, context, src, line_no, prefix)
        elif kind == "list":
            context = container_kind(value["data"])
            for i, item in enumerate(value["data"]):
                prefix = f"data[{i}]: "
                if isinstance(item, dict) and item.get("object") == "bucket":
                    self.bucket(item, context, src, line_no, prefix)
                # other items are the Assistants/Responses contracts' records
        elif kind == "bucket":
            self.bucket(value, container_kind([value]), src, line_no, "")
        else:
            self.reject(src, line_no, raw, "result outside a bucket")

    def bucket(self, b: dict, context: str | None, src, line_no, prefix: str) -> None:
        err = bucket_error(b)
        results = b.get("results")
        if err:
            if isinstance(results, list) and results:
                for r in results:
                    self.reject(src, line_no, _text(r), prefix + err)
            else:
                self.reject(src, line_no, _text(b), prefix + err)
            return
        if not results:
            if context is None:
                self.skip("empty_bucket")
            else:
                self.keep(context, (usage_row if context == "usage" else costs_row)(b, None))
            return
        for j, r in enumerate(results):
            where = f"{prefix}results[{j}]: "
            if not isinstance(r, dict):
                self.reject(src, line_no, _text(r), where + "not a JSON object")
                continue
            kind = r.get("object")
            if not isinstance(kind, str):
                self.reject(src, line_no, _text(r), where + "missing object")
                continue
            if kind not in KINDS:
                self.skip(kind)
                continue
            err = (usage_error if kind == USAGE_OBJECT else costs_error)(r)
            if err:
                self.reject(src, line_no, _text(r), where + err)
                continue
            kind = KINDS[kind]
            self.keep(kind, (usage_row if kind == "usage" else costs_row)(b, r))


def read_billing(paths) -> Read:
    """The billing records of the files under `paths` (README file reading; SSE files and
    every non-billing line are the other contracts' and are not counted here)."""
    reader = _Reader()
    for path in oracle.input_files(paths):
        data = oracle.file_bytes(path)
        lines = oracle.file_lines(path)
        if oracle._is_sse(path, lines):
            continue
        document = oracle._document(path, data, lines)
        if document is not None:
            if isinstance(document, list):
                document = {"object": "list", "data": document}
            if is_billing(document):
                reader.value(document, str(path), 1, oracle._text(data.strip()))
            continue
        for line_no, raw in enumerate(lines, start=1):
            raw = raw.strip()
            try:
                value = orjson.loads(raw) if raw else None
            except orjson.JSONDecodeError:
                continue  # the README's `invalid JSON` reject, not a billing record
            if is_billing(value):
                reader.value(value, str(path), line_no, oracle._text(raw))
    return reader.out


# --------------------------------------------------------------------------- de-duplication


def _canonical(row: dict) -> bytes:
    def plain(v):
        if isinstance(v, dt.datetime):
            return int((v - EPOCH).total_seconds())
        if isinstance(v, dt.date):
            return v.isoformat()
        return v
    return orjson.dumps({k: plain(v) for k, v in row.items()}, option=orjson.OPT_SORT_KEYS)


def _low(v) -> float:
    return -math.inf if v is None else v


def usage_rank(row: dict) -> tuple:
    c = _canonical(row)
    return (row["num_model_requests"], row["input_tokens"], row["output_tokens"],
            _low(row["input_cached_tokens"]), len(c), zlib.crc32(c))


def costs_rank(row: dict) -> tuple:
    c = _canonical(row)
    return (_low(row["amount_value"]), _low(row["quantity"]), len(c), zlib.crc32(c))


@dataclass
class Result:
    billing_usage: list[dict] = field(default_factory=list)
    billing_costs: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    skipped_by_shape: dict[str, int] = field(default_factory=dict)


def compute(paths) -> Result:
    """Expected `billing_usage`, `billing_costs`, rejects and accounting (billing records)."""
    read = read_billing(paths)
    result = Result(rejects=read.rejects)
    superseded = 0
    for groups, rank, rows in ((read.usage, usage_rank, result.billing_usage),
                               (read.costs, costs_rank, result.billing_costs)):
        for recs in groups.values():
            rows.append(max(recs, key=rank))
            superseded += len(recs) - 1
    kept = len(result.billing_usage) + len(result.billing_costs)
    skipped = sum(read.skipped.values())
    result.counts = {"records_read": read.records_read, "kept": kept, "superseded": superseded,
                     "rejected": len(read.rejects), "skipped": skipped}
    assert read.records_read == kept + superseded + len(read.rejects) + skipped
    result.skipped_by_shape = dict(sorted(read.skipped.items()))
    return result


# --------------------------------------------------------------------------- reconciliation


def model_family(model: str | None) -> str | None:
    """B10."""
    return None if model is None else SNAPSHOT_DATE.sub("", model.lower())


def _grouping(row: dict, dims: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(k for k in dims if row[k] is not None)


def chosen_layout_rows(rows: list[dict], dims: tuple[str, ...], lead: str) -> list[dict]:
    """B12: per day, the rows of the day's best layout."""
    by_day: dict[dt.date, dict[tuple, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_day[r["day"]][(r["bucket_width_s"], _grouping(r, dims))].append(r)
    out = []
    for layouts in by_day.values():
        best = min(layouts, key=lambda k: (lead not in k[1], -k[0], len(k[1]), ",".join(k[1])))
        out += layouts[best]
    return out


def _pct(gap, billed) -> float | None:
    return None if billed in (None, 0) else 100.0 * gap / billed


def finding(row: dict, usage_covered: bool, costs_covered: bool) -> str:
    """B14."""
    if not usage_covered and not costs_covered:
        return "no_billing_data"
    if row["model"] is None:
        return "unattributed"
    requests_billed = row["requests_billed"] or 0
    cost_billed = row["billed_cost_usd"] or 0
    if row["requests_seen"] == 0 and (requests_billed > 0 or cost_billed > 0):
        return "missing_in_export"
    if row["requests_seen"] > 0 and requests_billed == 0 and cost_billed == 0:
        return "not_billed"
    pairs = [(row[f"{m}_seen"], row[f"{m}_billed"])
             for m in ("requests", "input_tokens", "output_tokens")
             if row[f"{m}_billed"] is not None]
    if any(billed > seen for seen, billed in pairs):
        return "incomplete_export"
    if any(seen > billed for seen, billed in pairs):
        return "exceeds_bill"
    if row["unpriced_requests"] > 0:
        return "unpriced"
    if row["cost_gap_pct"] is not None and abs(row["cost_gap_pct"]) > COST_TOLERANCE_PCT:
        return "mispriced"
    return "ok"


def cost_reconciliation(usage: list[dict], billing_usage: list[dict],
                        billing_costs: list[dict]) -> list[dict]:
    """B10-B14. `usage`: rows of the product's `usage` view (both APIs) with `day, model,
    prompt_tokens, cached_tokens, completion_tokens, cost_usd`."""
    usage_days = {r["day"] for r in billing_usage}
    costs_days = {r["day"] for r in billing_costs}
    billed_usage = [r for r in chosen_layout_rows(billing_usage, USAGE_DIMENSIONS, "model")
                    if not r["empty_bucket"]]
    billed_costs = [r for r in chosen_layout_rows(billing_costs, COSTS_DIMENSIONS, "line_item")
                    if not r["empty_bucket"]]
    seen_by: dict[tuple, list[dict]] = defaultdict(list)
    for r in usage:
        seen_by[(r["day"], model_family(r["model"]))].append(r)
    usage_by: dict[tuple, list[dict]] = defaultdict(list)
    for r in billed_usage:
        usage_by[(r["day"], model_family(r["model"]))].append(r)
    costs_by: dict[tuple, list[dict]] = defaultdict(list)
    for r in billed_costs:
        costs_by[(r["day"], model_family(r["model"]))].append(r)

    out = []
    for key in sorted(set(seen_by) | set(usage_by) | set(costs_by),
                      key=lambda k: (k[0], k[1] is None, k[1] or "")):
        day, family = key
        seen, billed, costs = seen_by.get(key, []), usage_by.get(key, []), costs_by.get(key, [])
        row = {"day": day, "model": family,
               "seen_models": sorted({r["model"] for r in seen if r["model"] is not None}),
               "billed_models": sorted({r["model"] for r in billed + costs
                                        if r["model"] is not None}),
               "requests_seen": len(seen),
               "input_tokens_seen": sum(r["prompt_tokens"] or 0 for r in seen),
               "cached_tokens_seen": sum(r["cached_tokens"] or 0 for r in seen),
               "output_tokens_seen": sum(r["completion_tokens"] or 0 for r in seen),
               "estimated_cost_usd": sum((r["cost_usd"] for r in seen
                                          if r["cost_usd"] is not None), 0.0),
               "unpriced_requests": sum(
                   1 for r in seen if r["cost_usd"] is None
                   and (r["prompt_tokens"] is not None or r["completion_tokens"] is not None))}
        covered = day in usage_days
        for name, col in (("requests", "num_model_requests"), ("input_tokens", "input_tokens"),
                          ("cached_tokens", "input_cached_tokens"),
                          ("output_tokens", "output_tokens")):
            row[f"{name}_billed"] = sum(r[col] or 0 for r in billed) if covered else None
        row["billed_cost_usd"] = (sum(r["amount_value"] for r in costs
                                      if r["amount_value"] is not None
                                      and (r["currency"] or "usd").lower() == "usd")
                                  if day in costs_days else None)
        row["request_gap"] = (None if row["requests_billed"] is None
                              else row["requests_billed"] - row["requests_seen"])
        row["request_gap_pct"] = _pct(row["request_gap"], row["requests_billed"])
        for name in ("input_token", "output_token"):
            billed_n = row[f"{name}s_billed"]
            row[f"{name}_gap_pct"] = (None if billed_n is None else
                                      _pct(billed_n - row[f"{name}s_seen"], billed_n))
        row["cost_gap_usd"] = (None if row["billed_cost_usd"] is None
                               else row["billed_cost_usd"] - row["estimated_cost_usd"])
        row["cost_gap_pct"] = _pct(row["cost_gap_usd"], row["billed_cost_usd"])
        row["finding"] = finding(row, covered, day in costs_days)
        out.append({k: row[k] for k in RECONCILIATION_COLUMNS})
    return out


def seen_usage(paths, prices: PriceTable) -> list[dict]:
    """The expected `usage` view rows of an export (both APIs), with `cost_usd`."""
    tables = responses_oracle.compute(paths)
    rows = [dict(r, api="assistants") for r in tables.assistants.usage] + tables.usage
    return [dict(r, cost_usd=prices.row_cost(r)) for r in rows]


def reconcile(export_paths, billing_paths, prices: PriceTable | None = None) -> list[dict]:
    """Expected `cost_reconciliation` of an export and billing files (list prices by
    default)."""
    billing = compute(billing_paths)
    return cost_reconciliation(seen_usage(export_paths, prices or PriceTable.shipped()),
                               billing.billing_usage, billing.billing_costs)
