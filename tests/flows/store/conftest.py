"""Fixtures of the storage tests: a warehouse of counted step records
(tests/support/warehouse.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.warehouse import Batch, ingest, totals, write_steps


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

