"""What an ingest has to do, decided before Prefect starts.

Everything here is cheap (listing files, one `stat` each, reading the manifest, opening
`steplens.duckdb` read-only) and writes nothing, so the mistakes a user makes (a
missing path, a folder with no input files, an unreadable file, a damaged warehouse)
are reported in a fraction of a second with nothing created, and an ingest with nothing
to do (every file unchanged, views current) returns at once without starting Prefect:
no flow run, no server, no artifact, since nothing changed.

The flow (`flows/ingest.py`) makes the same decisions again under the warehouse lock;
this is only the early answer.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from steplens.flows.errors import InputError, NoInputFiles
from steplens.flows.io import storage
from steplens.flows.io.inputs import discover
from steplens.flows.settings import Settings
from steplens.flows.store import integrity, redaction, snapshots
from steplens.flows.store.manifest import FilePlan, Manifest, plan
from steplens.flows.store.redaction import resolve
from steplens.transforms.redact import Redaction

INPUT_KINDS = ".jsonl, .ndjson, .json, .jsonl.gz, .sse"


def input_files(paths: list[str], warehouse_root: Path | None = None) -> list[str]:
    """Every input file under `paths`; `InputError` when there is none.

    Files inside the warehouse itself (its manifest and summary are `.json`) are never
    inputs, even when a path given is a parent of the warehouse, such as `data/`.
    """
    files = discover(paths)
    if warehouse_root is not None:
        inside = str(warehouse_root.resolve()) + "/"
        files = [f for f in files if not f.startswith(inside)]
    if not files:
        raise NoInputFiles(f"no input files ({INPUT_KINDS}) under {', '.join(map(str, paths))}: "
                         "give the folder or files of your export")
    return files


def check_readable(files: list[str]) -> None:
    """`InputError` naming the first local file that cannot be opened for reading."""
    for name in files:
        if storage.is_url(name):
            continue  # object storage: checked when read
        try:
            with storage.open_binary(name) as f:  # non-blocking: a FIFO never hangs here
                f.read(1)
        except OSError as e:
            raise InputError(f"cannot read {name}: {e.strerror or e}; fix its permissions "
                             "or leave it out of the paths") from None


@dataclass
class Preflight:
    """The early answer: the inputs, and whether there is anything to do."""

    settings: Settings
    files: list[str]
    plans: list[FilePlan] = field(default_factory=list)
    prev: Path | None = None
    last_summary: dict | None = None
    views_current: bool = False
    seconds: float = 0.0
    redaction: Redaction | None = None  # None: decided by the flow (a remote warehouse)

    @property
    def no_op(self) -> bool:
        """Nothing to read and nothing to rebuild: the last summary still holds."""
        return (self.prev is not None and self.views_current and self.plans != []
                and all(p.action == "unchanged" and p.upgrade is None for p in self.plans)
                and self.last_summary is not None
                and "tables" in self.last_summary and "skipped_by_shape" in self.last_summary)

    def summary(self) -> dict:
        """The summary a no-op prints: the warehouse totals of the last ingest."""
        last = dict(self.last_summary or {})
        actions = Counter(p.action for p in self.plans)
        last.update({
            "files": len(self.files), "files_new": 0, "files_appended": 0,
            "files_replaced": 0, "files_unchanged": actions["unchanged"],
            "batch": {"lines_read": 0, "bytes_read": 0, "records_read": 0, "rejected": 0,
                      "skipped": 0, "step_ids_recomputed": 0, "run_ids_recomputed": 0},
            "seconds": round(self.seconds, 3), "mb_per_s": 0.0, "no_op": True,
        })
        return last


def preflight(paths: list[str], settings: Settings, full_refresh: bool = False,
              redact: str | None = None, redact_fields: str | None = None) -> Preflight:
    """Inputs found and readable, the redaction asked for consistent with the
    warehouse's, the warehouse whole, and the plan of the batch."""
    started = time.perf_counter()
    root = settings.warehouse
    files = input_files(paths, root)
    check_readable(files)
    pre = Preflight(settings, files)
    if settings.remote:
        return pre  # a remote warehouse is pulled first
    current = snapshots.current_snapshot(root)
    pre.redaction = resolve(redact, redact_fields, redaction.recorded(current, full_refresh),
                            full_refresh or current is None, root)
    pre.prev = None if full_refresh else current
    if pre.prev is None:  # a new warehouse, or a full refresh: every file is read
        return pre
    integrity.verify(root)
    manifest = Manifest.from_json(snapshots.read_json(pre.prev, snapshots.MANIFEST))
    pre.plans = plan(files, manifest)
    if all(p.action == "unchanged" for p in pre.plans):
        from steplens.flows.store import views

        pre.views_current = views.is_current(root, settings.prices)
        pre.last_summary = snapshots.read_json(pre.prev, snapshots.SUMMARY)
    pre.seconds = time.perf_counter() - started
    return pre
