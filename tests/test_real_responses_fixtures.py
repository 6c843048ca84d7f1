"""The recorded real Responses/Conversations payloads under tests/data/real-responses:
intact, valid against the SDK as their README documents (the real shapes the SDK rejects
kept and listed), read by the Responses oracle without a single reject, and with counts
equal to an independent plain-Python computation written here."""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

import orjson
import pytest

from tests.support import oracle
from tests.support import responses_oracle as ro
from tests.support.paths import REAL_RESPONSES, real_responses_dirs
from tests.support.sdk_validation import (
    KNOWN_REJECTIONS,
    json_lines,
    known_rejection,
    responses_errors,
    responses_failures,
    responses_records,
)

DIRS = real_responses_dirs()
STREAM_DIRS = [d for d in DIRS if (d / "stream.jsonl").exists()]
LEFT_OUT = ("openai-dotnet-streamingresponseswithreasoningsummary",
            "pydantic-ai-code-execution-return-image")  # files over 300 kB, see PROVENANCE.md
TERMINAL = ("completed", "incomplete", "failed", "cancelled")


def _ids(paths):
    return [p.name for p in paths]


def _counts(text: str) -> Counter:
    """'ResponseStreamEvent 3, Response 1' -> Counter; '-' -> empty."""
    out = Counter()
    for part in text.split(", "):
        if part.strip() and part.strip() != "-":
            name, n = part.rsplit(" ", 1)
            out["ItemList" if name.endswith("ItemList") else name] += int(n)
    return out


def _failures(text: str | None) -> Counter:
    out = Counter()
    for part in (text or "").split(", "):
        if part.strip():
            label, n = part.rsplit(" x", 1)
            out[label] += int(n)
    return out


@cache
def readme_sections() -> dict[str, str]:
    text = (REAL_RESPONSES / "README.md").read_text(encoding="utf-8")
    return {s.split("/`", 1)[0]: s for s in text.split("\n### `")[1:]}


def readme_validation(name: str) -> tuple[Counter, Counter, Counter]:
    line = next(x for x in readme_sections()[name].splitlines()
                if x.startswith("- Validation: "))
    m = re.fullmatch(r"- Validation: passed (.*?); failed (.*?)(?:; failures: (.*))?", line)
    return _counts(m[1]), _counts(m[2]), _failures(m[3])


def jsonl(path: Path) -> list[dict]:
    return list(json_lines(path)) if path.exists() else []


# --------------------------------------------------------------------------- the files


def test_files_are_unmodified_copies():
    text = (REAL_RESPONSES / "PROVENANCE.md").read_text(encoding="utf-8")
    listed = {m[2]: m[1] for m in re.finditer(r"^([0-9a-f]{64})  (\S+)$", text, re.MULTILINE)}
    present = {str(p.relative_to(REAL_RESPONSES)) for p in REAL_RESPONSES.rglob("*")
               if p.is_file() and p.name != "PROVENANCE.md"}
    assert set(listed) == present
    for rel, digest in listed.items():
        assert hashlib.sha256((REAL_RESPONSES / rel).read_bytes()).hexdigest() == digest, rel


