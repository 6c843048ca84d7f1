"""tests/support/generate_responses.py: deterministic, holds every shape issue 12 lists,
valid against the SDK outside the known real rejections, and the Responses oracle agrees
with what the simulation itself says the warehouse must hold (its `truth`)."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.support import oracle
from tests.support import responses_oracle as ro
from tests.support.generate_responses import generate_mixed_export
from tests.support.sdk_validation import (
    KNOWN_REJECTIONS,
    json_lines,
    known_rejection,
    responses_errors,
    responses_records,
)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    out = tmp_path_factory.mktemp("mixed")
    return out, generate_mixed_export(out)


@pytest.fixture(scope="module")
def computed(export):
    return ro.compute([export[0]])


def files_of(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file()}


def sse_events(path: Path) -> list[dict]:
    return [orjson.loads(text) for _, _, text in oracle.sse_blocks(oracle.file_lines(path))]


def good_values(out: Path) -> list[object]:
    """Every JSON value of the Responses files but the bad ones (SSE blocks included)."""
    r = out / "responses"
    values = [v for name in ("responses.jsonl", "streams.jsonl", "requests.jsonl",
                             "items.jsonl") for v in json_lines(r / name)]
    return values + sse_events(r / "streams.sse")


def test_deterministic(tmp_path, export):
    again = tmp_path / "again"
    generate_mixed_export(again)
    assert files_of(again) == files_of(export[0])
    other = tmp_path / "other"
    generate_mixed_export(other, seed=12, assistants_runs=0)
    assert files_of(other)["responses/responses.jsonl"] != files_of(export[0])[
        "responses/responses.jsonl"]


def test_valid_against_the_sdk_outside_the_known_real_rejections(export):
    failed, kinds, models = Counter(), Counter(), Counter()
    for value in good_values(export[0]):
        for model, record in responses_records(value):
            models[model] += 1
            errs = responses_errors(model, record)
            for label in errs:
                kind = known_rejection(label)
                assert kind is not None, label
                kinds[kind] += 1
            failed[model] += bool(errs)
    assert set(models) == {"Response", "ResponseStreamEvent", "Conversation", "ItemList"}
    assert failed["Conversation"] == failed["ItemList"] == 0
    assert set(kinds) == set(KNOWN_REJECTIONS)  # each real shape is generated too
    assert failed["Response"] < models["Response"] and failed["ResponseStreamEvent"] < models[
        "ResponseStreamEvent"] / 2


def test_every_shape_of_the_issue_is_there(export):
    out, counts = export
    r = out / "responses"
    for key in ("duplicates", "background", "polls", "streams", "cut_streams", "old_streams",
                "sse_streams", "twin_streams", "error_events", "pages", "requests"):
        assert counts[key] > 0, key
    # independently of the counts, from the files
    objects = [v for v in json_lines(r / "responses.jsonl") if v["object"] == "response"]
    by_id = Counter(o["id"] for o in objects)
    statuses = {(o["id"], o["status"]) for o in objects}
    assert any({(i, "queued"), (i, "completed")} <= statuses for i in by_id)  # polls
    assert any(v["object"] == "conversation" for v in json_lines(r / "responses.jsonl"))
    events = list(json_lines(r / "streams.jsonl"))
    created = sum(e["type"] == "response.created" for e in events)
    ended = sum(e["type"] in ("response.completed", "response.incomplete", "response.failed")
                for e in events)
    assert created > ended  # some streams are cut before their terminal event
    assert any("sequence_number" not in e for e in events)
    assert (r / "streams.sse").read_text().startswith("event: response.created\ndata: {")
    requests = list(json_lines(r / "requests.jsonl"))
    assert any(i.get("type") == "function_call_output" for b in requests
               if isinstance(b["input"], list) for i in b["input"])
    pages = list(json_lines(r / "items.jsonl"))
    assert any(p["has_more"] for p in pages)
    assert (r / "bad_lines.jsonl").read_bytes()[-1:] != b"\n"  # a truncated last line
    assert (out / "assistants" / "runs_and_steps.jsonl").exists()


def test_the_oracle_agrees_with_the_simulation(export, computed):
    truth = export[1]["truth"]
    assert {r["run_id"]: r["status"] for r in computed.runs} == truth["status"]
    items: dict[str, list[str]] = {rid: [] for rid in truth["status"]}
    for s in computed.steps:
        items[s["run_id"]].append(s["type"])
    assert items == truth["items"]
    assert {r["run_id"]: r["thread_id"] for r in computed.runs} == truth["threads"]
    assert {r["run_id"]: r["last_error_code"] for r in computed.runs} == truth["errors"]
    assert Counter(truth["errors"].values())["server_error"] >= 2  # a failure and a cut stream
    outputs = {c["tool_call_id"]: c["function_output"] for c in computed.tool_calls
               if c["type"] in ("function", "custom", "computer")}
    assert outputs == {k: v if v is None or isinstance(v, str)
                       else orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
                       for k, v in truth["outputs"].items()}
    assert ro.summary(computed)["tokens"] == truth["tokens"]


def test_bad_lines_are_rejected_as_the_simulation_says(export, computed):
    out = export[0]
    rejects = [r for r in computed.rejects + computed.assistants.rejects
               if Path(r["source_file"]).parent == out / "responses"]
    assert sorted((Path(r["source_file"]).name, r["line_no"], r["reason"])
                  for r in rejects) == sorted(export[1]["truth"]["rejects"])
    assert computed.skipped_by_shape == dict(sorted(export[1]["truth"]["skipped"].items()))


def test_mixed_accounting_is_the_sum_of_both_sides(export, computed):
    out = export[0]
    alone_r = ro.compute([out / "responses"])
    alone_a = oracle.compute([out / "assistants"])
    assert computed.assistants.runs == alone_a.runs and computed.assistants.steps == (
        alone_a.steps)
    assert computed.runs == alone_r.runs and computed.tool_calls == alone_r.tool_calls
    assert alone_r.assistants.counts["kept"] == alone_r.assistants.counts["superseded"] == 0
    total = {k: alone_r.counts[k] + alone_r.assistants.counts[k] + alone_a.counts[k]
             for k in alone_a.counts}
    assert computed.total_counts == total
    t = computed.total_counts
    assert t["records_read"] == t["kept"] + t["superseded"] + t["rejected"] + t["skipped"]


def test_line_and_file_order_do_not_matter(export, tmp_path):
    """Response objects, requests and item pages in any line order and under other names
    give the same tables (a stream's own lines stay in stream order)."""
    src = export[0] / "responses"
    dst = tmp_path / "shuffled"
    dst.mkdir()
    rng = random.Random(5)
    for name, new in (("responses.jsonl", "z.jsonl"), ("requests.jsonl", "a.jsonl"),
                      ("items.jsonl", "m/items.jsonl")):
        lines = (src / name).read_bytes().splitlines()
        rng.shuffle(lines)
        (dst / new).parent.mkdir(exist_ok=True)
        (dst / new).write_bytes(b"\n".join(lines) + b"\n")
    for name in ("streams.jsonl", "streams.sse", "bad_lines.jsonl", "bad_stream.sse"):
        shutil.copy(src / name, dst / ("0-" + name))
    again, base = ro.compute([dst]), ro.compute([src])

    def key(rows):
        return sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))

    for table in ("runs", "steps", "tool_calls", "usage"):
        assert key(getattr(again, table)) == key(getattr(base, table)), table
    assert again.counts == base.counts


