"""Billed usage and serving fields of a Responses record (docs/fidelity.md, issue 21):
the product's `runs` and `usage` columns against the Responses oracle's independent
reading, on both decoders (the fast path and the careful checker), with values of the
wrong type (NULL, never a reject)."""

from __future__ import annotations

import orjson
import pytest

from steplens.transforms.parse import parse_lines
from steplens.transforms.schemas import RESPONSE_EXTRAS
from steplens.transforms.tables import build_tables
from tests.support import responses_oracle as ro
from tests.support.builders import response, stream, usage

TOOL_USAGE = {"image_gen": {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12,
                            "input_tokens_details": {"text_tokens": 5, "image_tokens": 0},
                            "output_tokens_details": {"image_tokens": 7, "text_tokens": 0}},
              "web_search": {"num_requests": 3}}


def records() -> list[dict]:
    full = response(id="resp_1", usage=usage(70, 30), tool_usage=TOOL_USAGE,
                    billing={"payer": "developer"}, prompt_cache_retention="24h",
                    reasoning={"effort": "low", "context": "auto", "mode": "standard"},
                    text={"verbosity": "low"}, safety_identifier="user-1")
    wrong = response(id="resp_2", usage=usage(1, 2),
                     tool_usage={"image_gen": {"total_tokens": "12", "input_tokens": 1.5},
                                 "web_search": {"num_requests": True}},
                     billing="developer", reasoning={"mode": 3}, safety_identifier=7)
    wrong["usage"]["input_tokens_details"]["cache_write_tokens"] = 2 ** 63
    bare = response(id="resp_3")
    return [full, wrong, bare, *stream(response(id="resp_4", usage=usage(3, 4),
                                                tool_usage=TOOL_USAGE))]


@pytest.mark.parametrize("careful", [False, True])
def test_extras_match_the_oracle_on_both_decoders(tmp_path, careful):
    lines = [orjson.dumps(r) for r in records()]
    path = tmp_path / "responses.jsonl"
    path.write_bytes(b"".join(ln + b"\n" for ln in lines))
    batch = parse_lines(str(path), enumerate(lines, start=1), careful=careful)
    assert batch.rejects.height == 0
    tables = build_tables(batch)
    expected = {r["run_id"]: r for r in ro.compute([path]).runs}
    got = {r["run_id"]: r for r in tables.runs.to_dicts()}
    assert set(got) == set(expected) == {"resp_1", "resp_2", "resp_3", "resp_4"}
    for rid, row in expected.items():
        assert {c: got[rid][c] for c in RESPONSE_EXTRAS} == {c: row[c] for c in RESPONSE_EXTRAS}
    assert got["resp_1"]["image_gen_total_tokens"] == 12
    assert got["resp_1"]["web_search_requests"] == 3
    assert got["resp_2"]["web_search_requests"] is None  # a bool is not a count
    usage_rows = {r["run_id"]: r for r in tables.usage.to_dicts()}
    assert usage_rows["resp_4"]["image_gen_output_image_tokens"] == 7
