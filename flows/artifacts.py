"""Prefect artifacts of the key metric views, published at the end of each ingest.

They show up on the flow run's page in the Prefect UI (and `prefect artifact ls`), so a
scheduled ingest leaves the numbers where its operators already look. Keys are
lowercase letters, digits and dashes (Prefect refuses anything else).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from steplens.flows.errors import WarehouseLocked
from steplens.flows.report import sections as report
from steplens.flows.report.render import json_value
from steplens.flows.store import views

# (artifact key, section key in flows/page.py, description)
ARTIFACTS: tuple[tuple[str, str, str], ...] = (
    ("step-latency", "step_latency", "Latency of completed steps, seconds"),
    ("failure-rate", "failure_rate", "Terminal outcomes of steps"),
    ("run-failure-funnel", "run_failure_funnel", "How runs ended"),
    ("run-lifecycle", "run_lifecycle_stats", "Where a run's time goes (runs in a terminal state)"),
    ("tool-analytics", "tool_analytics", "Per tool type and function"),
    ("usage-cost", "usage_cost", "Tokens and USD at list prices"),
    ("unpriced-models", "unpriced_models", "Usage left out of cost: models without a price"),
    ("migration", "migration", "Assistants API vs Responses API, overall and per model"),
)
MAX_ROWS = 200
# DuckDB's default is 80% of RAM; inside an ingest the report queries get a fixed share,
# and a query that needs more is skipped with a warning (the ingest itself succeeded).
INGEST_MEMORY_LIMIT = "768MB"


def _cell(v: object) -> object:
    """A JSON value for the artifact table; floats rounded to keep the page readable."""
    v = json_value(v)
    return round(v, 6) if isinstance(v, float) else v


@task(cache_policy=NO_CACHE)
def publish_report_artifacts(duckdb_path: str) -> list[str]:
    """Publish the key views as table artifacts; a locked warehouse only logs a warning."""
    logger = get_run_logger()
    by_key = {s.key: s for s in report.SECTIONS}
    try:
        with views.connect(Path(duckdb_path), read_only=True,
                               memory_limit=INGEST_MEMORY_LIMIT) as con:
            con.execute("set preserve_insertion_order = false")
            tables = report.sections(con, [by_key[k] for _, k, _ in ARTIFACTS])
    except (WarehouseLocked, duckdb.Error) as e:
        logger.warning("report artifacts skipped: %s", str(e).splitlines()[0])
        return []
    published = []
    for key, section, description in ARTIFACTS:
        table = tables[section]
        rows = [{c: _cell(v) for c, v in r.items()} for r in table.records()[:MAX_ROWS]]
        create_table_artifact(key=key, table=rows or [{c: None for c in table.columns}],
                              description=description)
        published.append(key)
    return published
