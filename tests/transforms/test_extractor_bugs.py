"""A bug in an extractor is a bug, not bad input (transforms/assistants/careful.py): a record the
rulebook accepted whose extraction fails raises (the careful path: `ExtractorBug`, naming
the file and line), on either path; it is never a reject. What the input itself
gets wrong while it is extracted stays a reject with its reason."""

from __future__ import annotations

import orjson
import pytest

from steplens.transforms import config
from steplens.transforms.assistants.careful import ExtractorBug
from steplens.transforms.parse import parse_lines
from tests.support.builders import run


def _broken(*_args, **_kwargs):
    raise KeyError("a bug of ours")


def test_an_extractor_that_fails_raises_naming_file_and_line(monkeypatch):
    line = orjson.dumps(run(id="run_1"))
    assert parse_lines("f.jsonl", [(7, line)], careful=True).run_records.height == 1
    monkeypatch.setattr(config, "assistants", _broken)
    with pytest.raises(ExtractorBug, match=r"f\.jsonl:7: .*KeyError"):
        parse_lines("f.jsonl", [(7, line)], careful=True)


def test_the_fast_path_raises_a_bug_too(monkeypatch):
    line = orjson.dumps(run(id="run_1"))
    monkeypatch.setattr(config, "assistants", _broken)
    with pytest.raises(KeyError, match="a bug of ours"):
        parse_lines("f.jsonl", [(7, line)])


def test_a_value_too_deep_to_store_is_a_reject_with_its_reason():
    deep = (b'{"object":"thread.run","id":"run_deep","metadata":' + b'{"a":' * 300 + b"1"
            + b"}" * 301)
    batch = parse_lines("f.jsonl", [(1, deep)], careful=True)
    assert batch.run_records.height == 0
    assert batch.rejects["reason"].to_list() == ["nested too deep to store (over 255 levels)"]
