"""The rulebook (transforms/rulebook.py): the order in which the careful checker names
one of two problems, and the three reason forms, on hand-written records."""

from __future__ import annotations

from steplens.transforms import rulebook
from steplens.transforms.rulebook import ID, INT, STR, TOKENS, TS_NUM, Required

SPEC = {"id": ID, "deep": {"n": INT}, "flat": STR}
# `deep.n` comes first in spec order, `flat` is shallower
RECORD = {"id": "x", "deep": {"n": "one"}, "flat": 2}


def test_depth_first_names_the_first_problem_in_spec_order():
    assert rulebook.check(RECORD, SPEC) == "deep.n: expected integer, got string"


def test_level_by_level_names_the_shallower_problem():
    assert rulebook.check(RECORD, SPEC, level_by_level=True) == (
        "flat: expected string, got integer")


def test_the_three_forms():
    spec = {"id": ID, "usage": {"total": TOKENS}, "at": TS_NUM, "item": Required({"a": STR}),
            "list": [{"n": INT}]}
    ok = {"id": "r", "item": {}}
    assert rulebook.check(ok, spec) is None
    cases = {
        "id: expected string, got null": {"id": None},
        "id: invalid id (control character U+0007)": {"id": "a\x07"},
        "item: expected object, got null": {"item": None},
        "usage.total: token count out of range (-1; must be 0..2^53)": {"usage": {"total": -1}},
        "at: timestamp out of range (-0.5; must be 0..253402300799)": {"at": -0.5},
        "at: expected number Unix seconds, got boolean": {"at": True},
        "list[1]: expected object, got array": {"list": [{"n": 1}, []]},
        "list[0].n: integer out of range (9223372036854775808; must be -2^63..2^63-1)":
            {"list": [{"n": 1 << 63}]},
    }
    for reason, fault in cases.items():
        assert rulebook.check({**ok, **fault}, spec) == reason
        assert rulebook.check({**ok, **fault}, spec, level_by_level=True) == reason
