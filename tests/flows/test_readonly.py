"""Reads don't write: `report` (tables, JSON, HTML) and `sql` leave the warehouse exactly as
it was, and answer from a read-only copy of it.

`chmod -R a-w` does not stop root (CI runs as root), so the proof is a byte-for-byte
listing of the directory (names, link targets, sizes, modification times and content
hashes) taken before and after; where the tests run as another user, the permission
bits stop any write as well.
"""

from __future__ import annotations

import json
import stat

import pytest
from typer.testing import CliRunner

from steplens.flows.cli import app
from tests.support.files import listing, read_only_copy

pytestmark = pytest.mark.flow


@pytest.fixture
def frozen(sample_warehouse, tmp_path):
    wh = read_only_copy(sample_warehouse, tmp_path / "wh")
    before = listing(wh)
    yield wh
    assert listing(wh) == before, "a read command changed the warehouse"
    for path in [wh, *wh.rglob("*")]:  # let pytest clean up
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_report_and_sql_answer_from_a_read_only_warehouse_and_change_nothing(frozen,
                                                                             tmp_path):
    runner = CliRunner()
    out = tmp_path / "out"
    out.mkdir()
    for args in (["report"], ["report", "-f", "json"], ["report", "-f", "markdown"],
                 ["report", "--html", str(out / "r.html")],
                 ["sql", "select count(*) as n from steps", "-f", "json"]):
        result = runner.invoke(app, [*args, "-w", str(frozen)], catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
    steps = json.loads(runner.invoke(app, ["sql", "select count(*) as n from steps", "-f",
                                           "json", "-w", str(frozen)]).output)
    assert steps[0]["n"] > 0
    assert (out / "r.html").stat().st_size > 10_000


def test_a_moved_warehouse_answers_without_being_rewritten(sample_warehouse, tmp_path):
    moved = read_only_copy(sample_warehouse, tmp_path / "elsewhere")
    before = listing(moved)
    result = CliRunner().invoke(app, ["sql", "select steplens_root() as root", "-f", "json",
                                      "-w", str(moved)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["root"] == str(moved.resolve())
    assert listing(moved) == before
