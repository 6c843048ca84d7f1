"""Redaction at capture time: content the user does not want kept never reaches the
disk, and what remains still ingests into the same ids, statuses, times and tokens."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import orjson
import pytest
from polars.testing import assert_frame_equal

from steplens.capture import Transport
from tests.capture.replay import directories
from tests.capture.support import everything, ingest, records, tables
from tests.capture.test_capture import replay

NAMES = ("openai-dotnet-functioncallworks", "openai-dotnet-functioncallstreamingworks",
         "openai-dotnet-codeinterpretertoolwithuploadedfileids",
         "openai-dotnet-mcptoolalwaysrequiresapproval-false", "pydantic-ai-mcp-server-tool",
         "openai-dotnet-responseusingconversations", "pydantic-ai-tool-output",
         "pydantic-ai-thinking-with-code-execution-tool-stream",
         "openllmetry-responses-tool-calls", "pydantic-ai-simple-response")
KEY = b"capture-test-key"
# Columns a redaction changes; every other column must be as in clear.
CHANGED = {"runs": {"metadata", "instructions_hash"},
           "tool_calls": {"function_arguments", "function_output", "code_input",
                          "arguments_valid_json", "function_arguments_chars",
                          "function_output_chars", "code_input_chars", "code_log_chars"}}


@pytest.fixture(scope="module")
def dirs() -> list[Path]:
    return [d for d in directories() if d.name in NAMES]


@pytest.fixture(scope="module")
def clear(dirs, tmp_path_factory) -> dict:
    wh = tmp_path_factory.mktemp("clear")
    ingest(dirs, wh)
    return tables(wh)


def _strings(value, out: set[str], keys: tuple[str, ...]) -> None:
    """Every string under one of `keys`, anywhere in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in keys and isinstance(v, str):
                out.add(v)
            elif k in keys and isinstance(v, dict) and k == "metadata":
                out.update(x for x in v.values() if isinstance(x, str))
            else:
                _strings(v, out, keys)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out, keys)


def contents(dirs: list[Path], keys: tuple[str, ...]) -> set[str]:
    """The content strings of the recordings (long enough not to occur by chance)."""
    out: set[str] = set()
    for d in dirs:
        for name in ("responses.jsonl", "requests.jsonl", "stream.jsonl"):
            if (d / name).exists():
                for line in (d / name).read_bytes().splitlines():
                    _strings(orjson.loads(line), out, keys)
    return {s for s in out if len(s) >= 12}


ALL_KEYS = ("arguments", "output", "code", "logs", "text", "instructions", "delta",
            "content", "metadata", "input")


def _json_escaped(s: str) -> bytes:
    return orjson.dumps(s)[1:-1]


def test_content_mode_writes_no_content(dirs, clear, tmp_path):
    replay(dirs, tmp_path / "exports", redact="content")
    secrets = contents(dirs, ALL_KEYS)
    assert len(secrets) > 20
    data = everything(tmp_path / "exports")
    leaked = [s for s in secrets if _json_escaped(s) in data]
    assert leaked == []
    summary = ingest([tmp_path / "exports"], tmp_path / "wh")
    assert summary["rejected"] == 0
    got = tables(tmp_path / "wh")
    for name, frame in clear.items():
        keep = [c for c in frame.columns if c not in CHANGED.get(name, ())]
        assert_frame_equal(got[name].select(keep), frame.select(keep))
    calls = got["tool_calls"]
    assert calls["function_arguments"].null_count() == calls.height
    assert calls["function_output"].null_count() == calls.height


def _digest(value: str) -> str:
    return hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()[:32]


def test_hash_mode_writes_the_keyed_digest_of_each_value(dirs, clear, tmp_path):
    replay(dirs, tmp_path / "exports", redact="hash", redact_key=KEY)
    summary = ingest([tmp_path / "exports"], tmp_path / "wh")
    assert summary["rejected"] == 0
    got = tables(tmp_path / "wh")["tool_calls"]
    want = clear["tool_calls"]
    assert want["function_arguments"].drop_nulls().len() > 5
    for column in ("function_arguments", "function_output", "code_input"):
        expect = [None if v is None else _digest(v) for v in want[column]]
        # a value rebuilt from streamed pieces only is NULL (pieces are never hashed)
        pairs = list(zip(got[column], expect, strict=True))
        assert all(g == e or g is None for g, e in pairs), column
        assert sum(g is not None for g, _ in pairs) >= sum(e is not None for _, e in pairs) - 2
    assert got["function_arguments"].drop_nulls().len() > 5


def test_a_field_list_redacts_only_those_fields(dirs, tmp_path):
    replay(dirs, tmp_path / "exports", redact="content",
           redact_fields="tool_calls.function_arguments")
    data = everything(tmp_path / "exports")
    arguments = contents(dirs, ("arguments",))
    texts = contents(dirs, ("text",)) - arguments
    assert arguments and texts
    assert not [s for s in arguments if _json_escaped(s) in data]
    assert all(_json_escaped(s) in data for s in texts)
    lines = [orjson.loads(x) for x in records(tmp_path / "exports")]
    assert lines  # still whole JSON lines


@pytest.mark.parametrize(("options", "message"), [
    ({"redact": "blur"}, "unknown mode 'blur'"),
    ({"redact": "content", "redact_fields": "tool_calls.nope"}, "unknown field 'tool_calls.nope'"),
])
def test_a_wrong_redaction_is_refused_when_the_transport_is_made(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        Transport(tmp_path, **options)
