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


# Modules (or single tests) that run steplens end to end without Prefect: a whole ingest
# (in-process or as the CLI in a child process), `steplens check`, a kill, a fault, a wheel
# build, seconds each. Marked `e2e` here, in one place; the fast tier (`-m "not flow and
# not e2e"`) leaves them out, the full suite runs them. Chosen by `--durations`: together
# ~80 % of the CPU of the tests that are not `flow`, for ~7 % of the tests.
E2E = (
    "tests/capture/test_files.py",
    "tests/flows/io/test_input_kinds.py",
    "tests/flows/store/test_integrity.py",
    "tests/flows/store/test_pointer.py",
    "tests/flows/store/test_schema_upgrade.py",
    "tests/flows/store/test_snapshots.py",
    "tests/flows/test_change_detection.py",
    "tests/flows/test_environment_faults.py",
    "tests/flows/test_field_coverage.py",
    "tests/flows/test_first_screen.py",
    "tests/flows/test_show.py",
    "tests/flows/test_values_in_range.py",
    "tests/sql/test_analytics.py",
    "tests/sql/test_depth.py",
    "tests/sql/test_threads.py",
    "tests/sql/test_tool_pricing.py",
    "tests/test_duckdb_same_job.py",
    "tests/test_packaging.py",
    "tests/capture/test_capture.py::test_the_captured_directory_ingests_into_the_rows_of_",
    "tests/capture/test_capture.py::test_recordings_with_placeholder_ids_one_at_a_time",
    "tests/capture/test_pull.py::test_pull_fetches_everything_into_the_rows_of_what_was_",
    "tests/flows/store/test_prices.py::test_override_is_remembered_and_changes_rebuild_",
    "tests/flows/test_faults.py::test_sigkill_inside_the_flow_leaves_no_process",
    "tests/flows/test_orchestration.py::test_a_direct_ingest_never_imports_prefect",
)


def pytest_collection_modifyitems(config, items):
    """The fast tier (`pytest -m "not flow and not e2e"`) starts no Prefect server: a
    test that uses one (through `prefect_server`, or a warehouse a flow built) must be
    marked `flow`. The tests `E2E` names (a module, or a test id's beginning) are marked
    `e2e`."""
    for item in items:
        if item.nodeid.startswith(E2E):
            item.add_marker(pytest.mark.e2e)
    unmarked = [item.nodeid for item in items
                if "prefect_server" in getattr(item, "fixturenames", ())
                and item.get_closest_marker("flow") is None]
    if unmarked:
        raise pytest.UsageError("tests using a Prefect server must be marked flow: "
                                + ", ".join(unmarked))
