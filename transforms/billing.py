"""Exports of OpenAI's organization Usage API (completions) and Costs API: billing records.

docs/billing.md, "Reconciling estimated cost with the bill". A saved `GET
/v1/organization/usage/completions` or `/v1/organization/costs` body is a *page*
(`{"object": "page", "data": [bucket, ...]}`); a *bucket* (`{"object": "bucket",
"start_time", "end_time", "results": [...]}`) may also be a line of its own or an item of
a JSON array (the cookbook saves the buckets of all pages as one array). **Each result is
one record**: usage results become `billing_usage` rows, cost results `billing_costs`
rows; an empty bucket is a row too (it tells "billed nothing that day" from "no billing
data"), in the table of the other results of its page.

Why only a careful path: billing pages are a few lines per day of an organization (one
line holds a month of buckets), so the fast decoders decline them (transforms/assistants/fast.py)
and every rule lives here, once. `Reader` is called by the careful decoder
(transforms/parse.py) with parsed JSON values; `usage_table` and `costs_table`
de-duplicate the records of every file into the tables.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zlib
from collections.abc import Callable
from typing import Any

import orjson
import polars as pl

from steplens.transforms import schemas
from steplens.transforms.rulebook import MAX_TS

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
_DECIMAL = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


# ---- shapes -------------------------------------------------------------------------------

def is_billing(value: Any) -> bool:
    """A billing page, a bucket, a usage or cost result, or a list page / JSON array
    holding buckets (whose other items are the other contracts' records)."""
    if type(value) is not dict:
        return False
    kind = value.get("object")
    if kind == "page" and "data" in value:
        return True
    if kind in ("bucket", USAGE_OBJECT, COSTS_OBJECT):
        return True
    return kind == "list" and has_buckets(value.get("data"))


def has_buckets(items: Any) -> bool:
    return type(items) is list and any(type(i) is dict and i.get("object") == "bucket"
                                       for i in items)


def container_kind(buckets: list) -> str | None:
    """The one kind of every result in these buckets (where their empty buckets go), or
    None when they hold both kinds or none."""
    kinds = set()
    for b in buckets:
        results = b.get("results") if type(b) is dict else None
        if type(results) is list:
            for r in results:
                if type(r) is dict:
                    kind = KINDS.get(r.get("object"))
                    if kind is not None:
                        kinds.add(kind)
    return kinds.pop() if len(kinds) == 1 else None


# ---- checks (reasons worded as the README's rejects) --------------------------------------

def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_number(v: Any) -> bool:
    return (type(v) is int or type(v) is float) and math.isfinite(v)


def amount_number(v: Any) -> float | None:
    """`amount.value` as a float: a number, or a string holding a finite decimal (some
    exporters write decimals as text); raises ValueError otherwise."""
    if v is None:
        return None
    if _is_number(v):
        return float(v)
    if type(v) is str and _DECIMAL.fullmatch(v):
        number = float(v)
        if math.isfinite(number):
            return number
    raise ValueError(v)


def bucket_error(b: dict) -> str | None:
    for k in ("start_time", "end_time"):
        v = b.get(k)
        if v is None:
            return f"missing {k}"
        if not (_is_int(v) and 0 <= v <= MAX_TS):
            return f"wrong type: {k} is not an integer timestamp in range"
    if b["end_time"] <= b["start_time"]:
        return "end_time is not after start_time"
    results = b.get("results")
    if results is None:
        return "missing results"
    if type(results) is not list:
        return "wrong type: results is not a list"
    return None


def _strings(r: dict, keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = r.get(k)
        if v is not None and type(v) is not str:
            return f"wrong type: {k} is not a string"
    return None


def usage_error(r: dict) -> str | None:
    for k in USAGE_REQUIRED:
        if r.get(k) is None:
            return f"missing {k}"
    for k in USAGE_REQUIRED + USAGE_OPTIONAL:
        v = r.get(k)
        if v is not None and not (_is_int(v) and v >= 0):
            return f"wrong type: {k} is not a non-negative integer"
    reason = _strings(r, USAGE_STRINGS)
    if reason:
        return reason
    if r.get("batch") is not None and type(r["batch"]) is not bool:
        return "wrong type: batch is not a boolean"
    return None


def costs_error(r: dict) -> str | None:
    amount = r.get("amount")
    if amount is not None:
        if type(amount) is not dict:
            return "wrong type: amount is not an object"
        try:
            amount_number(amount.get("value"))
        except ValueError:
            return "wrong type: amount.value is not a number"
        if amount.get("currency") is not None and type(amount["currency"]) is not str:
            return "wrong type: amount.currency is not a string"
    reason = _strings(r, COSTS_STRINGS)
    if reason:
        return reason
    if r.get("quantity") is not None and not _is_number(r["quantity"]):
        return "wrong type: quantity is not a number"
    return None


# A line item after its service-tier prefix: what precedes the first comma, and whether a
# comma (and what follows it) is there at all.
_ITEM = re.compile(r"(?P<head>[^,]*)(?P<detail>,.*)?\Z", re.S)
_WORD = re.compile(r"\S+")
# The first of these found in the text after the comma names the kind.
_KINDS = (("cached", "cached_input"), ("input", "input"), ("output", "output"))


def parse_line_item(line_item: str | None) -> tuple[str | None, str | None]:
    """(model, cost_kind) of a Costs API line item.

    A service-tier prefix up to the last ` | ` is dropped (`priority | gpt-5.6-sol,
    output`); with a comma, the model is the first word before it, lowercased, and the
    kind comes from the rest (`cached` -> cached_input, else input, output, other);
    without one, a single word is a model (kind `other`) and several words
    (`web search tool calls`) are no model's.
    """
    if line_item is None:
        return None, None
    item = _ITEM.match(line_item.strip().rsplit(" | ", 1)[-1].strip())  # the LAST " | "
    words = _WORD.findall(item["head"]) if item else []
    detail = item["detail"] if item else None
    if detail is None:
        return (words[0].lower(), "other") if len(words) == 1 else (None, None)
    if not words:
        return None, None
    found = next((kind for needle, kind in _KINDS if needle in detail.lower()), "other")
    return words[0].lower(), found


# ---- rows ---------------------------------------------------------------------------------

def _day(seconds: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)).date().isoformat()


def _canon(b: dict, values: dict) -> tuple[int, int]:
    """Size and crc32 of a row's canonical content: its table values as sorted-keys JSON,
    times in Unix seconds, the day as ISO text (the last tie-break of duplicates)."""
    data = orjson.dumps({"start_time": b["start_time"], "end_time": b["end_time"],
                         "day": _day(b["start_time"]),
                         "bucket_width_s": b["end_time"] - b["start_time"], **values},
                        option=orjson.OPT_SORT_KEYS)
    return len(data), zlib.crc32(data)


def usage_values(r: dict | None) -> dict:
    """A `billing_usage` row's values after the times (None: an empty bucket)."""
    if r is None:
        return {"empty_bucket": True, **dict.fromkeys(USAGE_DIMENSIONS),
                **dict.fromkeys(USAGE_REQUIRED, 0), **dict.fromkeys(USAGE_OPTIONAL)}
    return {"empty_bucket": False, **{k: r.get(k) for k in USAGE_DIMENSIONS},
            **{k: r.get(k) for k in USAGE_REQUIRED + USAGE_OPTIONAL}}


def costs_values(r: dict | None) -> dict:
    """A `billing_costs` row's values after the times (None: an empty bucket)."""
    if r is None:
        return {"empty_bucket": True, "line_item": None, "model": None, "cost_kind": None,
                "project_id": None, "user_id": None, "api_key_id": None, "api_source": None,
                "amount_value": 0.0, "currency": None, "quantity": None,
                "quantity_unit": None}
    amount = r.get("amount") or {}
    model, kind = parse_line_item(r.get("line_item"))
    quantity = r.get("quantity")
    return {"empty_bucket": False, "line_item": r.get("line_item"), "model": model,
            "cost_kind": kind,
            **{k: r.get(k) for k in ("project_id", "user_id", "api_key_id", "api_source")},
            "amount_value": amount_number(amount.get("value")),
            "currency": amount.get("currency"),
            "quantity": None if quantity is None else float(quantity),
            "quantity_unit": r.get("quantity_unit")}


def _text(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # nested deeper than orjson writes
        return b"(not shown: nested too deeply)"


class Reader:
    """Reads the billing values of one source file into record rows.

    `usage`/`costs` take row tuples (the `BILLING_*_RECORDS` columns after provenance);
    `reject(line_no, reason, raw)` and `skip(line_no, shape)` are the decoder's. Each
    method returns the records it counted.
    """

    def __init__(self, head: Callable[[int, int], tuple], usage: Callable[[tuple], None],
                 costs: Callable[[tuple], None], reject: Callable[[int, str, Any], None],
                 skip: Callable[[int, str], None]) -> None:
        self.head, self.usage, self.costs = head, usage, costs
        self.reject, self.skip = reject, skip

    def value(self, line_no: int, value: dict, text: bytes) -> int:
        """A line (or a document) that `is_billing` and is not a list page."""
        kind = value.get("object")
        if kind == "bucket":
            return self.bucket(line_no, -1, value, container_kind([value]), "")
        if kind != "page":
            self.reject(line_no, "result outside a bucket", text)
            return 1
        data = value["data"]
        if type(data) is not list:
            self.reject(line_no, "data is not a list", text)
            return 1
        if not data:
            self.skip(line_no, "empty_page")
            return 1
        context = container_kind(data)
        n = 0
        for i, item in enumerate(data):
            prefix = f"data[{i}]: "
            if type(item) is not dict:
                self.reject(line_no, prefix + "not a JSON object", _text(item))
                n += 1
            elif item.get("object", "bucket") != "bucket":
                self.reject(line_no, prefix + "not a bucket", _text(item))
                n += 1
            else:
                n += self.bucket(line_no, i, item, context, prefix)
        return n

    def bucket(self, line_no: int, item: int, b: dict, context: str | None,
               prefix: str) -> int:
        """One bucket (`item`: its position in a page, -1 for a line of its own)."""
        reason = bucket_error(b)
        results = b.get("results")
        if reason:
            if type(results) is list and results:
                for r in results:
                    self.reject(line_no, prefix + reason, _text(r))
                return len(results)
            self.reject(line_no, prefix + reason, _text(b))
            return 1
        if not results:
            if context is None:
                self.skip(line_no, "empty_bucket")
            else:
                self._row(line_no, item, context, b, None)
            return 1
        for j, r in enumerate(results):
            where = f"{prefix}results[{j}]: "
            if type(r) is not dict:
                self.reject(line_no, where + "not a JSON object", _text(r))
                continue
            kind = r.get("object")
            if type(kind) is not str:
                self.reject(line_no, where + "missing object", _text(r))
                continue
            if kind not in KINDS:
                self.skip(line_no, kind)
                continue
            reason = (usage_error if kind == USAGE_OBJECT else costs_error)(r)
            if reason:
                self.reject(line_no, where + reason, _text(r))
                continue
            self._row(line_no, item, KINDS[kind], b, r)
        return len(results)

    def _row(self, line_no: int, item: int, kind: str, b: dict, r: dict | None) -> None:
        values = (usage_values if kind == "usage" else costs_values)(r)
        row = (*self.head(line_no, item), b["start_time"], b["end_time"], *values.values(),
               *_canon(b, values))
        (self.usage if kind == "usage" else self.costs)(row)


# ---- tables -------------------------------------------------------------------------------

def _table(records: pl.DataFrame, key: tuple[str, ...], rank: tuple[str, ...],
           schema: pl.Schema) -> pl.DataFrame:
    """One row per key: the record ranked highest (NULL lowest), then by canonical
    content (size, crc32), then provenance (equal content)."""
    order = [*rank, "canon_size", "canon_crc"]
    return (
        records.sort([*order, *schemas.PROVENANCE],
                     descending=[True] * len(order) + [False] * 3, nulls_last=True)
        .unique(subset=["start_s", "end_s", *key], keep="first", maintain_order=True)
        .with_columns(
            start_time=pl.from_epoch("start_s", time_unit="s").cast(schemas.TS),
            end_time=pl.from_epoch("end_s", time_unit="s").cast(schemas.TS),
            day=pl.from_epoch("start_s", time_unit="s").dt.date(),
            bucket_width_s=pl.col("end_s") - pl.col("start_s"))
        .select(schema.names())
        .cast(dict(schema))
        .sort("start_time", "end_time", *key, nulls_last=True)
    )


def usage_table(records: pl.DataFrame) -> pl.DataFrame:
    """`billing_usage`: the usage records de-duplicated (the same bucket exported twice
    counts once; the more complete export wins: the most requests, then tokens)."""
    return _table(records, USAGE_DIMENSIONS, ("num_model_requests", "input_tokens",
                                              "output_tokens", "input_cached_tokens"),
                  schemas.BILLING_USAGE)


def costs_table(records: pl.DataFrame) -> pl.DataFrame:
    """`billing_costs`: the cost records de-duplicated (the largest amount wins)."""
    return _table(records, COSTS_DIMENSIONS, ("amount_value", "quantity"),
                  schemas.BILLING_COSTS)
