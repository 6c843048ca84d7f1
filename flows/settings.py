"""One settings object: paths and options, with defaults that work from the repo root.

Every field can be overridden by an environment variable `STEPLENS_<FIELD>` (for
example `STEPLENS_WAREHOUSE=/srv/steplens`), and CLI flags override both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

DEFAULT_WAREHOUSE = Path("data/warehouse")
INPUT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz",
                  ".sse", ".sse.gz", ".txt")


@dataclass(frozen=True)
class Settings:
    """Where the warehouse lives and how ingestion runs."""

    warehouse: Path = DEFAULT_WAREHOUSE
    # Parallel parse processes; 0 means one per CPU core.
    workers: int = 0
    # Large files are split into chunks of about this many bytes, parsed in parallel.
    chunk_bytes: int = 32 * 1024 * 1024
    # Snapshots of the tables kept for readers still holding an older one.
    keep_snapshots: int = 2
    # Table partitions: "month" (default: few files, fast scans) or "day".
    partition: str = "month"
    # A CSV of model prices overriding data/prices.csv model by model (flows/prices.py);
    # remembered in the warehouse as prices.csv once given.
    prices: Path | None = None
    # A warehouse on object storage (`s3://bucket/prefix`): `warehouse` is then its local
    # mirror (flows/remote.py), under $STEPLENS_CACHE (default ~/.cache/steplens).
    remote: str | None = None

    @property
    def duckdb_path(self) -> Path:
        return self.warehouse / "steplens.duckdb"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then `STEPLENS_*` environment variables, then non-None overrides."""
        values: dict[str, object] = {}
        for f in fields(cls):
            env = os.environ.get(f"STEPLENS_{f.name.upper()}")
            if env is not None and env != "" and f.name != "remote":
                values[f.name] = (env if f.name in ("warehouse", "prices")
                                  else env if f.type in ("str", str) else int(env))
        values.update({k: v for k, v in overrides.items() if v is not None})
        remote = None
        warehouse = values.pop("warehouse", None)
        if warehouse is not None and "://" in str(warehouse):
            from flows.remote import mirror_dir

            remote = str(warehouse).rstrip("/")
            warehouse = mirror_dir(remote)
        if warehouse is not None:
            values["warehouse"] = Path(warehouse)
        if values.get("prices") is not None:
            values["prices"] = Path(values["prices"])  # type: ignore[arg-type]
        return replace(cls(), **values, remote=remote)

    def resolved(self) -> Settings:
        """The same settings with an absolute warehouse path (views store absolute paths)."""
        return replace(self, warehouse=self.warehouse.expanduser().resolve())

    @property
    def parse_workers(self) -> int:
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)
