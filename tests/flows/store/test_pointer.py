"""The pointer (`HEAD`, and the `current` link beside it; flows/store/pointer.py) survives
copies and loss: a lost or broken pointer is one line naming `check --repair`, which
restores it, and no ingest ever guesses past it (issue 18, storage side).

Every total is compared with an independent count: the step records written and counted
by tests/support/warehouse.py, never with steplens's own output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import duckdb
import pytest

from steplens.flows.store import pointer, snapshots
from tests.support.cli import one_error_line
from tests.support.warehouse import Batch, cli, ingest, totals

# ---- the pointer ------------------------------------------------------------------------

def test_pointer_removed_refuses_the_next_ingest_and_repair_restores_it(two, direct):
    a, batch_a, b, batch_b, wh = two
    (wh / "HEAD").unlink()
    (wh / "current").unlink()  # a sync tool dropped the link as well
    before = sorted(p.name for p in (wh / "snapshots").iterdir())
    line = one_error_line(cli("ingest", str(b), "-w", str(wh)))
    assert "HEAD" in line and "check --repair" in line and before[-1] in line, line
    assert sorted(p.name for p in (wh / "snapshots").iterdir()) == before  # nothing pruned
    line = one_error_line(cli("sql", "select 1", "-w", str(wh)))
    assert "check --repair" in line
    repaired = cli("check", "--repair", "-w", str(wh))
    assert repaired.exit_code == 0, repaired.output
    assert "repaired:" in repaired.output and before[-1] in repaired.output
    assert totals(wh) == batch_a
    result = cli("ingest", str(b), "-w", str(wh))
    assert result.exit_code == 0, result.output
    assert totals(wh) == batch_a + batch_b  # the first folder's rows are all there


def test_pointer_removed_beside_a_lagging_link_is_refused_not_migrated(two, direct):
    """`current` is best effort and may still name an older snapshot (a kill between the
    `HEAD` switch and the link): with `HEAD` lost, following the link would silently drop
    the newest snapshot's rows. Only a warehouse from before `HEAD` migrates by it."""
    a, batch_a, b, batch_b, wh = two
    assert cli("ingest", str(b), "-w", str(wh)).exit_code == 0
    older, newest = sorted(p.name for p in (wh / "snapshots").iterdir())[-2:]
    (wh / "HEAD").unlink()
    (wh / "current").unlink()
    (wh / "current").symlink_to(Path("snapshots") / older)
    line = one_error_line(cli("sql", "select count(*) from steps", "-w", str(wh)))
    assert "HEAD" in line and newest in line and "check --repair" in line, line
    line = one_error_line(cli("ingest", str(b), "-w", str(wh)))
    assert "HEAD" in line and newest in line, line
    assert cli("check", "--repair", "-w", str(wh)).exit_code == 0
    assert totals(wh) == batch_a + batch_b


@pytest.mark.parametrize("broken", ["directory", "garbled", "dangling"])
def test_a_broken_pointer_is_one_line_and_repair_restores_it(two, direct, broken):
    a, batch_a, b, batch_b, wh = two
    head = wh / "HEAD"
    if broken == "directory":
        head.unlink()
        head.mkdir()
    elif broken == "garbled":
        head.write_bytes(b"\x00\xff{not json")
    else:
        head.write_text(json.dumps({"snapshot": "01234567890123456789"}))
    line = one_error_line(cli("ingest", str(b), "-w", str(wh)))
    assert "check --repair" in line and "HEAD" in line, line
    assert one_error_line(cli("report", "-w", str(wh)))
    checked = cli("check", "-w", str(wh))
    assert checked.exit_code == 1 and "FAIL" in checked.output
    assert cli("check", "--repair", "-w", str(wh)).exit_code == 0
    assert cli("ingest", str(b), "-w", str(wh)).exit_code == 0
    assert totals(wh) == batch_a + batch_b
    assert cli("check", "-w", str(wh)).exit_code == 0


def test_current_made_a_real_directory_is_ignored(two, direct):
    a, batch_a, b, batch_b, wh = two
    target = (wh / "current").resolve()
    (wh / "current").unlink()
    shutil.copytree(target, wh / "current")  # what `cp -rL` or a zip round trip leaves
    assert cli("ingest", str(b), "-w", str(wh)).exit_code == 0
    assert totals(wh) == batch_a + batch_b
    assert (wh / "current").is_dir() and not (wh / "current").is_symlink()  # left alone
    assert cli("check", "-w", str(wh)).exit_code == 0