def test_every_directory_is_documented_and_only_the_large_ones_are_left_out():
    assert {p.name for p in DIRS} == set(readme_sections()) - set(LEFT_OUT)
    assert len(DIRS) == 77
    provenance = (REAL_RESPONSES / "PROVENANCE.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in provenance for name in LEFT_OUT)
    assert max(p.stat().st_size for p in REAL_RESPONSES.rglob("*") if p.is_file()) < 300_000


# --------------------------------------------------------------------------- SDK validation


@pytest.mark.parametrize("directory", DIRS, ids=_ids(DIRS))
def test_sdk_validation_is_as_the_readme_says(directory):
    measured = responses_failures(sorted(directory.glob("*.jsonl")))
    assert measured == readme_validation(directory.name)
    assert all(known_rejection(label) for label in measured[2]), measured[2]


def test_every_sdk_failure_is_one_of_the_known_kinds():
    kinds = Counter()
    for d in DIRS:
        for label, n in responses_failures(sorted(d.glob("*.jsonl")))[2].items():
            kind = known_rejection(label)
            assert kind is not None, f"{d.name}: a new kind of SDK failure: {label}"
            kinds[kind] += n
    assert set(kinds) == set(KNOWN_REJECTIONS)  # each known kind really occurs
    # and the classifier does not wave through other failures
    assert known_rejection("Response:usage.input_tokens missing") is None
    assert known_rejection("ResponseStreamEvent(response.output_item.done):"
                           "item.ResponseFunctionWebSearch.action missing") is None


def test_sdk_validation_totals():
    passed, failed = Counter(), Counter()
    for d in DIRS:
        p, f, _ = responses_failures(sorted(d.glob("*.jsonl")))
        passed += p
        failed += f
    # README totals (79 directories) minus the two left out: 2 responses, one 1,753-event stream
    assert passed + failed == Counter(Response=94, ResponseStreamEvent=4696 - 1753,
                                      ItemList=10, Conversation=7)
    assert passed == Counter(ResponseStreamEvent=2891, Response=11, ItemList=10,
                             Conversation=7)


def test_item_pages_validate_with_both_item_list_models():
    pages = [page for d in DIRS for line in jsonl(d / "responses.jsonl")
             for model, page in responses_records(line) if model == "ItemList"]
    assert len(pages) == 10
    for page in pages:
        for model in ("ConversationItemList", "ResponseItemList"):
            assert responses_errors(model, page) == []


@pytest.mark.parametrize("directory", STREAM_DIRS, ids=_ids(STREAM_DIRS))
def test_sse_holds_the_same_events_as_its_jsonl_twin(directory):
    lines = oracle.file_lines(directory / "stream.sse")
    blocks = list(oracle.sse_blocks(lines))
    events = jsonl(directory / "stream.jsonl")
    assert [orjson.loads(data) for _, _, data in blocks] == events
    assert [name for _, name, _ in blocks] == [e["type"] for e in events]


# --------------------------------------------------------------------------- the oracle


@cache
def computed(directory: Path) -> ro.Result:
    return ro.compute([directory])


@pytest.mark.parametrize("directory", DIRS, ids=_ids(DIRS))
def test_oracle_reads_every_directory_without_rejects(directory):
    result = computed(directory)
    assert result.rejects == [] and result.assistants.rejects == []
    assert result.assistants.counts["records_read"] == 0  # nothing here is Assistants-shaped
    c = result.counts
    assert c["records_read"] == c["kept"] + c["superseded"] + c["rejected"] + c["skipped"]


@pytest.mark.parametrize("directory", STREAM_DIRS, ids=_ids(STREAM_DIRS))
def test_oracle_gives_the_same_tables_for_sse_and_jsonl(directory):
    others = [p for p in ro.responses_files(directory) if not p.name.startswith("stream.")]
    a = ro.compute([directory / "stream.sse", *others])
    b = ro.compute([directory / "stream.jsonl", *others])
    assert (a.runs, a.steps, a.tool_calls, a.usage) == (b.runs, b.steps, b.tool_calls, b.usage)
    assert a.counts == b.counts


def independent(directory: Path) -> dict:
    """The issue's counts, computed from the directory's JSON lines by simple code: every
    response object (bare, or embedded in a stream event), one per id, the terminal one."""
    snapshots = defaultdict(list)
    for line in jsonl(directory / "responses.jsonl"):
        if line.get("object") == "response":
            snapshots[line["id"]].append(line)
    for ev in jsonl(directory / "stream.jsonl"):
        if "response" in ev:
            snapshots[ev["response"]["id"]].append(ev["response"])
    final = {}
    for rid, snaps in snapshots.items():
        terminal = [s for s in snaps if s["status"] in TERMINAL]
        assert terminal, rid  # every response recorded here reached a terminal state
        assert len({(s["status"], tuple(i.get("id") for i in s["output"]))
                    for s in terminal}) == 1
        final[rid] = terminal[0]
    items = [i for r in final.values() for i in r["output"]]
    calls = [i for i in items if i["type"].endswith("_call")]

    def tool(t):
        return t[: -len("_call")].removesuffix("_tool")

    def total(key, sub=None):
        values = []
        for r in final.values():
            u = r.get("usage")
            if u:
                v = u.get(key) if sub is None else (u.get(key) or {}).get(sub)
                if v is not None:
                    values.append(v)
        return sum(values) if values else None

    answers = {}
    for body in jsonl(directory / "requests.jsonl"):
        for item in body["input"] if isinstance(body["input"], list) else []:
            if item.get("type", "").endswith("_output") and "call_id" in item:
                answers[item["call_id"]] = item.get("output")
    for page in jsonl(directory / "responses.jsonl"):
        if page.get("object") == "list":
            for item in page["data"]:
                if item["type"].endswith("_output"):
                    answers[item["call_id"]] = item.get("output")

    def root(rid):
        while final.get(rid, {}).get("previous_response_id"):
            rid = final[rid]["previous_response_id"]
        return rid

    return {
        "responses": len(final),
        "responses_per_status": Counter(r["status"] for r in final.values()),
        "items_per_type": Counter(i["type"] for i in items),
        "tool_calls_per_type": Counter(tool(c["type"]) for c in calls),
        "tool_calls_per_function": Counter((tool(c["type"]), c["name"]) for c in calls
                                           if c.get("name")),
        "tokens": {"prompt_tokens": total("input_tokens"),
                   "completion_tokens": total("output_tokens"),
                   "total_tokens": total("total_tokens"),
                   "cached_tokens": total("input_tokens_details", "cached_tokens"),
                   "reasoning_tokens": total("output_tokens_details", "reasoning_tokens")},
        "function_outputs": {c["call_id"]: answers.get(c["call_id"])
                             for c in calls if c["type"] == "function_call"},
        "threads": {rid: (r.get("conversation") or {}).get("id") or root(rid)
                    for rid, r in final.items()},
    }


@pytest.mark.parametrize("directory", DIRS, ids=_ids(DIRS))
def test_oracle_counts_equal_an_independent_computation(directory):
    result = computed(directory)
    expected = independent(directory)
    summary = ro.summary(result)
    for key in ("responses", "responses_per_status", "items_per_type", "tool_calls_per_type",
                "tool_calls_per_function", "tokens"):
        assert summary[key] == expected[key], key
    assert {c["tool_call_id"]: c["function_output"] for c in result.tool_calls
            if c["type"] == "function"} == expected["function_outputs"]
    assert {r["run_id"]: r["thread_id"] for r in result.runs} == expected["threads"]
    assert len(result.usage) == sum(1 for r in result.runs if r["total_tokens"] is not None)


@pytest.mark.parametrize("directory", DIRS, ids=_ids(DIRS))
def test_recordings_are_as_their_readme_describes(directory):
    """A third source: the extractor's per-directory notes agree with the files."""
    section = readme_sections()[directory.name]
    objects = [x for x in jsonl(directory / "responses.jsonl") if x.get("object") == "response"]
    m = re.search(r"  - responses: (\d+) distinct ids; statuses (.*?); models", section)
    if objects:
        assert int(m[1]) == len({o["id"] for o in objects})
        assert _counts(m[2]) == Counter(o["status"] for o in objects)
    else:
        assert m is None
    s = re.search(r"  - stream response (\S+): final status (\w+); model \S+; final output "
                  r"items (.*?); usage", section)
    events = jsonl(directory / "stream.jsonl")
    if events:
        last = events[-1]["response"]
        assert (last["id"], last["status"]) == (s[1], s[2])
        assert Counter(i["type"] for i in last["output"]) == _counts(s[3])
        (run,) = [r for r in computed(directory).runs if r["run_id"] == s[1]]
        assert run["status"] == s[2]
    else:
        assert s is None


def test_known_details_of_the_recordings():
    """Spot checks a reader can verify by opening the files."""
    mcp = computed(REAL_RESPONSES / "pydantic-ai-mcp-server-tool-with-connector")
    assert [(c["type"], c["function_name"], c["step_status"], c["call_failed"])
            for c in mcp.tool_calls] == [("mcp", "search_events", "failed", True)] * 2
    assert mcp.steps[2]["last_error_code"] == "500"
    cancel = computed(REAL_RESPONSES / "openai-dotnet-cancancelbackgroundresponses")
    assert [(r["status"], r["prompt_tokens"]) for r in cancel.runs] == [("cancelled", None)]
    assert cancel.counts["superseded"] == 1  # the queued POST body lost to the cancel body
    chain = computed(REAL_RESPONSES /
                     "pydantic-ai-previous-response-id-seed-auto-chains-through-retries")
    (root,) = [r["run_id"] for r in chain.runs if r["previous_response_id"] is None]
    assert [r["thread_id"] for r in chain.runs] == [root] * 4  # a root and three follow-ups
    maxed = computed(REAL_RESPONSES / "openai-dotnet-maxtokens")
    assert [r["incomplete_reason"] for r in maxed.runs] == ["max_output_tokens"]


def test_the_whole_folder_at_once():
    """All recordings in one ingest: no rejects, one run per distinct response id (the
    anonymised pydantic-ai ids merge across directories, as the same id should)."""
    result = ro.compute([REAL_RESPONSES])
    assert result.rejects == [] and result.assistants.rejects == []
    ids = set()
    for d in DIRS:
        ids |= {r["run_id"] for r in computed(d).runs}
    assert {r["run_id"] for r in result.runs} == ids
    t = result.total_counts
    assert t["records_read"] == t["kept"] + t["superseded"] + t["rejected"] + t["skipped"]
    assert t["records_read"] == sum(computed(d).total_counts["records_read"] for d in DIRS)
