"""The scheduled deployment of the ingest flow (`steplens serve`).

A schedule needs a Prefect server that outlives the command (`prefect server start`,
then `PREFECT_API_URL=http://127.0.0.1:4200/api`): the temporary server Prefect starts
per process cannot schedule anything. No work pool or worker is needed: `serve` runs
the flow in this process when the schedule fires. One ingest at a time per warehouse
(`flows/store/snapshots.py`), so overlapping runs simply wait their turn.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from steplens.flows.ingest import ingest
from steplens.flows.io import storage

DEPLOYMENT = "steplens-ingest"


def deployment(paths: list[str], warehouse_dir: str, cron: str | None = None,
               interval: float | None = None, name: str = DEPLOYMENT):
    """The ingest flow as a deployment on a cron or interval schedule."""
    if (cron is None) == (interval is None):
        raise ValueError("give exactly one of cron or interval")
    return ingest.to_deployment(
        name=name,
        cron=cron,
        interval=timedelta(seconds=interval) if interval is not None else None,
        parameters={"paths": [p if storage.is_url(p) else str(Path(p).resolve()) for p in paths],
                    "warehouse_dir": warehouse_dir, "wait": True},
        description="steplens: incremental ingest of exported Assistants data",
        tags=["steplens"],
    )


def serve(paths: list[str], warehouse_dir: str, cron: str | None = None,
          interval: float | None = None) -> None:
    """Serve the deployment until interrupted (needs a running Prefect server)."""
    from prefect import serve as prefect_serve

    prefect_serve(deployment(paths, warehouse_dir, cron, interval),
                  pause_on_shutdown=False)
