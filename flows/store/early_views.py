"""`steplens.duckdb` defined while an ingest parses, for a warehouse with none to re-pin.

Publishing a snapshot needs a `steplens.duckdb` pinned to it (flows/store/views.py). A
warehouse whose file can be re-pinned (made by this steplens, for this root and these
prices) gets a copy in about 0.15 s; any other, a new warehouse first of all, has to
define its ~100 views, which binds each one: about 1 s on an idle machine, 1.7 s beside
the rest of an ingest, all of it between the last row written and the answer. The
views depend on the tables' schemas, never on their rows, so they can be bound before
the rows exist: to a snapshot holding every table with no rows
(`snapshots.write_schema_only`, the very files an empty table gets in a real
snapshot), in a thread started when the ingest knows it will publish. At publish
`views.prepare_duckdb` moves the file beside `steplens.duckdb` and pins it to the new
snapshot, as it does a re-pinned copy.

The work stays inside the warehouse (`.views-early/`) and inside the ingest lock: the
thread is joined before the lock is released, and its folder removed then (or, after a
kill, by the next ingest). A define that fails here leaves `prepare_duckdb` to define
the file itself, where the same error is raised.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from steplens.flows.settings import DUCKDB_FILE
from steplens.flows.store import prices, snapshots, views

EARLY = ".views-early"


def needed(root: Path, prices_file: Path | None) -> bool:
    """Whether a publish in `root` would define the views anew (no file to re-pin)."""
    return not views.reusable(root, views.file_version(prices.price_table(root, prices_file)))


class EarlyViews:
    """A thread defining `steplens.duckdb` over a schema-only snapshot; `take` waits for
    it. Use as a context manager: leaving it joins the thread and removes its folder."""

    def __init__(self, root: Path, prices_file: Path | None) -> None:
        self.root = root
        self.prices_file = prices_file
        self.folder = root / EARLY
        self.made: tuple[str, Path] | None = None
        self.thread = threading.Thread(target=self._define, name="steplens-early-views",
                                       daemon=True)

    def __enter__(self) -> EarlyViews:
        shutil.rmtree(self.folder, ignore_errors=True)  # a killed ingest's
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _define(self) -> None:
        try:
            schema_only = self.folder / "snapshot"
            snapshots.write_schema_only(schema_only)
            price_table = prices.price_table(self.root, self.prices_file)
            version = views.file_version(price_table)
            path = self.folder / DUCKDB_FILE
            views.define_file(path, self.root, price_table, version, schema_only)
            self.made = (version, path)
        except Exception:  # noqa: BLE001 - prepare_duckdb defines it and raises there
            self.made = None

    def take(self, version: str) -> Path | None:
        """The file, once defined, if made for `version` (the prices may have changed
        since it started); None otherwise."""
        self.thread.join()
        if self.made is None or self.made[0] != version:
            return None
        return self.made[1]
