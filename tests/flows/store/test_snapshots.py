"""Snapshots (flows/store/snapshots.py): a kill at any fault point leaves a readable
warehouse, superseded snapshots stay for the retention window, and readers see one whole
snapshot while ingests publish (issue 18, storage side).

Every total is compared with an independent count: the step records written and counted
by tests/support/warehouse.py, never with steplens's own output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from steplens.flows import pipeline
from steplens.flows.settings import Settings
from steplens.flows.store import pointer, snapshots
from tests.support.warehouse import Batch, cli, ingest, totals, write_steps

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
    # past the window for seen[0] (superseded first), inside it for seen[1] (superseded
    # when seen[2] was published: midway, however close together the ingests ran)
    midway = (int(seen[1]) + int(seen[2])) / 2e9
    snapshots.prune(wh, keep=2, retention=window, now=midway + window)
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


def test_retained_is_the_rule_the_docs_state():
    ids = [f"{t * 10**9:020d}" for t in (100, 200, 300, 400, 500)]
    # at t=600, window 150 s: 400 (superseded at 500, 100 s ago) stays, 300 (superseded
    # at 400, 200 s ago) goes; a 250 s window keeps 300 as well
    assert snapshots.retained(ids, ids[-1], 2, 150, now=600) == set(ids[3:])
    assert snapshots.retained(ids, ids[-1], 2, 250, now=600) == set(ids[2:])
    assert snapshots.retained(ids, ids[-1], 0, 0, now=600) == set(ids[3:])  # never < 2
    # a snapshot newer than the one in use (never published) is not kept
    assert snapshots.retained(ids, ids[2], 2, 0, now=600) == set(ids[1:3])


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

