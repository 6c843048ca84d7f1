"""Test settings: an isolated Prefect home, no telemetry, one Prefect server per session.

Prefect reads its settings at import, so they are set here, before any test module
imports steplens. Task cache records persist in $PREFECT_HOME/storage: a fresh temp home
per session keeps one run's cache from deciding the next run's result.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_home = tempfile.mkdtemp(prefix="steplens-prefect-")
os.environ["PREFECT_HOME"] = _home
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("STEPLENS_WAREHOUSE", None)
os.environ.pop("STEPLENS_PRICES", None)

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Property tests share 2 cores with flow tests and other work: generation speed and
# per-example time are not what they test (benchmarks/ measure speed), so neither may fail
# them. Loaded before the test modules, so `@settings(...)` there inherits it.
settings.register_profile("steplens", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("steplens")

from tests.support.paths import SAMPLE, SAMPLE_BILLING, SAMPLE_RESPONSES  # noqa: E402


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect API for every flow test of the session (~9 s, once)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory, prefect_server) -> Path:
    """data/sample and its billing exports (data/sample-billing) ingested by the flow, with
    the shipped prices (report, notebook)."""
    from steplens.flows.ingest import ingest

    wh = tmp_path_factory.mktemp("sample") / "wh"
    ingest(paths=[str(SAMPLE), str(SAMPLE_BILLING)], warehouse_dir=str(wh))
    return wh


@pytest.fixture(scope="session")
def mixed_warehouse(tmp_path_factory, prefect_server) -> Path:
    """data/sample and data/sample-responses ingested together: both APIs in one warehouse
    (the report's and the notebook's Responses / migration sections), with data/sample's
    billing exports (cost reconciliation)."""
    from steplens.flows.ingest import ingest

    wh = tmp_path_factory.mktemp("mixed") / "wh"
    ingest(paths=[str(SAMPLE), str(SAMPLE_RESPONSES), str(SAMPLE_BILLING)],
           warehouse_dir=str(wh))
    return wh


def pytest_collection_modifyitems(config, items):
    """The fast tier (`pytest -m "not flow"`) starts no Prefect server: a test that uses
    one (through `prefect_server`, or a warehouse a flow built) must be marked `flow`."""
    unmarked = [item.nodeid for item in items
                if "prefect_server" in getattr(item, "fixturenames", ())
                and item.get_closest_marker("flow") is None]
    if unmarked:
        raise pytest.UsageError("tests using a Prefect server must be marked flow: "
                                + ", ".join(unmarked))
