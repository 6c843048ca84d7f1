"""Trust (issue 18, storage side): the pointer survives copies and loss, readers see one
snapshot while ingests publish, superseded snapshots stay for the retention window, and
`check` finds damage (with or without the file list) without false alarms.

Every total is compared with an independent count: the step records this module writes
itself, counted and summed in plain Python (`Batch`), never with steplens's own output.
Ingests run without Prefect (`run_direct`, or the CLI with STEPLENS_ORCHESTRATION=direct).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from steplens.flows import pipeline
from steplens.flows.cli import app
from steplens.flows.settings import Settings
from steplens.flows.store import pointer, snapshots
from tests.support.cli import one_error_line

STEP = {
    "object": "thread.run.step", "assistant_id": "asst_trust", "type": "message_creation",
    "status": "completed", "last_error": None, "expired_at": None, "cancelled_at": None,
    "failed_at": None, "metadata": {},
}


@dataclass
class Batch:
    """What a folder of step records holds, counted here (the independent truth)."""

    steps: int
    tokens: int

    def __add__(self, other: Batch) -> Batch:
        return Batch(self.steps + other.steps, self.tokens + other.tokens)


def write_steps(folder: Path, name: str, n: int, seed: int) -> Batch:
    """`n` completed steps with distinct ids and token counts, one JSON line each."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = 0
    with open(folder / f"{name}.jsonl", "w") as f:
        for i in range(n):
            prompt, completion = 100 + (seed * 37 + i * 11) % 900, 5 + (seed + i * 7) % 80
            created = 1_718_000_000 + seed * 100_000 + i * 60
            step = {**STEP, "id": f"step_{name}_{i}", "run_id": f"run_{name}_{i // 3}",
                    "thread_id": f"thread_{name}", "created_at": created,
                    "completed_at": created + 2,
                    "step_details": {"type": "message_creation",
                                     "message_creation": {"message_id": f"msg_{name}_{i}"}},
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion}}
            f.write(json.dumps(step) + "\n")
            tokens += prompt + completion
    return Batch(n, tokens)


def ingest(paths: list[Path], wh: Path, **settings) -> dict:
    return pipeline.run_direct([str(p) for p in paths], Settings(warehouse=wh, **settings))


def totals(wh: Path) -> Batch:
    """Steps and tokens as `steplens sql` answers them (in-memory views, pinned)."""
    from steplens.flows.store import views

    con = views.open_readonly(wh.resolve())
    try:
        n, tokens = con.sql("select count(*), coalesce(sum(total_tokens), 0) from steps"
                            ).fetchall()[0]
    finally:
        con.close()
    return Batch(n, int(tokens))


@pytest.fixture
def direct(monkeypatch):
    monkeypatch.setenv("STEPLENS_ORCHESTRATION", "direct")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


@pytest.fixture
def two(tmp_path) -> tuple[Path, Batch, Path, Batch, Path]:
    """Folder A ingested into a warehouse; folder B written, not ingested."""
    a, b = tmp_path / "a", tmp_path / "b"
    batch_a = write_steps(a, "a", 40, 1)
    batch_b = write_steps(b, "b", 25, 2)
    wh = tmp_path / "wh"
    ingest([a], wh)
    assert totals(wh) == batch_a
    return a, batch_a, b, batch_b, wh


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


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


# ---- kills at the fault points -----------------------------------------------------------