def _zip_round_trip(src: Path, dst: Path) -> None:
    """Zip as tools that follow links do (a symlinked directory becomes a directory),
    then unzip: hard links become copies, permissions as zip keeps them."""
    archive = dst.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w") as z:
        for dirpath, _, files in os.walk(src, followlinks=True):
            for name in files:
                path = Path(dirpath) / name
                z.write(path, path.relative_to(src))
    with zipfile.ZipFile(archive) as z:
        z.extractall(dst)


COPIES = {
    "cp -r": lambda s, d: subprocess.run(["cp", "-r", str(s), str(d)], check=True),
    "cp -rL": lambda s, d: subprocess.run(["cp", "-rL", str(s), str(d)], check=True),
    "rsync -a": lambda s, d: subprocess.run(["rsync", "-a", f"{s}/", str(d)], check=True),
    "zip": _zip_round_trip,
}


@pytest.mark.parametrize("how", list(COPIES))
def test_a_copied_warehouse_is_whole_and_takes_the_next_ingest(two, direct, how, tmp_path):
    if how == "rsync -a" and shutil.which("rsync") is None:
        pytest.skip("no rsync here")
    a, batch_a, b, batch_b, wh = two
    copy = tmp_path / "copy"
    COPIES[how](wh, copy)
    assert totals(copy) == batch_a
    checked = cli("check", "-w", str(copy))
    assert checked.exit_code == 0, checked.output
    result = cli("ingest", str(b), "-w", str(copy))
    assert result.exit_code == 0, result.output
    assert totals(copy) == batch_a + batch_b
    with duckdb.connect(str(copy / "steplens.duckdb"), read_only=True) as con:
        n, tokens = con.sql("select count(*), sum(total_tokens) from steps").fetchall()[0]
    assert Batch(n, int(tokens)) == batch_a + batch_b  # the moved warehouse's own views
    assert str(copy.resolve()) in con_snapshot(copy)
    assert totals(wh) == batch_a  # the original untouched
    checked = cli("check", "-w", str(copy))
    assert checked.exit_code == 0, checked.output


def con_snapshot(wh: Path) -> str:
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        return con.sql("select steplens_snapshot()").fetchall()[0][0]


def test_a_warehouse_from_before_head_reads_without_writing_and_migrates_on_ingest(
        two, direct):
    a, batch_a, b, batch_b, wh = two
    (wh / "HEAD").unlink()
    shutil.rmtree(wh / "inventories")  # an older steplens wrote only the symlink
    listing = sorted(str(p) for p in wh.rglob("*"))
    assert totals(wh) == batch_a
    assert cli("sql", "select count(*) from steps", "-w", str(wh)).exit_code == 0
    assert sorted(str(p) for p in wh.rglob("*")) == listing  # a read wrote nothing
    assert cli("ingest", str(b), "-w", str(wh)).exit_code == 0
    assert (wh / "HEAD").is_file()
    assert totals(wh) == batch_a + batch_b
    assert cli("check", "-w", str(wh)).exit_code == 0


# ---- check --------------------------------------------------------------------------------


def test_a_pointer_lost_is_never_pruned_around(two):
    a, batch_a, b, batch_b, wh = two
    ingest([a, b], wh)
    ids = pointer.snapshot_ids(wh)
    (wh / "HEAD").unlink()
    snapshots.prune(wh, keep=0, retention=0, now=1e12)
    assert pointer.snapshot_ids(wh) == ids



def test_a_warehouse_from_before_head_checks_whole_and_repair_writes_head(two):
    a, batch_a, b, batch_b, wh = two
    (wh / "HEAD").unlink()
    shutil.rmtree(wh / "inventories")
    checked = cli("check", "-w", str(wh))
    assert checked.exit_code == 0, checked.output  # no false alarm for an older layout
    repaired = cli("check", "--repair", "-w", str(wh))
    assert repaired.exit_code == 0 and "written from the `current` symlink" in repaired.output
    assert (wh / "HEAD").is_file() and any((wh / "inventories").iterdir())
    assert cli("check", "-w", str(wh)).exit_code == 0


def test_pointer_content_reads_both_forms_and_rejects_junk():
    head = pointer.Pointer("01796661051320013212", "ab" * 16, 1796661051.32)
    assert pointer.Pointer.parse(head.to_bytes()) == head
    assert pointer.Pointer.parse(b"01796661051320013212\n").snapshot == "01796661051320013212"
    for junk in (b"", b"{}", b"../etc", b".hidden", b'{"snapshot": "a/b"}', b"\xff\xfe",
                 b"two words"):
        with pytest.raises((ValueError, UnicodeDecodeError)):
            pointer.Pointer.parse(junk)

