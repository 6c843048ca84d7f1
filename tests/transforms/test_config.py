"""The configuration columns of runs (docs/views.md, "Assistant versions") against the
versions oracle (tests/support/versions_oracle.py, V1-V5), on both decoding paths and
both APIs: generated configurations, wrong types included, never reject the run."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from steplens.transforms.parse import parse_lines
from steplens.transforms.tables import build_bucket
from tests.support import versions_oracle as vo
from tests.transforms.test_decode import config as assistants_config
from tests.transforms.test_decode import json_value, maybe

COLUMNS = ("instructions_hash", "tools", "temperature", "top_p", "response_format",
           "reasoning_effort")

responses_config = {
    "instructions": maybe(st.one_of(st.text(max_size=8), st.lists(json_value, max_size=2))),
    "tools": maybe(st.lists(maybe(st.fixed_dictionaries(
        {"type": maybe(st.sampled_from(["function", "mcp", "custom", "web_search"]))},
        optional={"name": maybe(st.text(max_size=4)),
                  "server_label": maybe(st.text(max_size=4))})), max_size=3)),
    "temperature": maybe(st.floats(0, 2)),
    "top_p": maybe(st.integers(0, 1)),
    "text": maybe(st.fixed_dictionaries({}, optional={"format": maybe(st.fixed_dictionaries(
        {"type": maybe(st.sampled_from(["text", "json_schema"]))},
        optional={"name": maybe(st.text(max_size=4))}))})),
    "reasoning": maybe(st.fixed_dictionaries({}, optional={"effort": maybe(
        st.sampled_from(["low", "high"]))})),
}


def _check(frame_name: str, record: dict, oracle) -> None:
    try:
        line = orjson.dumps(record)
    except TypeError:  # an integer orjson cannot write: not a line an export holds
        assume(False)
    expected = oracle(record)
    for careful in (False, True):
        batch = parse_lines("/x/f.jsonl", [(1, line)], careful=careful)
        assert batch.rejects.height == 0, batch.rejects.to_dicts()
        rows = getattr(batch, frame_name).to_dicts()
        assert len(rows) == 1
        got = {c: rows[0][c] for c in COLUMNS}
        assert got == {c: expected[c] for c in COLUMNS}, (careful, record)


@settings(max_examples=150)
@given(st.fixed_dictionaries({}, optional=assistants_config))
def test_assistants_run_configuration_equals_the_oracle(fields):
    run = {"object": "thread.run", "id": "run_1", "status": "completed", **fields}
    _check("run_records", run, vo.assistants_config)


@settings(max_examples=150)
@given(st.fixed_dictionaries({}, optional=responses_config))
def test_responses_configuration_equals_the_oracle(fields):
    resp = {"object": "response", "id": "resp_1", "status": "completed",
            "created_at": 1741476542, **fields}
    _check("response_records", resp, vo.responses_config)


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("fields", [
    ({"temperature": 0.2}, {"temperature": 0.7}),
    ({"tools": [{"type": "code_interpreter"}]}, {"tools": []}),
    ({"instructions": "a"}, {"instructions": "b"}),
    ({"response_format": "auto"}, {"response_format": {"type": "json_object"}}),
])
def test_records_equal_but_for_the_configuration_break_the_tie_by_it(fields, swap):
    """V9: two snapshots of one run that tie on everything the ranking looks at (same
    content) but differ in configuration: the configuration's canonical bytes decide,
    whatever the order of the lines, as the oracle says."""
    base = {"object": "thread.run", "id": "run_1", "status": "completed",
            "created_at": 1_717_200_000, "completed_at": 1_717_200_010,
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    records = [{**base, **f} for f in (reversed(fields) if swap else fields)]
    lines = [(n, orjson.dumps(r)) for n, r in enumerate(records, start=1)]
    runs = build_bucket(parse_lines("/x/f.jsonl", lines)).runs.to_dicts()
    expected = vo.assistants_config(vo.winning_run(records))
    assert len(runs) == 1
    assert {c: runs[0][c] for c in COLUMNS} == {c: expected[c] for c in COLUMNS}
