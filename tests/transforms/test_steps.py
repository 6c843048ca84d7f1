"""transforms/steps.py helpers on inline micro-tables, against plain Python."""

from __future__ import annotations

import json

import polars as pl

from steplens.transforms.steps import json_valid


def _valid(text: str | None) -> bool | None:
    if text is None:
        return None
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_json_valid_agrees_with_the_standard_library():
    texts = ['{"a": 1}', "[1, 2]", "3", '"s"', "{", "", "{'a': 1}", None, "null", "[1,]"]
    got = json_valid(pl.Series("args", texts, dtype=pl.String))
    assert got.name == "args" and got.dtype == pl.Boolean
    assert got.to_list() == [_valid(t) for t in texts]