def _killed_ingest(paths: list[Path], wh: Path, point: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL",
                                                             "PYTEST_CURRENT_TEST")}
    env.update(STEPLENS_ORCHESTRATION="direct", STEPLENS_FAULT=f"kill@{point}")
    proc = subprocess.run([sys.executable, "-m", "steplens.flows.cli", "ingest",
                           *map(str, paths), "-w", str(wh)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr


@pytest.mark.parametrize("point", ["after_parse", "publish_partial", "publish_renamed",
                                   "publish_swapped"])
def test_a_kill_at_any_point_leaves_a_readable_warehouse_and_check_green(two, point,
                                                                        direct):
    a, batch_a, b, batch_b, wh = two
    _killed_ingest([a, b], wh, point)
    got = totals(wh)
    published = point == "publish_swapped"
    assert got == (batch_a + batch_b if published else batch_a)
    checked = cli("check", "-w", str(wh))
    assert checked.exit_code == 0, checked.output  # no false alarm: the data is a clean run's
    assert "FAIL" not in checked.output
    with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
        n, tokens = con.sql("select count(*), sum(total_tokens) from steps").fetchall()[0]
    assert Batch(n, int(tokens)) == got  # users' tools see the same snapshot
    clean = cli("ingest", str(a), str(b), "-w", str(wh))
    assert clean.exit_code == 0, clean.output
    assert totals(wh) == batch_a + batch_b
    assert cli("check", "-w", str(wh)).exit_code == 0


# ---- retention ------------------------------------------------------------------------------

def test_superseded_snapshots_stay_for_the_retention_window_then_go(tmp_path):
    a = tmp_path / "in"
    wh = tmp_path / "wh"
    window = 3600.0
    seen = []
    for i in range(4):
        write_steps(a, f"f{i}", 5, i)
        ingest([a], wh, snapshot_retention_seconds=int(window))
        seen.append(snapshots.current_snapshot(wh).name)
    assert pointer.snapshot_ids(wh) == seen  # all inside the window: all kept
    superseded_at = int(seen[1]) / 1e9  # when seen[0] stopped being the one in use
    snapshots.prune(wh, keep=2, retention=window, now=superseded_at + window - 1)
    assert pointer.snapshot_ids(wh) == seen
    # past the window for seen[0] (superseded first), inside it for seen[1]
    snapshots.prune(wh, keep=2, retention=window, now=superseded_at + window + 0.5)
    assert pointer.snapshot_ids(wh) == seen[1:]
    # long after: only the newest two (never fewer), the one in use among them
    snapshots.prune(wh, keep=1, retention=window, now=int(seen[-1]) / 1e9 + 10 * window)
    assert pointer.snapshot_ids(wh) == seen[2:]
    assert sorted(p.stem for p in (wh / "inventories").iterdir()) == seen[2:]


def test_retention_setting_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("STEPLENS_SNAPSHOT_RETENTION_SECONDS", "60")
    assert Settings.from_env().snapshot_retention_seconds == 60
    monkeypatch.delenv("STEPLENS_SNAPSHOT_RETENTION_SECONDS")
    assert Settings.from_env().snapshot_retention_seconds == 24 * 3600


def test_a_retained_snapshot_keeps_its_record_segments(two):
    """A full refresh writes new segments; the superseded snapshot, still retained,
    keeps the old ones, so a reader bound to it still reads whole files."""
    a, batch_a, b, batch_b, wh = two
    old = snapshots.current_snapshot(wh)
    old_inventory = json.loads((old / "inventory.json").read_text())
    pipeline.run_direct([str(a), str(b)], Settings(warehouse=wh), full_refresh=True)
    assert snapshots.current_snapshot(wh) != old and old.is_dir()
    for rel in old_inventory["records"]:
        assert (wh / rel).is_file(), rel
    assert totals(wh) == batch_a + batch_b


def test_a_pointer_lost_is_never_pruned_around(two):
    a, batch_a, b, batch_b, wh = two
    ingest([a, b], wh)
    ids = pointer.snapshot_ids(wh)
    (wh / "HEAD").unlink()
    snapshots.prune(wh, keep=0, retention=0, now=1e12)
    assert pointer.snapshot_ids(wh) == ids


# ---- readers during ingests ------------------------------------------------------------------

QUERY = ("select (select count(*) from steps) as n, (select sum(total_tokens) from steps) "
         "as t, (select count(*) from runs) as r")

READER = r'''
import json, sys, time
from pathlib import Path
import duckdb
wh, stop, mode, query = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
results, errors = [], []
held = duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) if mode == "held" else None
if mode == "sql":
    from typer.testing import CliRunner
    from steplens.flows.cli import app
print("ready", flush=True)
while True:
    last = stop.exists()
    try:
        if mode == "file":  # a new connection each time, as a notebook re-run would
            with duckdb.connect(str(wh / "steplens.duckdb"), read_only=True) as con:
                row = con.sql(query).fetchall()[0]
        elif mode == "held":  # one connection left open across every ingest
            row = held.sql(query).fetchall()[0]
        else:  # `steplens sql`
            out = CliRunner().invoke(app, ["sql", query, "-w", str(wh), "-f", "json"])
            if out.exit_code != 0:
                raise RuntimeError(out.output)
            got = json.loads(out.output)[0]
            row = (got["n"], got["t"], got["r"])
        results.append([int(v or 0) for v in row])
    except Exception as e:
        errors.append(repr(e)[:300])
    if last:
        break
print(json.dumps({"results": results, "errors": errors}))
'''


def test_readers_see_one_whole_snapshot_while_ingests_publish(tmp_path, direct):
    """Readers loop (a new `steplens.duckdb` connection per query, one held open, and
    `steplens sql`) while ingests publish: no query fails, and every answer is the
    total of one published snapshot (none mixes two); the held connection keeps the
    snapshot it opened on."""
    inputs, wh = tmp_path / "in", tmp_path / "wh"
    truth = write_steps(inputs, "f0", 30, 0)
    ingest([inputs], wh)
    runs = lambda: totals_runs(wh)  # noqa: E731
    published = {(truth.steps, truth.tokens, runs())}
    first = (truth.steps, truth.tokens, runs())
    stop = tmp_path / "stop"
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    readers = {mode: subprocess.Popen([sys.executable, "-c", READER, str(wh), str(stop), mode,
                                       QUERY], env=env, stdout=subprocess.PIPE, text=True)
               for mode in ("file", "held", "sql")}
    try:
        for proc in readers.values():
            assert proc.stdout.readline().strip() == "ready"
        for i in range(1, 7):
            truth = truth + write_steps(inputs, f"f{i}", 20 + i, i)
            ingest([inputs], wh, keep_snapshots=2)
            published.add((truth.steps, truth.tokens, runs()))
        stop.touch()
        outs = {mode: json.loads(proc.communicate(timeout=300)[0].splitlines()[-1])
                for mode, proc in readers.items()}
    finally:
        for proc in readers.values():
            proc.kill()
    for mode, out in outs.items():
        assert out["errors"] == [], (mode, out["errors"][:3])
        assert out["results"], mode
        seen = {tuple(r) for r in out["results"]}
        assert seen <= published, (mode, seen - published)
    assert {tuple(r) for r in outs["held"]["results"]} == {first}
    assert len({tuple(r) for r in outs["file"]["results"]}) >= 2  # it ran across publishes
    assert len(pointer.snapshot_ids(wh)) == 7  # all superseded within the window


def totals_runs(wh: Path) -> int:
    from steplens.flows.store import views

    con = views.open_readonly(wh.resolve())
    try:
        return con.sql("select count(*) from runs").fetchall()[0][0]
    finally:
        con.close()


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


def test_retained_is_the_rule_the_docs_state():
    ids = [f"{t * 10**9:020d}" for t in (100, 200, 300, 400, 500)]
    # at t=600, window 150 s: 400 (superseded at 500, 100 s ago) stays, 300 (superseded
    # at 400, 200 s ago) goes; a 250 s window keeps 300 as well
    assert snapshots.retained(ids, ids[-1], 2, 150, now=600) == set(ids[3:])
    assert snapshots.retained(ids, ids[-1], 2, 250, now=600) == set(ids[2:])
    assert snapshots.retained(ids, ids[-1], 0, 0, now=600) == set(ids[3:])  # never < 2
    # a snapshot newer than the one in use (never published) is not kept
    assert snapshots.retained(ids, ids[2], 2, 0, now=600) == set(ids[1:3])


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
