"""flows/store/early_views.py: a new warehouse's `steplens.duckdb`, bound to a schema-only
snapshot while the ingest parses, then pinned, answers every view as a file defined over
the real snapshot does; a failed early define or a killed one's leftovers change nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from steplens.flows.store import early_views, pointer, prices, snapshots, views
from tests.support.ingest import ingest_direct

DATA = Path(__file__).parents[3] / "data"
SAMPLES = [DATA / "sample", DATA / "sample-responses", DATA / "sample-billing"]


def _plain(value):
    """A float to 10 significant digits: sums in parallel differ in the last bits."""
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _every_view(path: Path) -> dict[str, list]:
    """Every view's rows (sorted: the comparison ignores order), from the file at `path`."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [n for (n,) in con.sql("select view_name from duckdb_views() "
                                       "where not internal order by 1").fetchall()]
        return {n: sorted((_plain(r) for r in con.sql(f'from "{n}"').fetchall()), key=repr)
                for n in names}


@pytest.fixture
def defines(monkeypatch) -> list[Path]:
    """The snapshot each `views.define_file` call bound the views to."""
    seen: list[Path] = []
    real = views.define_file

    def spy(path, root, price_table, version, snapshot):
        seen.append(snapshot)
        return real(path, root, price_table, version, snapshot)

    monkeypatch.setattr(views, "define_file", spy)
    return seen


def test_a_new_warehouse_file_bound_early_answers_as_one_defined_over_its_snapshot(
        tmp_path, defines):
    wh = tmp_path / "wh"
    ingest_direct(SAMPLES, wh)
    # bound once, to the schema-only snapshot, never to the real one
    assert [p.parent.name for p in defines] == [early_views.EARLY]
    assert not (wh / early_views.EARLY).exists()
    snap = pointer.current_snapshot(wh)
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        assert con.sql("select steplens_snapshot()").fetchall()[0][0] == str(snap)
    reference = tmp_path / "reference.duckdb"
    table = prices.price_table(wh, None)
    views.define_file(reference, wh, table, views.file_version(table), snap)
    early, defined = _every_view(wh / "steplens.duckdb"), _every_view(reference)
    assert early.keys() == defined.keys() and len(early) > 50
    assert sum(len(rows) for rows in defined.values()) > 1000  # views with rows compared
    for name in defined:
        assert early[name] == defined[name], name


def test_the_next_publish_re_pins_the_early_file(tmp_path, defines):
    """The early file holds the digest `_repinned` checks: the second ingest copies it
    instead of defining the views again."""
    wh = tmp_path / "wh"
    ingest_direct([DATA / "sample"], wh)
    ingest_direct([DATA / "sample-responses"], wh)
    assert len(defines) == 1


def test_an_early_define_that_fails_leaves_the_publish_to_define_the_file(
        tmp_path, monkeypatch, defines):
    def broken(folder):
        raise OSError("disk full")

    monkeypatch.setattr(snapshots, "write_schema_only", broken)
    wh = tmp_path / "wh"
    ingest_direct([DATA / "sample"], wh)
    assert defines == [pointer.current_snapshot(wh)]
    assert not (wh / early_views.EARLY).exists()
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        assert con.sql("select count(*) from steps").fetchall()[0][0] > 0


def test_a_killed_ingest_leftovers_are_removed(tmp_path, defines):
    wh = tmp_path / "wh"
    ingest_direct([DATA / "sample"], wh)
    (wh / early_views.EARLY / "snapshot").mkdir(parents=True)
    (wh / early_views.EARLY / "steplens.duckdb").write_bytes(b"cut short")
    ingest_direct([DATA / "sample-responses"], wh)  # a re-pin: no early define of its own
    assert not (wh / early_views.EARLY).exists()
    assert len(defines) == 1
