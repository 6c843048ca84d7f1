"""Prefect or direct (flows/pipeline.py, flows/launch.py): a small batch with no Prefect
server configured runs without Prefect, and gives exactly what the flow gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from steplens.flows import launch, pipeline, server
from steplens.flows.errors import InputError
from steplens.flows.preflight import Preflight
from steplens.flows.settings import DIRECT_MAX_BYTES, Settings
from steplens.flows.store import snapshots
from steplens.transforms import schemas
from tests.support.paths import SAMPLE, SAMPLE_RESPONSES

# Timing and how it ran: the only summary keys allowed to differ between the two ways.
VOLATILE = {"seconds", "mb_per_s", "orchestration"}


def _pre(batch_bytes: int | None, orchestration: str = "auto") -> Preflight:
    return Preflight(Settings(orchestration=orchestration), files=["x.jsonl"],
                     batch_bytes=batch_bytes)


@pytest.fixture
def no_server(monkeypatch):
    monkeypatch.setattr(server, "configured_url", lambda: None)
    monkeypatch.setattr(server, "standing_server", lambda: None)


@pytest.mark.parametrize("batch_bytes,distributed,api_held,want", [
    (1000, False, False, False),                  # small: direct
    (DIRECT_MAX_BYTES - 1, False, False, False),
    (DIRECT_MAX_BYTES, False, False, True),       # large: a flow run
    (None, False, False, True),                   # size unknown (object storage)
    (1000, True, False, True),                    # Dask needs the flow's task runner
    (1000, False, True, True),                    # `watch` holds an API for every batch
])
def test_auto_runs_small_batches_directly(no_server, batch_bytes, distributed, api_held,
                                          want):
    assert launch.use_prefect(_pre(batch_bytes), distributed, api_held) is want


def test_auto_records_runs_on_a_server_the_user_runs(monkeypatch):
    monkeypatch.setattr(server, "configured_url", lambda: "http://127.0.0.1:4200/api")
    assert launch.use_prefect(_pre(1000), False, False) is True
    monkeypatch.setattr(server, "configured_url", lambda: None)
    monkeypatch.setattr(server, "standing_server", lambda: {"url": "http://127.0.0.1:1/api"})
    assert launch.use_prefect(_pre(1000), False, False) is True


def test_explicit_modes(no_server):
    assert launch.use_prefect(_pre(1000, "prefect"), False, False) is True
    assert launch.use_prefect(_pre(10**12, "direct"), False, True) is False
    with pytest.raises(InputError, match="--dask"):
        launch.use_prefect(_pre(1000, "direct"), True, False)
    with pytest.raises(InputError, match="auto, prefect, direct"):
        launch.use_prefect(_pre(1000, "sometimes"), False, False)


def _tables(wh: Path) -> dict[str, pl.DataFrame]:
    snap = snapshots.current_snapshot(wh)
    out = {}
    for name in (*schemas.PUBLIC_TABLES, "rejects"):
        frame = pl.read_parquet(snap / name / "**" / "*.parquet", hive_partitioning=False)
        out[name] = frame.sort(frame.columns, nulls_last=True)
    return out


@pytest.mark.flow
def test_direct_gives_what_the_flow_gives(prefect_server, tmp_path):
    """Both APIs' samples, once as a flow run and once directly: the same tables, rows
    and accounting (only timing differs)."""
    from steplens.flows.ingest import ingest

    paths = [str(SAMPLE), str(SAMPLE_RESPONSES)]
    by_flow = ingest(paths=paths, warehouse_dir=str(tmp_path / "flow"))
    direct = pipeline.run_direct(paths, Settings(warehouse=tmp_path / "direct"))
    assert (by_flow["orchestration"], direct["orchestration"]) == ("prefect", "direct")
    flow_tables, direct_tables = _tables(tmp_path / "flow"), _tables(tmp_path / "direct")
    assert flow_tables["steps"].height and flow_tables["runs"].height
    for name, frame in flow_tables.items():
        assert_frame_equal(direct_tables[name], frame, check_row_order=False)
    assert {k: v for k, v in direct.items() if k not in VOLATILE} == {
        k: v for k, v in by_flow.items() if k not in VOLATILE}
    assert direct["balanced"]


def test_a_small_ingest_never_imports_prefect(tmp_path):
    """`steplens ingest` of the sample, no Prefect server anywhere: no Prefect import, no
    server process, the warehouse complete."""
    wh = tmp_path / "wh"
    script = (
        "import sys\n"
        "from steplens.flows.launch import run_ingest\n"
        "from steplens.flows.settings import Settings\n"
        f"summary = run_ingest([{str(SAMPLE)!r}], Settings.from_env(warehouse={str(wh)!r}))\n"
        "assert summary['orchestration'] == 'direct', summary.get('orchestration')\n"
        "assert summary['balanced']\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))\n"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_API_URL", "STEPLENS_ORCHESTRATION", "PYTEST_CURRENT_TEST")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    runs = pl.read_parquet(snapshots.current_snapshot(wh) / "runs" / "**" / "*.parquet")
    assert runs.height > 0
