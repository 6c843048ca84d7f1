"""The ingest as a Prefect flow: the steps of `flows/pipeline.py`, each a task.

Every `steplens ingest` that does work runs this flow by default (docs/operations.md,
"Prefect or direct"); `--orchestration direct` runs the same steps without Prefect. A handful of
coarse tasks (discover, parse, rebuild, pull/push, views), so the flow run's page shows
where the time went without a task per file; the steps themselves, and what an ingest
does, are defined once in `flows/pipeline.py`. Run it as `steplens ingest PATH...`, or
call `ingest(paths=[...])` inside a Prefect context (tests use `prefect_test_harness`);
with `distributed`, parsing fans out through the flow's task runner
(`ingest.with_options(task_runner=DaskTaskRunner(...))`, flows/orchestration/dask.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from steplens.flows import pipeline, progress
from steplens.flows.artifacts import publish_report_artifacts
from steplens.flows.settings import Settings
from steplens.flows.store import rebuild, records, remote
from steplens.flows.store.manifest import Manifest
from steplens.flows.store.records import Range, UnitResult
from steplens.flows.store.snapshots import Change
from steplens.flows.store.summary import summary_markdown
from steplens.transforms.redact import Redaction


@task(cache_policy=NO_CACHE)
def discover_inputs(paths: list[str], warehouse_root: Path | None = None) -> list[str]:
    """Every readable input file under `paths`; an error when there is none."""
    return pipeline.discover_inputs(paths, warehouse_root)


@task(cache_policy=NO_CACHE)
def parse_units(root: Path, units: list[list[Range]], settings: Settings,
                redaction: Redaction | None = None) -> list[UnitResult]:
    """Parse every work unit into a record segment, in parallel processes when it pays;
    content redacted as `redaction` says before it is written."""
    return pipeline.parse_units(root, units, settings, redaction)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def parse_remote_unit(ranges: list[Range], max_bytes: int,
                      redaction: Redaction | None = None) -> UnitResult:
    """Parse one work unit on any worker (a Dask worker, say) and return its records.

    The worker reads its inputs itself (local paths it can see, or `s3://` URLs) and
    never touches the warehouse: the coordinator writes the returned batches. Retried,
    because reading object storage over the network can fail transiently.
    """
    return records.parse_unit(None, "", ranges, max_bytes, redaction)


def parse_distributed(root: Path, units: list[list[Range]], settings: Settings,
                      redaction: Redaction | None = None) -> list[UnitResult]:
    """Fan the work units out through the flow's task runner (e.g. prefect-dask)."""
    from prefect.futures import as_completed as futures_completed

    progress.start(len({r.path for u in units for r in u}),
                   sum(pipeline.unit_size(u) for u in units))
    futures = {parse_remote_unit.submit(u, settings.chunk_bytes, redaction): i
               for i, u in enumerate(units)}
    results: list[UnitResult | None] = [None] * len(units)
    for future in futures_completed(list(futures)):
        i = futures[future]
        results[i] = future.result().written(root, records.new_segment_id())
        progress.advance(pipeline.unit_files(units[i]), pipeline.unit_size(units[i]))
    return results  # type: ignore[return-value]


@task(cache_policy=NO_CACHE)
def rebuild_full(root: Path, manifest: Manifest, granularity: str) -> dict[str, Change]:
    """Build every row from every record (flows/store/rebuild.py)."""
    return rebuild.rebuild_full(root, manifest, granularity)


@task(cache_policy=NO_CACHE)
def rebuild_incremental(root: Path, prev: Path, manifest: Manifest, affected_steps: pl.Series,
                        affected_runs: pl.Series, affected_calls: pl.Series | None,
                        granularity: str) -> dict[str, Change]:
    """Recompute the rows of every affected id (flows/store/rebuild.py)."""
    return rebuild.rebuild_incremental(root, prev, manifest, affected_steps, affected_runs,
                                       affected_calls, granularity)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def pull_warehouse(url: str, local: Path) -> str | None:
    """Bring the local mirror of a remote warehouse up to date (flows/store/remote.py)."""
    return remote.pull(url, local)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def push_warehouse(local: Path, url: str) -> str | None:
    """Publish the new snapshot to the remote warehouse; `CURRENT` is written last."""
    return remote.push(local, url)


@task(cache_policy=NO_CACHE)
def build_views(settings: Settings) -> str:
    """Create or refresh the DuckDB views and macros over the snapshot."""
    return pipeline.build_views(settings)


TASKS = pipeline.Steps(discover=discover_inputs, parse=parse_units, rebuild_full=rebuild_full,
                       rebuild_incremental=rebuild_incremental,
                       pull=pull_warehouse, push=push_warehouse, views=build_views)


@flow(name="steplens-ingest")
def ingest(paths: list[str], warehouse_dir: str | None = None, workers: int | None = None,
           chunk_mb: int | None = None, full_refresh: bool = False, wait: bool = False,
           prices: str | None = None, distributed: bool = False, redact: str | None = None,
           redact_fields: str | None = None) -> dict:
    """Ingest exported Assistants and Responses API data under `paths` into the
    warehouse, incrementally (flows/pipeline.py).

    Returns the summary (also logged, written beside the snapshot and published as the
    `ingest-summary` artifact). With `distributed`, parsing fans out through the flow's
    task runner, else through local processes. `prices` is a CSV overriding the shipped
    model prices (`flows/store/prices.py`); the key metric views are published as table
    artifacts too (`flows/artifacts.py`). `redact` (`content`, `hash`, `none`) and
    `redact_fields` (comma-separated `table.column` names) redact content before
    anything is written (docs/redaction.md, "Redaction"); None goes on as the warehouse was built.
    """
    settings = Settings.from_env(
        warehouse=warehouse_dir, workers=workers,
        chunk_bytes=chunk_mb * 1024 * 1024 if chunk_mb else None, prices=prices,
    ).resolved()
    steps = replace(TASKS, parse=parse_distributed) if distributed else TASKS
    summary = pipeline.run(paths, settings, steps, get_run_logger(), full_refresh, wait,
                           redact, redact_fields)
    # published: the command may have its answer now; the artifacts below only read
    progress.answered({**summary, "orchestration": "prefect"})
    create_markdown_artifact(key="ingest-summary", markdown=summary_markdown(summary),
                             description="steplens ingest accounting")
    if not summary["no_op"] or prices:  # otherwise the published tables are still current
        publish_report_artifacts(str(settings.duckdb_path))
    summary["orchestration"] = "prefect"
    return summary
