"""`steplens check` (flows/store/integrity.py) finds damage, with or without the file list
(inventory), without false alarms, and `--repair` mends what it can (issue 18, storage side).

Every total is compared with an independent count: the step records written and counted
by tests/support/warehouse.py, never with steplens's own output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from steplens.flows.store import snapshots
from tests.support.cli import one_error_line
from tests.support.warehouse import Batch, cli, totals, write_steps

# ---- check --------------------------------------------------------------------------------

def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(16):
        data[len(data) // 2 + i] ^= 0xFF
    path.write_bytes(bytes(data))


def _a_steps_file(wh: Path) -> Path:
    return sorted((snapshots.current_snapshot(wh) / "steps").glob("*/part-0.parquet"))[0]


@pytest.mark.parametrize("inventory", ["kept", "own copy deleted", "both copies deleted"])
def test_flipped_bytes_are_found_with_and_without_the_inventory(two, inventory):
    a, batch_a, b, batch_b, wh = two
    snap = snapshots.current_snapshot(wh)
    if inventory != "kept":
        (snap / "inventory.json").unlink()
    if inventory == "both copies deleted":
        (wh / "inventories" / f"{snap.name}.json").unlink()
    _flip(_a_steps_file(wh))
    checked = cli("check", "-w", str(wh))
    assert checked.exit_code == 1 and "FAIL" in checked.output, checked.output
    if inventory != "both copies deleted":
        assert "differs from what was written (checksum)" in checked.output
    if inventory != "kept":
        assert "inventory.json" in checked.output
    assert "--full-refresh" in checked.output


def test_a_lost_inventory_is_damage_and_repair_rewrites_it_from_its_copy(two):
    a, batch_a, b, batch_b, wh = two
    snap = snapshots.current_snapshot(wh)
    good = (snap / "inventory.json").read_bytes()
    (snap / "inventory.json").unlink()
    checked = cli("check", "-w", str(wh))
    assert checked.exit_code == 1 and "inventory.json is missing" in checked.output
    repaired = cli("check", "--repair", "-w", str(wh))
    assert repaired.exit_code == 0, repaired.output
    assert "inventory.json rewritten from its verified copy" in repaired.output
    assert (snap / "inventory.json").read_bytes() == good
    (snap / "inventory.json").write_text('{"version": 1, "files": {}, "records": {}}')
    checked = cli("check", "-w", str(wh))  # an edited list of files fools nobody
    assert checked.exit_code == 1 and "does not match the digest" in checked.output


def test_a_table_file_added_by_hand_is_damage(two):
    a, batch_a, b, batch_b, wh = two
    extra = _a_steps_file(wh).with_name("part-9.parquet")
    shutil.copy(_a_steps_file(wh), extra)
    assert totals(wh) != batch_a  # what a reader would see: rows counted twice
    checked = cli("check", "-w", str(wh))
    assert checked.exit_code == 1 and "is not in the inventory" in checked.output


@pytest.mark.parametrize("damage", [b"not a database", b""])
def test_a_corrupt_duckdb_file_fails_check_and_repair_rebuilds_it(two, damage):
    a, batch_a, b, batch_b, wh = two
    (wh / "steplens.duckdb").write_bytes(damage)
    checked = cli("check", "-w", str(wh))
    assert checked.exit_code == 1 and "steplens.duckdb" in checked.output, checked.output
    repaired = cli("check", "--repair", "-w", str(wh))
    assert repaired.exit_code == 0 and "steplens.duckdb rebuilt" in repaired.output, repaired.output
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        n, tokens = con.sql("select count(*), sum(total_tokens) from steps").fetchall()[0]
    assert Batch(n, int(tokens)) == batch_a


def test_a_changed_view_in_duckdb_file_fails_check(two):
    a, batch_a, b, batch_b, wh = two
    with duckdb.connect(str(wh / "steplens.duckdb")) as con:
        con.execute("create or replace view steps as select * from base_steps limit 1")
    checked = cli("check", "-w", str(wh))
    assert checked.exit_code == 1 and "views differ" in checked.output, checked.output


def _file_totals(wh: Path) -> Batch:
    """Steps and tokens through `steplens.duckdb` itself (what a user's tool reads)."""
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        n, tokens = con.sql("select count(*), coalesce(sum(total_tokens), 0) from steps"
                            ).fetchall()[0]
    return Batch(n, int(tokens))


def test_the_duckdb_file_follows_each_publish_and_an_edit_is_not_carried_on(two, direct):
    """A publish re-pins a copy of the file (flows/store/views.py `_repinned`) only when
    its views and tables are what steplens wrote: the copy reads the new snapshot, and a
    file with an edited view is defined anew (`check` whole after each ingest)."""
    a, batch_a, b, batch_b, wh = two
    c = b.parent / "c"
    batch_c = write_steps(c, "c", 7, 3)
    assert _file_totals(wh) == batch_a
    assert cli("ingest", str(b), "-w", str(wh)).exit_code == 0  # re-pinned copy
    assert _file_totals(wh) == batch_a + batch_b
    assert cli("check", "-w", str(wh)).exit_code == 0
    with duckdb.connect(str(wh / "steplens.duckdb")) as con:
        con.execute("create or replace view steps as select * from base_steps limit 1")
    assert cli("ingest", str(c), "-w", str(wh)).exit_code == 0  # defined anew
    checked = cli("check", "-w", str(wh))
    assert checked.exit_code == 0, checked.output
    assert _file_totals(wh) == batch_a + batch_b + batch_c




def test_the_snapshot_in_use_deleted_is_refused_and_repair_rolls_back_to_a_whole_one(
        two, direct):
    """The retained previous snapshot is whole: `--repair` points `HEAD` back at it, and
    the next ingest reads again what only the lost snapshot held."""
    a, batch_a, b, batch_b, wh = two
    assert cli("ingest", str(b), "-w", str(wh)).exit_code == 0
    assert totals(wh) == batch_a + batch_b
    shutil.rmtree(snapshots.current_snapshot(wh))
    line = one_error_line(cli("sql", "select 1", "-w", str(wh)))
    assert "which is missing" in line and "check --repair" in line
    repaired = cli("check", "--repair", "-w", str(wh))
    assert repaired.exit_code == 0, repaired.output
    assert totals(wh) == batch_a
    assert cli("ingest", str(a), str(b), "-w", str(wh)).exit_code == 0
    assert totals(wh) == batch_a + batch_b
    assert cli("check", "-w", str(wh)).exit_code == 0
