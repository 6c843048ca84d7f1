"""transforms/coverage.py: what the decoders read is what `mapped_to` says is captured,
and a batch's last line stays apart so a re-read tail replaces exactly its own counts."""

from __future__ import annotations

import orjson
import polars as pl

from steplens.transforms import coverage, record_spec
from steplens.transforms.responses import spec as rspec


def spec_paths(spec: dict, prefix: str = "") -> list[str]:
    """Every path a decoder spec reads (objects and arrays and their leaves)."""
    out = []
    for key, sub in spec.items():
        path = prefix + key
        out.append(path)
        if isinstance(sub, rspec.Required):
            sub = sub.spec
        if isinstance(sub, dict):
            out += spec_paths(sub, path + ".")
        elif isinstance(sub, list):
            out.append(path + "[]")
            out += spec_paths(sub[0], path + "[].")
    return out


# Read by a decoder for its checks only, held by no column (docs/tables.md, "Table reference").
# (runs keep `expires_at`, steps `expired_at`: the shared timestamp list checks them all)
NOT_STORED = {("thread.run", "expired_at"), ("thread.run.step", "started_at"),
              ("thread.run.step", "expires_at")}


def test_every_path_a_decoder_reads_is_mapped():
    shapes = [("assistants", "thread.run", record_spec.RUN),
              ("assistants", "thread.run.step", record_spec.STEP),
              ("assistants", "thread.run.step.delta", record_spec.DELTA),
              ("responses", "response", rspec.RESPONSE),
              ("responses", "function_call", rspec.ITEM),
              ("responses", "response.completed", rspec.EVENT_SPECS["response.completed"]),
              ("responses", "response.output_item.done",
               rspec.EVENT_SPECS["response.output_item.done"])]
    missing = [(obj, p) for api, obj, spec in shapes for p in spec_paths(spec)
               if coverage.mapped_to(api, obj, p) is None
               and (obj, p) not in NOT_STORED
               and p != "sequence_number"]
    assert not missing, missing


def test_sub_paths_of_values_stored_whole_are_covered_by_their_column():
    assert coverage.mapped_to("assistants", "thread.run", "metadata.user.id") == "runs.metadata"
    assert coverage.mapped_to("responses", "response", "output[].arguments.city") == (
        "tool_calls.function_arguments")
    assert coverage.mapped_to("responses", "response", "output[].content[].text") is None
    assert coverage.mapped_to("responses", "response", "output[].phase") is None
    # the fields of transforms/extras.py (issue 21), in a response and in its events
    assert coverage.mapped_to("responses", "response", "billing.payer") == "runs.billing_payer"
    assert coverage.mapped_to("responses", "response.completed",
                              "response.tool_usage.image_gen.total_tokens") == (
        "runs.image_gen_total_tokens")
    assert coverage.mapped_to("responses", "response.completed",
                              "response.usage.input_tokens") == "runs.prompt_tokens"


def test_the_last_line_of_a_batch_is_kept_apart():
    lines = [orjson.dumps({"id": f"run_{i}", "object": "thread.run", "created_at": 100 + i,
                           **({"x": 1} if i in (0, 2) else {})}) for i in range(3)]
    frame = coverage.of_lines("/f", 5, lines)
    x = frame.filter(pl.col("path") == "x").sort("line_no")
    assert x["line_no"].to_list() == [5, 7] and x["records"].to_list() == [1, 1]
    ids = frame.filter(pl.col("path") == "id").sort("line_no")
    assert ids["records"].to_list() == [2, 1]
    # dropping the file from its (old, unterminated) last line on drops that line only
    kept = coverage.remove_lines(frame, "/f", 7)
    assert kept.filter(pl.col("path") == "id")["records"].to_list() == [2]
    assert kept.filter(pl.col("path") == "x")["records"].to_list() == [1]
    assert coverage.remove_lines(frame, "/f", 1).height == 0
    assert coverage.remove_lines(frame, "/other", 1).height == frame.height


def test_records_pages_envelopes_and_events():
    page = {"object": "list", "data": [{"id": "a", "object": "thread.run"},
                                       {"object": "list", "data": [{"id": "b",
                                                                    "object": "thread.run"}]},
                                       5]}
    assert [o for o, _ in coverage.records(page)] == ["thread.run", "thread.run"]
    env = {"event": "thread.run.step.delta", "data": {"id": "s", "delta": {}}}
    assert [o for o, _ in coverage.records(env)] == ["thread.run.step.delta"]
    assert [o for o, _ in coverage.records({"type": "response.output_text.delta"})] == [
        "response.output_text.delta"]
    assert [o for o, _ in coverage.records({"input": []})] == ["request"]
    assert coverage.paths({"a": [None, {"b": None, "c": [1]}], "d": {}, "e": None}) == {
        "a", "a[]", "a[].c", "a[].c[]", "d"}
