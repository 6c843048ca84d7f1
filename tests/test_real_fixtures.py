"""The recorded real API payloads under tests/data/real: intact, valid as documented, and
read by the oracle without a single reject."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from functools import cache
from pathlib import Path

import orjson
import pytest

from tests.support import oracle
from tests.support.paths import REAL
from tests.support.sdk_validation import errors, json_lines, records

DIRS = sorted(p for p in REAL.iterdir() if p.is_dir())
FILES = sorted(p for p in REAL.rglob("*") if p.is_file() and p.suffix in (".jsonl", ".sse"))
SSE_FILES = sorted(REAL.glob("*/stream.sse"))


def _ids(paths):
    return [str(p.relative_to(REAL)) for p in paths]


def _counts(text: str) -> Counter:
    """'RunStep 3, Run 4' -> Counter; '-' -> empty."""
    out = Counter()
    for part in text.split(", "):
        if part.strip() and part.strip() != "-":
            name, n = part.rsplit(" ", 1)
            out[name] += int(n)
    return out


def _failures(text: str | None) -> Counter:
    """'Run.instructions string_type x4, ...' -> Counter."""
    out = Counter()
    for part in (text or "").split(", "):
        if part.strip():
            label, n = part.rsplit(" x", 1)
            out[label] += int(n)
    return out


@cache
def readme_validation() -> dict[str, tuple[Counter, Counter, Counter]]:
    """Per directory: (passed, failed, failure labels) as the README states them."""
    text = (REAL / "README.md").read_text(encoding="utf-8")
    out = {}
    for section in text.split("\n### `")[1:]:
        name = section.split("/`", 1)[0]
        line = next(x for x in section.splitlines() if x.startswith("- Validation: "))
        m = re.fullmatch(r"- Validation: passed (.*?); failed (.*?)(?:; failures: (.*))?", line)
        out[name] = (_counts(m[1]), _counts(m[2]), _failures(m[3]))
    return out


@cache
def measured_validation(directory: Path) -> tuple[Counter, Counter, Counter]:
    """(passed, failed, failure labels) measured over the directory's JSON-lines files."""
    passed, failed, labels = Counter(), Counter(), Counter()
    for path in sorted(directory.glob("*.jsonl")):
        for value in json_lines(path):
            for model, record in records(value):
                errs = errors(model, record)
                if not errs:
                    passed[model] += 1
                    continue
                failed[model] += 1
                if model != "AssistantStreamEvent":
                    labels.update(errs)
    return passed, failed, labels


def test_files_are_unmodified_copies():
    text = (REAL / "PROVENANCE.md").read_text(encoding="utf-8")
    listed = dict(
        (m[2], m[1]) for m in re.finditer(r"^([0-9a-f]{64})  (\S+)$", text, re.MULTILINE))
    present = {str(p.relative_to(REAL)) for p in REAL.rglob("*")
               if p.is_file() and p.name != "PROVENANCE.md"}
    assert set(listed) == present
    for rel, digest in listed.items():
        assert hashlib.sha256((REAL / rel).read_bytes()).hexdigest() == digest, rel


def test_every_directory_is_documented():
    assert {p.name for p in DIRS} == set(readme_validation())
    assert len(DIRS) == 25


@pytest.mark.parametrize("directory", DIRS, ids=_ids(DIRS))
def test_sdk_validation_is_as_the_readme_says(directory):
    passed, failed, labels = measured_validation(directory)
    assert (passed, failed, labels) == readme_validation()[directory.name]
    # steps and deltas always validate; only legacy-shaped runs (and their envelopes) fail
    assert failed["RunStep"] == failed["RunStepDeltaEvent"] == 0
    assert set(labels) <= {"Run.instructions string_type", "Run.parallel_tool_calls missing"}


def test_sdk_validation_totals_are_as_the_readme_says():
    passed, failed = Counter(), Counter()
    for d in DIRS:
        p, f, _ = measured_validation(d)
        passed += p
        failed += f
    assert passed == Counter(AssistantStreamEvent=1792, RunStepDeltaEvent=566, Run=255,
                             RunStep=158)
    assert failed == Counter(Run=217, AssistantStreamEvent=58)


@pytest.mark.parametrize("sse", SSE_FILES, ids=_ids(SSE_FILES))
def test_sse_holds_the_same_envelopes_as_its_jsonl_twin(sse):
    lines = oracle.file_lines(sse)
    *blocks, done = oracle.sse_blocks(lines)
    assert [{"event": event, "data": orjson.loads(data)} for _, event, data in blocks] == list(
        json_lines(sse.with_name("stream.jsonl")))
    assert done[1:] == ("done", None)
    assert [x for x in lines if x.strip()][-2:] == [b"event: done", b"data: [DONE]"]


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_oracle_reads_every_file_without_rejects(path):
    result = oracle.compute([path])
    assert result.rejects == []
    assert result.counts["records_read"] > 0
    assert result.steps or result.runs
    assert {s["step_id"] for s in result.steps} >= {t["step_id"] for t in result.tool_calls}


@pytest.mark.parametrize("sse", SSE_FILES, ids=_ids(SSE_FILES))
def test_oracle_gives_the_same_tables_for_sse_and_jsonl(sse):
    a = oracle.compute([sse])
    b = oracle.compute([sse.with_name("stream.jsonl")])
    assert a.steps == b.steps
    assert a.runs == b.runs
    assert a.tool_calls == b.tool_calls
    assert a.usage == b.usage
    # the closing `event: done` / `data: [DONE]` block is one more skipped record
    assert a.skipped_by_shape == dict(b.skipped_by_shape, done=1)
    assert a.counts == dict(b.counts, records_read=b.counts["records_read"] + 1,
                            skipped=b.counts["skipped"] + 1)


def test_oracle_on_a_known_real_stream():
    """openllmetry-2026-stream-1: one code-interpreter step streamed in deltas, then done."""
    result = oracle.compute([REAL / "openllmetry-2026-stream-1" / "stream.jsonl"])
    by_type = {s["type"]: s for s in result.steps}
    tool_step = by_type["tool_calls"]
    assert tool_step["status"] == "completed"
    assert tool_step["model"] is not None
    assert tool_step["cached_tokens"] == 0 and tool_step["reasoning_tokens"] == 0
    (call,) = [c for c in result.tool_calls if c["step_id"] == tool_step["step_id"]]
    assert call["type"] == "code_interpreter"
    assert call["code_input"].startswith("import sympy as sp")
    # the terminal object wins: every delta of the step counts as superseded
    assert result.counts["kept"] == len(result.steps) + len(result.runs)
