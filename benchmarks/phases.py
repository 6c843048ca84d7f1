"""Wall and CPU seconds of each phase of a full ingest, in the real configuration.

`profile_ingest.py` profiles one process (cProfile inflates Python code about twofold,
and with `--workers 1` the parse runs in that process); this script instead runs the
flow body's own steps in order, outside Prefect, with the real parse workers, and times
each with a wall clock and the CPU time of this process and its reaped children:

    /work/venv/bin/python benchmarks/phases.py --data /tmp/export-300 [--workers 2]

Phases: plan (discover, manifest compare, split points, line counts), parse (workers
decode and write record segments), manifest (ids of new records), rebuild (records
reload, Polars build of runs/steps/tool_calls/usage, staging writes), publish (partition
writes, rejects, manifest, snapshot swap), views (DuckDB file), totals (warehouse
accounting, skipped by shape). The share column is of their sum.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(data: Path, workers: int, warehouse: Path) -> list[tuple[str, float, float]]:
    from steplens.flows import pipeline
    from steplens.flows.settings import Settings
    from steplens.flows.store import records, snapshots, views
    from steplens.flows.store.manifest import (
        Manifest,
        after_batch,
        file_reads,
        plan,
        work_units,
    )
    from steplens.flows.store.rebuild import STAGING, rebuild_full
    from steplens.flows.store.summary import skipped_by_shape, warehouse_totals

    settings = Settings.from_env(warehouse=str(warehouse), workers=workers).resolved()
    root = settings.warehouse
    out: list[tuple[str, float, float]] = []
    mark = [time.perf_counter(), _cpu()]

    def lap(name: str) -> None:
        wall, cpu = time.perf_counter(), _cpu()
        out.append((name, wall - mark[0], cpu - mark[1]))
        mark[:] = [wall, cpu]

    with snapshots.ingest_lock(root):
        files = pipeline.discover_inputs([str(data)], root)
        manifest = Manifest()
        reads = file_reads(plan(files, manifest), settings.chunk_bytes)
        units = work_units(reads, settings.chunk_bytes)
        lap("plan")
        results = pipeline.parse_units(root, units, settings)
        lap("parse")
        manifest, _, _, _ = after_batch(root, manifest, reads, results, full=True)
        lap("manifest")
        changes = rebuild_full(root, manifest, settings.partition)
        lap("rebuild")
        snapshots.publish(root, changes, records.rejects(root, manifest.segments),
                          manifest.to_json(), {}, settings.partition, full=True,
                          keep=settings.keep_snapshots)
        records.prune(root, set(manifest.segments))
        shutil.rmtree(root / STAGING, ignore_errors=True)
        lap("publish")
        views.build_duckdb(settings.warehouse, settings.prices)
        lap("views")
        warehouse_totals(root, manifest)
        skipped_by_shape(root, manifest)
        lap("totals")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    work = Path(tempfile.mkdtemp(prefix="steplens-phases-"))
    try:
        phases = run(args.data, args.workers, work / "warehouse")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = sum(p[1] for p in phases)
    print(f"{'phase':10} {'wall s':>7} {'share':>6} {'cpu s':>7}")
    for name, wall, cpu in phases:
        print(f"{name:10} {wall:7.2f} {100 * wall / total:5.1f}% {cpu:7.2f}")
    print(f"{'total':10} {total:7.2f} {100.0:5.1f}% {sum(p[2] for p in phases):7.2f}")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest RSS: this process {own:.0f} MB, one parse worker {kids:.0f} MB; "
          f"load average {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps({n: {"wall_s": w, "cpu_s": c} for n, w, c in phases}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
