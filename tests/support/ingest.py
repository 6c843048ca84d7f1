"""An ingest without Prefect, for tests whose subject is what lands in the warehouse
(tables, views), not the flow run: `--orchestration direct`, the same steps and tables as
the flow (tests/flows/test_orchestration.py holds the two equal), without a Prefect
server, so such tests stay in the fast tier (`pytest -m "not flow"`)."""

from __future__ import annotations

from pathlib import Path

from steplens.flows import pipeline
from steplens.flows.settings import Settings


def ingest_direct(paths: list[str | Path], warehouse: str | Path,
                  prices: str | Path | None = None, full_refresh: bool = False) -> dict:
    """Ingest `paths` into `warehouse` as `steplens ingest --orchestration direct` does;
    the summary."""
    settings = Settings.from_env(warehouse=str(warehouse),
                                 prices=str(prices) if prices is not None else None)
    return pipeline.run_direct([str(p) for p in paths], settings, full_refresh)
