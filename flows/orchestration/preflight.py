"""What an ingest has to do, decided before Prefect starts.

Everything here is cheap (listing files, one `stat` each, reading the manifest, opening
`steplens.duckdb` read-only) and writes nothing, so the mistakes a user makes (a
missing path, a folder with no input files, an unreadable file, a damaged warehouse, a
warehouse another ingest holds) are reported in a fraction of a second with nothing
created, and an ingest with nothing to do (every file unchanged, views current) returns
at once without starting Prefect: no flow run, no server, no artifact, since nothing
changed.

The plan is `pipeline.plan_batch`, the one the ingest makes under the warehouse lock
(`pipeline.run`): the ingest plans again there, since another ingest may have published
a snapshot in between; this is only the early answer.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from steplens.flows.pipeline import Batch, discover_inputs, has_leftovers, plan_batch
from steplens.flows.settings import LOCK, Settings
from steplens.flows.store import snapshots


@dataclass
class Preflight:
    """The early answer: the inputs, and whether there is anything to do."""

    settings: Settings
    files: list[str]
    batch: Batch | None = None  # None: a remote warehouse (pulled by the ingest first)
    last_summary: dict | None = None
    views_current: bool = False
    leftovers: bool = False  # a killed ingest's files: the ingest runs to remove them
    seconds: float = 0.0

    @property
    def no_op(self) -> bool:
        """Nothing to read and nothing to rebuild: the last summary still holds."""
        return (self.batch is not None and self.batch.unchanged and self.views_current
                and not self.leftovers and self.last_summary is not None
                and "tables" in self.last_summary and "skipped_by_shape" in self.last_summary)

    def summary(self) -> dict:
        """The summary a no-op prints: the warehouse totals of the last ingest."""
        last = dict(self.last_summary or {})
        actions = Counter(p.action for p in (self.batch.plans if self.batch else []))
        last.update({
            "files": len(self.files), "files_new": 0, "files_appended": 0,
            "files_replaced": 0, "files_unchanged": actions["unchanged"],
            "batch": {"lines_read": 0, "bytes_read": 0, "records_read": 0, "rejected": 0,
                      "skipped": 0, "step_ids_recomputed": 0, "run_ids_recomputed": 0},
            "seconds": round(self.seconds, 3), "mb_per_s": 0.0, "no_op": True,
        })
        return last


def preflight(paths: list[str], settings: Settings, full_refresh: bool = False,
              redact: str | None = None, redact_fields: str | None = None,
              wait: bool = False) -> Preflight:
    """Inputs found and readable, no other ingest running (unless `wait`), the
    redaction asked for consistent with the warehouse's, the warehouse whole, and the
    plan of the batch."""
    started = time.perf_counter()
    root = settings.warehouse
    pre = Preflight(settings, discover_inputs(paths, root))
    if settings.remote:
        return pre  # a remote warehouse is pulled first
    if not wait and (root / LOCK).exists():
        with snapshots.ingest_lock(root):  # held elsewhere: `IngestRunning`, said at once
            pass
    pre.batch = plan_batch(root, pre.files, full_refresh, redact, redact_fields)
    if pre.batch.unchanged:
        from steplens.flows.store import views

        pre.views_current = views.is_current(root, settings.prices)
        pre.leftovers = has_leftovers(root, pre.batch.manifest)
        pre.last_summary = snapshots.read_json(pre.batch.prev, snapshots.SUMMARY)
    pre.seconds = time.perf_counter() - started
    return pre
