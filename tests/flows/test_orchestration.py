"""Prefect or direct (flows/pipeline.py, flows/orchestration/launch.py): every ingest is a
flow run unless the user asks for `direct`, which runs the same steps without Prefect and gives
exactly what the flow gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from steplens.flows import pipeline
from steplens.flows.errors import InputError
from steplens.flows.orchestration import launch
from steplens.flows.orchestration.preflight import Preflight
from steplens.flows.settings import Settings
from steplens.flows.store import snapshots
from steplens.transforms import schemas
from tests.support.paths import SAMPLE, SAMPLE_RESPONSES

# Timing and how it ran: the only summary keys allowed to differ between the two ways.
VOLATILE = {"seconds", "mb_per_s", "orchestration"}


def _pre(orchestration: str) -> Preflight:
    return Preflight(Settings(orchestration=orchestration), files=["x.jsonl"])


def test_every_ingest_is_a_flow_run_unless_asked_otherwise():
    assert Settings().orchestration == "prefect"
    assert launch.use_prefect(_pre("prefect"), False) is True
    assert launch.use_prefect(_pre("prefect"), True) is True
    assert launch.use_prefect(_pre("direct"), False) is False


def test_direct_with_dask_or_an_unknown_mode_is_one_clear_error():
    with pytest.raises(InputError, match="--dask"):
        launch.use_prefect(_pre("direct"), True)
    with pytest.raises(InputError, match="prefect, direct"):
        launch.use_prefect(_pre("sometimes"), False)


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


def test_a_direct_ingest_never_imports_prefect(tmp_path):
    """`--orchestration direct` (here through the environment): no Prefect import, no
    server process, the warehouse complete."""
    wh = tmp_path / "wh"
    script = (
        "import sys\n"
        "from steplens.flows.orchestration.launch import run_ingest\n"
        "from steplens.flows.settings import Settings\n"
        f"summary = run_ingest([{str(SAMPLE)!r}], Settings.from_env(warehouse={str(wh)!r}))\n"
        "assert summary['orchestration'] == 'direct', summary.get('orchestration')\n"
        "assert summary['balanced']\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))\n"
    )
    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_API_URL", "PYTEST_CURRENT_TEST")}
    env["STEPLENS_ORCHESTRATION"] = "direct"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    runs = pl.read_parquet(snapshots.current_snapshot(wh) / "runs" / "**" / "*.parquet")
    assert runs.height > 0
