"""Micro-tests of the billing oracle (tests/support/billing_oracle.py): one rule each, on
inline Usage API / Costs API pages validated against the openai SDK models."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from openai.types.admin.organization import UsageCompletionsResponse, UsageCostsResponse

from tests.support import billing_oracle as bo

D0 = 1748736000  # 2025-06-01 00:00:00 UTC
DAY = 86_400


def usage_result(model="gpt-4o-2024-08-06", requests=2, input_tokens=100, output=20,
                 cached=0, **fields) -> dict:
    r = {"object": bo.USAGE_OBJECT, "input_tokens": input_tokens, "output_tokens": output,
         "input_cached_tokens": cached, "num_model_requests": requests, "model": model,
         "project_id": None, "user_id": None, "api_key_id": None, "batch": None}
    r.update(fields)
    return r


def cost_result(line_item="gpt-4o-2024-08-06, input", value=0.5, **fields) -> dict:
    r = {"object": bo.COSTS_OBJECT, "amount": {"value": value, "currency": "usd"},
         "line_item": line_item, "project_id": None}
    r.update(fields)
    return r


def bucket(*results, day=0, width=DAY) -> dict:
    return {"object": "bucket", "start_time": D0 + day * DAY,
            "end_time": D0 + day * DAY + width, "results": list(results)}


def page(*buckets) -> dict:
    return {"object": "page", "data": list(buckets), "has_more": False, "next_page": None}


def write(path, *values) -> str:
    path.write_bytes(b"".join(orjson.dumps(v) + b"\n" for v in values))
    return path


def compute(tmp_path, *values, name="billing.jsonl") -> bo.Result:
    return bo.compute([write(tmp_path / name, *values)])


def test_inline_pages_are_sdk_shaped():
    UsageCompletionsResponse.model_validate(page(bucket(usage_result()), bucket(day=1)))
    UsageCostsResponse.model_validate(page(bucket(cost_result())))


# --------------------------------------------------------------------------- B1-B3 shapes


def test_b2_each_result_is_a_record_the_page_is_not(tmp_path):
    result = compute(tmp_path, page(bucket(usage_result("a"), usage_result("b")),
                                    bucket(usage_result("a"), day=1)))
    assert result.counts == {"records_read": 3, "kept": 3, "superseded": 0, "rejected": 0,
                             "skipped": 0}


def test_b1_bare_bucket_line(tmp_path):
    result = compute(tmp_path, bucket(cost_result()))
    assert [r["line_item"] for r in result.billing_costs] == ["gpt-4o-2024-08-06, input"]


def test_b1_json_array_document_of_buckets(tmp_path):
    path = tmp_path / "buckets.json"
    path.write_bytes(orjson.dumps([bucket(usage_result()), bucket(day=1)],
                                  option=orjson.OPT_INDENT_2))
    result = bo.compute([path])
    assert [(r["day"], r["empty_bucket"]) for r in result.billing_usage] == [
        (dt.date(2025, 6, 1), False), (dt.date(2025, 6, 2), True)]


def test_b1_page_item_without_object_is_a_bucket(tmp_path):
    b = bucket(usage_result())
    del b["object"]
    assert len(compute(tmp_path, page(b)).billing_usage) == 1


def test_b2_empty_page_is_one_skip(tmp_path):
    result = compute(tmp_path, page())
    assert result.skipped_by_shape == {"empty_page": 1} and result.counts["records_read"] == 1


def test_b3_other_usage_kinds_are_skipped_under_their_object(tmp_path):
    other = {"object": "organization.usage.embeddings.result", "input_tokens": 5,
             "num_model_requests": 1}
    result = compute(tmp_path, page(bucket(other, usage_result())))
    assert result.skipped_by_shape == {"organization.usage.embeddings.result": 1}
    assert len(result.billing_usage) == 1


def test_b3_result_outside_a_bucket_is_rejected(tmp_path):
    result = compute(tmp_path, usage_result())
    assert [r["reason"] for r in result.rejects] == ["result outside a bucket"]


def test_b1_lines_of_other_contracts_are_not_billing_records(tmp_path):
    result = compute(tmp_path, {"object": "thread.run", "id": "run_A"}, {"object": "list",
                                                                        "data": []})
    assert result.counts["records_read"] == 0


# --------------------------------------------------------------------------- B4 rejects


@pytest.mark.parametrize(("value", "reasons"), [
    pytest.param({"object": "page", "data": {"x": 1}}, ["data is not a list"], id="data"),
    pytest.param(page(7), ["data[0]: not a JSON object"], id="item-not-object"),
    pytest.param(page({"object": "list", "data": []}), ["data[0]: not a bucket"],
                 id="item-not-bucket"),
    pytest.param(page(dict(bucket(usage_result(), usage_result("b")), start_time=None)),
                 ["data[0]: missing start_time"] * 2, id="bucket-error-per-result"),
    pytest.param(page(dict(bucket(), end_time=True)),
                 ["data[0]: wrong type: end_time is not an integer timestamp in range"],
                 id="bool-timestamp-no-results"),
    pytest.param(page(dict(bucket(usage_result()), end_time=D0)),
                 ["data[0]: end_time is not after start_time"], id="end-not-after-start"),
    pytest.param(page(dict(bucket(), results={"a": 1})),
                 ["data[0]: wrong type: results is not a list"], id="results-not-list"),
    pytest.param(page(bucket("x")), ["data[0]: results[0]: not a JSON object"],
                 id="result-not-object"),
    pytest.param(page(bucket({k: v for k, v in usage_result().items() if k != "object"})),
                 ["data[0]: results[0]: missing object"], id="result-without-object"),
    pytest.param(page(bucket(usage_result(output=None))),
                 ["data[0]: results[0]: missing output_tokens"], id="required-count"),
    pytest.param(page(bucket(usage_result(requests=1.0))),
                 ["data[0]: results[0]: wrong type: num_model_requests is not a non-negative "
                  "integer"], id="float-count"),
    pytest.param(page(bucket(usage_result(cached=-1))),
                 ["data[0]: results[0]: wrong type: input_cached_tokens is not a non-negative "
                  "integer"], id="negative-optional-count"),
    pytest.param(page(bucket(usage_result(model=4))),
                 ["data[0]: results[0]: wrong type: model is not a string"], id="model"),
    pytest.param(page(bucket(usage_result(batch=0))),
                 ["data[0]: results[0]: wrong type: batch is not a boolean"], id="batch"),
    pytest.param(page(bucket(cost_result(value=True))),
                 ["data[0]: results[0]: wrong type: amount.value is not a number"],
                 id="bool-amount"),
    pytest.param(page(bucket(cost_result(value="1,5"))),
                 ["data[0]: results[0]: wrong type: amount.value is not a number"],
                 id="comma-decimal"),
    pytest.param(page(bucket(cost_result(amount=[1]))),
                 ["data[0]: results[0]: wrong type: amount is not an object"], id="amount"),
    pytest.param(page(bucket(cost_result(quantity="12"))),
                 ["data[0]: results[0]: wrong type: quantity is not a number"], id="quantity"),
    pytest.param(page(bucket(cost_result(line_item=["gpt-4o"]))),
                 ["data[0]: results[0]: wrong type: line_item is not a string"],
                 id="line-item"),
])
def test_b4_rejects(tmp_path, value, reasons):
    result = compute(tmp_path, value)
    assert [r["reason"] for r in result.rejects] == reasons
    assert {r["line_no"] for r in result.rejects} == {1}
    assert result.billing_usage == result.billing_costs == []


def test_b4_reject_raw_is_the_item(tmp_path):
    bad = usage_result(output=-3)
    result = compute(tmp_path, page(bucket(bad)))
    assert result.rejects[0]["raw"] == orjson.dumps(bad).decode()


def test_b4_numeric_string_amount_is_accepted(tmp_path):
    result = compute(tmp_path, page(bucket(cost_result(value=" 1.2345 "))))
    assert result.billing_costs[0]["amount_value"] == 1.2345


# --------------------------------------------------------------------------- B5-B7 rows


def test_b5_times_day_and_width(tmp_path):
    [r] = compute(tmp_path, page(bucket(usage_result(), day=2, width=3600))).billing_usage
    assert (r["start_time"], r["end_time"], r["day"], r["bucket_width_s"]) == (
        dt.datetime(2025, 6, 3), dt.datetime(2025, 6, 3, 1), dt.date(2025, 6, 3), 3600)


def test_b5_empty_bucket_row_takes_the_kind_of_its_page(tmp_path):
    result = compute(tmp_path, page(bucket(cost_result()), bucket(day=1)))
    empty = [r for r in result.billing_costs if r["empty_bucket"]]
    assert [(r["day"], r["amount_value"], r["line_item"]) for r in empty] == [
        (dt.date(2025, 6, 2), 0.0, None)]


def test_b5_empty_buckets_of_unknown_kind_are_skipped(tmp_path):
    mixed = page(bucket(usage_result()), bucket(cost_result(), day=1), bucket(day=2))
    result = compute(tmp_path, page(bucket(), bucket(day=1)), mixed)
    assert result.skipped_by_shape == {"empty_bucket": 3}
    assert not any(r["empty_bucket"] for r in result.billing_usage + result.billing_costs)


def test_b6_usage_row_values(tmp_path):
    [r] = compute(tmp_path, page(bucket(usage_result(
        project_id="proj_1", batch=False, input_audio_tokens=3, service_tier="default"))
    )).billing_usage
    assert {k: r[k] for k in ("model", "project_id", "batch", "service_tier", "input_tokens",
                              "input_cached_tokens", "input_audio_tokens",
                              "output_audio_tokens")} == {
        "model": "gpt-4o-2024-08-06", "project_id": "proj_1", "batch": False,
        "service_tier": "default", "input_tokens": 100, "input_cached_tokens": 0,
        "input_audio_tokens": 3, "output_audio_tokens": None}


def test_b7_cost_row_values(tmp_path):
    [r] = compute(tmp_path, page(bucket(cost_result(
        "gpt-4o-mini-2024-07-18, cached input", 0.25, quantity=1000, quantity_unit="tokens"))
    )).billing_costs
    assert (r["model"], r["cost_kind"], r["amount_value"], r["currency"], r["quantity"]) == (
        "gpt-4o-mini-2024-07-18", "cached_input", 0.25, "usd", 1000.0)


# --------------------------------------------------------------------------- B8 dedup


@pytest.mark.parametrize("order", [1, -1], ids=["given-order", "reversed"])
def test_b8_same_bucket_twice_keeps_the_more_complete(tmp_path, order):
    partial, whole = page(bucket(usage_result(requests=1))), page(bucket(usage_result()))
    result = compute(tmp_path, *[partial, whole][::order])
    assert [r["num_model_requests"] for r in result.billing_usage] == [2]
    assert (result.counts["kept"], result.counts["superseded"]) == (1, 1)


def test_b8_key_includes_every_dimension(tmp_path):
    result = compute(tmp_path, page(bucket(usage_result(project_id="p1"),
                                           usage_result(project_id="p2"), usage_result())))
    assert len(result.billing_usage) == 3


def test_b8_ungrouped_result_supersedes_the_empty_bucket(tmp_path):
    ungrouped = usage_result(model=None)
    result = compute(tmp_path, page(bucket(), bucket(usage_result(), day=1)),
                     page(bucket(ungrouped)))
    day0 = [r for r in result.billing_usage if r["day"] == dt.date(2025, 6, 1)]
    assert [r["empty_bucket"] for r in day0] == [False] and result.counts["superseded"] == 1


@pytest.mark.parametrize("order", [1, -1], ids=["given-order", "reversed"])
def test_b8_costs_larger_amount_wins(tmp_path, order):
    pages = [page(bucket(cost_result(value=0.2))), page(bucket(cost_result(value=0.7)))]
    result = compute(tmp_path, *pages[::order])
    assert [r["amount_value"] for r in result.billing_costs] == [0.7]


@pytest.mark.parametrize("order", [1, -1], ids=["given-order", "reversed"])
def test_b8_ties_are_broken_by_content_not_order(tmp_path, order):
    # same key and ranked counts; only audio tokens differ: the larger content wins
    a, b = usage_result(input_audio_tokens=12345), usage_result(input_audio_tokens=7)
    result = compute(tmp_path, *[page(bucket(a)), page(bucket(b))][::order])
    assert [r["input_audio_tokens"] for r in result.billing_usage] == [12345]


# --------------------------------------------------------------------------- B9, B10


@pytest.mark.parametrize(("line_item", "expected"), [
    ("gpt-4o-2024-08-06, input", ("gpt-4o-2024-08-06", "input")),
    ("gpt-4o-2024-08-06, Output", ("gpt-4o-2024-08-06", "output")),
    ("gpt-4o-mini-2024-07-18, cached input", ("gpt-4o-mini-2024-07-18", "cached_input")),
    ("ft-gpt-4o-2024-08-06, input", ("ft-gpt-4o-2024-08-06", "input")),
    ("gpt-6-astra, input_tokens", ("gpt-6-astra", "input")),
    ("priority | gpt-5.6-sol, output, long context", ("gpt-5.6-sol", "output")),
    ("gpt-audio-mini-2025-12-15 audio, input", ("gpt-audio-mini-2025-12-15", "input")),
    ("whisper-1, audio", ("whisper-1", "other")),
    ("gpt-4o", ("gpt-4o", "other")),
    ("GPT-5.4", ("gpt-5.4", "other")),
    ("web search tool calls", (None, None)),
    ("Vector storage", (None, None)),
    (None, (None, None)),
])
def test_b9_line_items(line_item, expected):
    assert bo.parse_line_item(line_item) == expected


@pytest.mark.parametrize(("model", "family"), [
    ("gpt-4o-2024-08-06", "gpt-4o"), ("gpt-4o", "gpt-4o"), ("GPT-4o-2024-05-13", "gpt-4o"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"), ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
    ("gpt-4-0613", "gpt-4"), ("gpt-4-1106-preview", "gpt-4-1106-preview"),
    ("o3-mini-2025-01-31", "o3-mini"), ("gpt-4.1", "gpt-4.1"), (None, None),
])
def test_b10_model_family(model, family):
    assert bo.model_family(model) == family


# --------------------------------------------------------------------------- prices


PRICES = bo.PriceTable.from_csv("""\
# comment
model,effective_from,prompt_usd_per_1m,cached_prompt_usd_per_1m,completion_usd_per_1m
gpt-4,2023-03-14,30,,60
gpt-4o,2024-05-13,5,,15
gpt-4o,2024-10-02,2.5,1.25,10
gpt-4o-mini,2024-07-18,0.15,0.075,0.6
""")


def test_prices_match_exact_then_longest_prefix_never_across_families():
    assert PRICES.price_model("gpt-4o-mini-2024-07-18") == "gpt-4o-mini"
    assert PRICES.price_model("gpt-4-0613") == "gpt-4"
    assert PRICES.price_model("gpt-4.1") is None
    assert PRICES.price_model("gpt-4o") == "gpt-4o"


def test_prices_row_in_effect_on_the_day_and_cached_fallback():
    assert PRICES.cost("gpt-4o", dt.date(2024, 10, 1), 1_000_000, 400_000, 0) == 5.0
    assert PRICES.cost("gpt-4o", dt.date(2024, 10, 2), 1_000_000, 400_000, 100_000) == (
        0.6 * 2.5 + 0.4 * 1.25 + 0.1 * 10)
    assert PRICES.cost("gpt-4o", dt.date(2024, 1, 1), 10, 0, 10) is None
    assert PRICES.cost("gpt-4o", dt.date(2025, 1, 1), None, None, None) is None


# --------------------------------------------------------------------------- B11-B14


def seen(day=0, model="gpt-4o", prompt=100, cached=0, completion=20, cost=0.001) -> dict:
    return {"day": dt.date(2025, 6, 1) + dt.timedelta(days=day), "model": model,
            "prompt_tokens": prompt, "cached_tokens": cached, "completion_tokens": completion,
            "cost_usd": cost}


def reconcile(tmp_path, usage, *pages) -> list[dict]:
    billing = compute(tmp_path, *pages)
    return bo.cost_reconciliation(usage, billing.billing_usage, billing.billing_costs)


def test_b11_requests_and_tokens_seen_are_usage_rows(tmp_path):
    [row] = reconcile(tmp_path, [seen(cached=10), seen(prompt=None, cost=None),
                                 seen(model="gpt-4o-2024-08-06", completion=None)])
    assert (row["model"], row["seen_models"], row["requests_seen"], row["input_tokens_seen"],
            row["cached_tokens_seen"], row["output_tokens_seen"]) == (
        "gpt-4o", ["gpt-4o", "gpt-4o-2024-08-06"], 3, 200, 10, 40)
    assert (row["estimated_cost_usd"], row["unpriced_requests"]) == (0.002, 1)


def test_b12_billed_sums_match_on_the_family(tmp_path):
    [row] = reconcile(tmp_path, [seen(), seen()],
                      page(bucket(usage_result(requests=2, input_tokens=200, output=40))),
                      page(bucket(cost_result(value=0.0015),
                                  cost_result("gpt-4o-2024-08-06, output", 0.0005))))
    assert (row["requests_billed"], row["input_tokens_billed"], row["output_tokens_billed"],
            row["billed_models"]) == (2, 200, 40, ["gpt-4o-2024-08-06"])
    assert row["billed_cost_usd"] == pytest.approx(0.002)
    assert row["finding"] == "ok"


def test_b12_one_layout_per_day_no_double_count(tmp_path):
    by_model = page(bucket(usage_result(requests=2)))
    by_project = page(bucket(usage_result(requests=1, project_id="a"),
                             usage_result(requests=1, project_id="b")))
    hourly = page(*[bucket(usage_result(requests=1), width=3600)])
    [row] = reconcile(tmp_path, [seen(), seen()], by_project, hourly, by_model)
    assert row["requests_billed"] == 2


def test_b12_a_day_exported_only_by_project_is_summed_over_projects(tmp_path):
    by_project = page(bucket(usage_result(requests=1, project_id="a"),
                             usage_result(requests=1, project_id="b")))
    [row] = reconcile(tmp_path, [seen(), seen()], by_project)
    assert row["requests_billed"] == 2


def test_b12_usage_without_model_grouping_is_unattributed(tmp_path):
    rows = reconcile(tmp_path, [seen()], page(bucket(usage_result(model=None))))
    assert [(r["model"], r["requests_billed"], r["finding"]) for r in rows] == [
        ("gpt-4o", 0, "not_billed"), (None, 2, "unattributed")]


def test_b12_covered_day_bills_zero_uncovered_day_null(tmp_path):
    rows = reconcile(tmp_path, [seen(day=0), seen(day=1)],
                     page(bucket(usage_result(model="other")), bucket(day=1)))
    by_day = {(r["day"].day, r["model"]): r for r in rows}
    assert by_day[(2, "gpt-4o")]["requests_billed"] == 0
    assert by_day[(2, "gpt-4o")]["billed_cost_usd"] is None  # no costs export at all
    rows = reconcile(tmp_path, [seen(day=5)], page(bucket(usage_result())))
    assert rows[-1]["requests_billed"] is None and rows[-1]["finding"] == "no_billing_data"


def test_b12_other_currencies_are_not_summed(tmp_path):
    eur = cost_result("gpt-4o-2024-08-06, output", amount={"value": 9.0, "currency": "eur"})
    [row] = reconcile(tmp_path, [seen()], page(bucket(usage_result(requests=1, output=20))),
                      page(bucket(cost_result(value=0.001), eur)))
    assert row["billed_cost_usd"] == 0.001


def test_b13_gaps_are_billed_minus_seen_over_billed(tmp_path):
    [row] = reconcile(tmp_path, [seen()],
                      page(bucket(usage_result(requests=4, input_tokens=400, output=20))),
                      page(bucket(cost_result(value=0.004))))
    assert (row["request_gap"], row["request_gap_pct"], row["input_token_gap_pct"],
            row["output_token_gap_pct"]) == (3, 75.0, 75.0, 0.0)
    assert row["cost_gap_usd"] == pytest.approx(0.003)
    assert row["cost_gap_pct"] == pytest.approx(75.0)


def test_b13_gap_pct_is_null_when_nothing_is_billed(tmp_path):
    rows = {r["model"]: r for r in reconcile(tmp_path, [seen()],
                                             page(bucket(usage_result(model="x"))))}
    assert (rows["gpt-4o"]["requests_billed"], rows["gpt-4o"]["request_gap"]) == (0, -1)
    assert rows["gpt-4o"]["request_gap_pct"] is None


@pytest.mark.parametrize(("usage", "pages", "finding"), [
    pytest.param([seen(day=3)], [page(bucket(usage_result()))], "no_billing_data",
                 id="no-billing-data"),
    pytest.param([seen(model=None)], [page(bucket(usage_result(model=None, requests=1,
                                                               output=20)))],
                 "unattributed", id="unattributed"),
    pytest.param([], [page(bucket(usage_result()))], "missing_in_export", id="missing"),
    pytest.param([seen()], [page(bucket(usage_result(model="x")))], "not_billed",
                 id="not-billed"),
    pytest.param([seen()], [page(bucket(usage_result(requests=1, output=21)))],
                 "incomplete_export", id="incomplete"),
    pytest.param([seen(), seen()], [page(bucket(usage_result(requests=1, input_tokens=200,
                                                             output=40)))],
                 "exceeds_bill", id="exceeds"),
    pytest.param([seen(cost=None)], [page(bucket(usage_result(requests=1, output=20)))],
                 "unpriced", id="unpriced"),
    pytest.param([seen()], [page(bucket(usage_result(requests=1, output=20))),
                            page(bucket(cost_result(value=0.00102)))], "mispriced",
                 id="mispriced"),
    pytest.param([seen()], [page(bucket(usage_result(requests=1, output=20))),
                            page(bucket(cost_result(value=0.001009)))], "ok",
                 id="within-tolerance"),
])
def test_b14_findings(tmp_path, usage, pages, finding):
    day = usage[0]["day"] if usage else dt.date(2025, 6, 1)
    rows = reconcile(tmp_path, usage, *pages)
    assert [r["finding"] for r in rows
            if r["day"] == day and r["model"] in ("gpt-4o", None)] == [finding]
