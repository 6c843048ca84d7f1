"""Every path, file name and environment variable of steplens, and the one settings object.

A leaf module: it imports nothing from steplens, so anything may import it. Defaults
work from the repository root with no configuration; every `Settings` field can be
overridden by an environment variable `STEPLENS_<FIELD>` (for example
`STEPLENS_WAREHOUSE=/srv/steplens`), and CLI flags override both.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

# ---- environment variables ----------------------------------------------------------------
ENV_PREFIX = "STEPLENS_"  # STEPLENS_<FIELD> overrides a Settings field
ENV_CACHE = "STEPLENS_CACHE"  # where local mirrors of remote warehouses live
ENV_FAULT = "STEPLENS_FAULT"  # crash-test fault points (flows/faults.py)
# The warm ingest runner's secret, given to it at start (flows/orchestration/)
ENV_RUNNER_TOKEN = "STEPLENS_RUNNER_TOKEN"
# The key of `--redact hash` (flows/store/redaction.py); else one generated per warehouse
# and kept under $STEPLENS_CACHE/keys, outside the warehouse users share.
ENV_REDACT_KEY = "STEPLENS_REDACT_KEY"
# OpenTelemetry's own variables, read by `steplens export otlp` (flows/export/)
ENV_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"  # key=value,... sent to the collector
ENV_OTLP_TRACES_HEADERS = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"  # the same, traces only
ENV_OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"  # the exported resource's service.name

# ---- inputs ---------------------------------------------------------------------------------
INPUT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz",
                  ".sse", ".sse.gz", ".txt")

# Below this much input, starting parse worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024
# How `steplens ingest` runs a batch (flows/orchestration/launch.py; docs/operations.md,
# "Prefect or direct"):
# "prefect" (the default) as a flow run, "direct" without Prefect.
ORCHESTRATIONS = ("prefect", "direct")

# ---- the warehouse directory (docs/operations.md, "Warehouse layout") -----------------
DEFAULT_WAREHOUSE = Path("data/warehouse")
DUCKDB_FILE = "steplens.duckdb"  # views and macros over the snapshot in use, replaced whole
# The truth about which snapshot is in use: a small JSON file (snapshot id, digest of its
# inventory, when it was published) replaced atomically (flows/store/snapshots.py). Not
# `CURRENT`: that would be the same name as `current` on a case-insensitive filesystem.
POINTER = "HEAD"
CURRENT = "current"  # symlink to the snapshot in use, for humans (read only to migrate to HEAD)
INVENTORIES = "inventories"  # inventories/<id>.json: second copy of each snapshot's inventory
SNAPSHOTS = "snapshots"  # snapshots/<id>/<table>/<partition>/part-0.parquet
MANIFEST = "manifest.json"  # inside a snapshot: files ingested, record segments
SUMMARY = "summary.json"  # inside a snapshot: the ingest that made it
INVENTORY = "inventory.json"  # inside a snapshot: every file's size and rows (integrity)
RECORDS = "records"  # records/<segment>/<frame>.parquet: parsed records
STAGING = ".staging"  # rows being rebuilt, only during an ingest
LOCK = ".ingest.lock"  # one ingest at a time (an OS file lock)
PRICES_COPY = "prices.csv"  # the user's price overrides, remembered
CURRENT_OBJECT = "CURRENT"  # on object storage: names the current snapshot

# ---- package data (read with importlib.resources) -------------------------------------------
PRICES_PACKAGE, PRICES_RESOURCE = "steplens.data", "prices.csv"
TOOL_PRICES_RESOURCE = "tool_prices.csv"  # built-in tool prices, beside the model prices
SQL_PACKAGE, SQL_FOLDER = "steplens.transforms", "sql"


def cache_dir() -> Path:
    """Where local mirrors of remote warehouses live: `$STEPLENS_CACHE`, else
    `~/.cache/steplens`."""
    return Path(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "steplens")


def mirror_dir(url: str, cache: Path | None = None) -> Path:
    """The local directory mirroring the remote warehouse at `url`."""
    base = cache or cache_dir()
    return (base / "warehouses" / hashlib.sha256(url.encode()).hexdigest()[:16]).resolve()


def redact_key_path(warehouse: Path, cache: Path | None = None) -> Path:
    """Where the generated `--redact hash` key of the warehouse at `warehouse` is kept."""
    base = cache or cache_dir()
    name = hashlib.sha256(str(warehouse.expanduser().resolve()).encode()).hexdigest()[:16]
    return base / "keys" / f"{name}.key"


@dataclass(frozen=True)
class Settings:
    """Where the warehouse lives and how ingestion runs."""

    warehouse: Path = DEFAULT_WAREHOUSE
    # Parallel parse processes; 0 means one per CPU core.
    workers: int = 0
    # Large files are split into chunks of about this many bytes, parsed in parallel.
    chunk_bytes: int = 32 * 1024 * 1024
    # Snapshots of the tables kept for readers still holding an older one: at least this
    # many of the newest (never fewer than 2)...
    keep_snapshots: int = 2
    # ...and every snapshot superseded less than this many seconds ago (Delta's VACUUM
    # retention; STEPLENS_SNAPSHOT_RETENTION_SECONDS). A reader (a `steplens.duckdb`
    # connection, `steplens sql`) binds one snapshot when it opens; its files stay this
    # long after a newer one is published. One day: a notebook left open over a working
    # day keeps answering, and a daily ingest keeps about two snapshots on disk (only the
    # partitions an ingest rewrites take new space; the others are hard links).
    snapshot_retention_seconds: int = 24 * 3600
    # Table partitions: "month" (default: few files, fast scans) or "day".
    partition: str = "month"
    # A CSV of model prices overriding the shipped table model by model
    # (flows/store/prices.py); remembered in the warehouse as prices.csv once given.
    prices: Path | None = None
    # "prefect" or "direct" (ORCHESTRATIONS above); STEPLENS_ORCHESTRATION.
    orchestration: str = "prefect"
    # A warehouse on object storage (`s3://bucket/prefix`): `warehouse` is then its local
    # mirror (flows/store/remote.py), under $STEPLENS_CACHE (default ~/.cache/steplens).
    remote: str | None = None

    @property
    def destination(self) -> str:
        """What flows are given as the warehouse: the remote URL, or the local directory."""
        return self.remote or str(self.warehouse)

    @property
    def duckdb_path(self) -> Path:
        return self.warehouse / DUCKDB_FILE

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then `STEPLENS_*` environment variables, then non-None overrides."""
        values: dict[str, object] = {}
        for f in fields(cls):
            env = os.environ.get(f"{ENV_PREFIX}{f.name.upper()}")
            if env is not None and env != "" and f.name != "remote":
                values[f.name] = (env if f.name in ("warehouse", "prices")
                                  else env if f.type in ("str", str) else int(env))
        values.update({k: v for k, v in overrides.items() if v is not None})
        remote = None
        warehouse = values.pop("warehouse", None)
        if warehouse is not None and "://" in str(warehouse):
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
