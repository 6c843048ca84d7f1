"""Usage and Costs API exports read into `billing_usage` / `billing_costs` by the pure
transforms, against the billing oracle (tests/support/billing_oracle.py, B1-B9): generated
pages consistent with a generated export, re-exports, another layout, and one of each
reject and skip (tests/support/generate_billing.py)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from steplens.transforms import billing
from tests.support import billing_oracle as bo
from tests.support.generate import generate_export
from tests.support.generate_billing import generate_billing
from tests.test_against_oracle import ACCOUNTING, compare_rows, product_tables

PRICES = bo.PriceTable.shipped()
REJECT_COLUMNS = ("source_file", "line_no", "reason", "raw")
USAGE_KEY = ("start_time", "end_time", *bo.USAGE_DIMENSIONS)
COSTS_KEY = ("start_time", "end_time", *bo.COSTS_DIMENSIONS)


@pytest.fixture(scope="module")
def bills(tmp_path_factory):
    base = tmp_path_factory.mktemp("bills")
    generate_export(base / "export", runs=80, seed=11)
    truth = generate_billing(base / "billing", bo.seen_usage([base / "export"], PRICES),
                             seed=3)
    return base / "billing", truth


def test_billing_tables_rejects_and_accounting_equal_the_oracle(bills):
    path, truth = bills
    expected = bo.compute([path])
    batch, tables = product_tables([path])
    compare_rows("billing_usage", tables.billing_usage.to_dicts(), expected.billing_usage,
                 USAGE_KEY)
    compare_rows("billing_costs", tables.billing_costs.to_dicts(), expected.billing_costs,
                 COSTS_KEY)
    assert expected.counts["superseded"] > 0 and expected.counts["rejected"] > 0
    # the truncated last line of the bad file is the Assistants contract's reject
    billing_rejects = [r for r in tables.rejects.to_dicts()
                       if not r["reason"].startswith("invalid JSON")]
    def reject_set(rows):  # two equal results in one bucket make two equal rejects
        return Counter(tuple(r[c] for c in REJECT_COLUMNS) for r in rows)

    assert reject_set(billing_rejects) == reject_set(expected.rejects)
    counts = {k: tables.accounting[k] for k in ACCOUNTING}
    other = len(tables.rejects) - len(billing_rejects)
    assert counts == {**expected.counts, "records_read": expected.counts["records_read"] + other,
                      "rejected": expected.counts["rejected"] + other}
    assert tables.accounting["balanced"] == 1
    assert batch.skipped_by_shape() == expected.skipped_by_shape
    assert dict(truth["skipped"]) == expected.skipped_by_shape | {
        "empty_bucket": truth["skipped"]["empty_bucket"]}


@pytest.mark.parametrize(("line_item", "expected"), [
    ("gpt-4o-2024-08-06, input", ("gpt-4o-2024-08-06", "input")),
    ("gpt-4o-2024-08-06, cached input", ("gpt-4o-2024-08-06", "cached_input")),
    ("ft-gpt-4o-2024-08-06, output", ("ft-gpt-4o-2024-08-06", "output")),
    ("priority | gpt-5.6-sol, output, long context", ("gpt-5.6-sol", "output")),
    ("gpt-audio-mini-2025-12-15 audio, input", ("gpt-audio-mini-2025-12-15", "input")),
    ("gpt-6-astra, input_tokens", ("gpt-6-astra", "input")),
    ("whisper-1, audio", ("whisper-1", "other")),
    ("GPT-5.4", ("gpt-5.4", "other")),
    ("web search tool calls", (None, None)),
    ("Vector storage", (None, None)),
    (None, (None, None)),
])
def test_line_items_parse_as_the_oracle(line_item, expected):
    assert billing.parse_line_item(line_item) == bo.parse_line_item(line_item) == expected


# line items made of the pieces that matter: words, commas, tier pipes, kind words, spaces
_PIECES = st.sampled_from(["gpt-4o", "GPT-5", "web", "search", ",", " | ", "|", " ", "\t",
                           "cached", "input", "output", "Input", "audio", "é", ""])


@given(st.lists(_PIECES, max_size=8).map("".join) | st.text(max_size=20))
@example("gpt-4o | | gpt-4o")  # overlapping separators: the prefix ends at the LAST " | "
def test_line_items_parse_as_the_oracle_on_any_text(line_item):
    assert billing.parse_line_item(line_item) == bo.parse_line_item(line_item)


@pytest.mark.parametrize("value", [1.5, 2, "1.2345", " 3e2 ", None])
def test_amounts_read_as_the_oracle(value):
    assert billing.amount_number(value) == bo.amount_number(value)


@pytest.mark.parametrize("value", ["abc", True, [1], "nan", ""])
def test_amounts_that_are_not_numbers_raise_like_the_oracle(value):
    with pytest.raises(ValueError):
        bo.amount_number(value)
    with pytest.raises(ValueError):
        billing.amount_number(value)


def test_a_decimal_string_that_overflows_is_not_a_number():
    """B4 asks for a *finite* decimal; "1e400" reads as infinity in Python."""
    with pytest.raises(ValueError):
        billing.amount_number("1e400")