@pytest.mark.parametrize("seed", [1, 3, 13])
def test_other_seeds_hold_the_same_promises(tmp_path, seed):
    counts = generate_mixed_export(tmp_path, seed=seed, responses=150, assistants_runs=0)
    truth = counts["truth"]
    for value in good_values(tmp_path):
        for model, record in responses_records(value):
            assert all(known_rejection(x) for x in responses_errors(model, record))
    result = ro.compute([tmp_path])
    assert {r["run_id"]: (r["status"], r["thread_id"], r["last_error_code"])
            for r in result.runs} == {rid: (truth["status"][rid], truth["threads"][rid],
                                            truth["errors"][rid]) for rid in truth["status"]}
    assert Counter(s["type"] for s in result.steps) == Counter(
        t for types in truth["items"].values() for t in types)
    assert result.total_counts["rejected"] == len(truth["rejects"])


def test_data_sample_responses_is_what_its_readme_command_makes(tmp_path):
    """data/sample-responses = `python -m tests.support.generate_responses
    data/sample-responses --responses 150 --seed 7` (see its README)."""
    from tests.support.generate_responses import main
    from tests.support.paths import SAMPLE_RESPONSES

    assert main([str(tmp_path), "--responses", "150", "--seed", "7"]) == 0
    made = files_of(tmp_path)
    committed = {k: v for k, v in files_of(SAMPLE_RESPONSES).items() if k != "README.md"}
    assert made == committed
