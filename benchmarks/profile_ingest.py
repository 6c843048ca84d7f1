"""Where a steplens ingest spends its time: cProfile over one flow run, by phase.

Two modes. cProfile (the default): with `--workers 1` parsing runs in this process, so
one deterministic profile covers
every phase: Prefect, discovery and planning, parsing (msgspec fast path, careful
fallback, building the record frames), record segment writes, the records reload, the
Polars table build, partition writes, the DuckDB view build, the warehouse totals and
the artifacts.

    /work/venv/bin/python benchmarks/profile_ingest.py --size-mb 150
    /work/venv/bin/python benchmarks/profile_ingest.py --data DIR --top 30 --out ingest.prof

Times are wall-clock (cProfile's default timer) of the calling thread: Polars and DuckDB
work on their own threads is attributed to the Python call that waits for it; cProfile's
own overhead inflates pure-Python code (the parser) about twofold.

`--py-spy` samples instead (py-spy, `pip install py-spy`), the real configuration
(`--workers 2` by default then) and every process: the ingest process, its spawned parse
workers and Prefect's temporary server. Each sample of a busy thread is charged to the
innermost steplens phase on its stack:

    /work/venv/bin/python benchmarks/profile_ingest.py --py-spy --data DIR
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# (label, file suffix, function name): cumulative time of that function. Indented labels
# are parts of the phase above them.
PHASES = [
    ("flow body (discover .. artifacts)", "flows/ingest.py", "ingest"),
    ("discover files", "flows/pipeline.py", "discover_inputs"),
    ("plan (manifest compare)", "flows/store/manifest.py", "plan"),
    ("split files at newlines, count lines", "flows/store/manifest.py", "file_reads"),
    ("parse task (wall; with --workers > 1 the workers' time)", "flows/pipeline.py", "parse_units"),
    ("  parse units in this process (all)", "flows/store/records.py", "parse_unit"),
    ("  reading blocks of lines (inputs._pieces: read, gunzip)", "flows/io/inputs.py",
     "_pieces"),
    ("  SSE blocks (transforms.sse.sse_events)", "transforms/sse.py", "sse_events"),
    ("  batch checks: UTF-8, infinite numbers, nesting (fast.suspects)",
     "transforms/assistants/fast.py", "suspects"),
    ("  fast path: msgspec decode, dispatch, columns (fast.FastPath.lines)",
     "transforms/assistants/fast.py", "lines"),
    ("    msgspec decode of a batch (fast._decode_all)", "transforms/assistants/fast.py",
     "_decode_all"),
    ("    dispatch by shape (fast.FastPath._take)", "transforms/assistants/fast.py", "_take"),
    ("    columns -> Polars frames (fast.FastPath._result)", "transforms/assistants/fast.py",
     "_result"),
    ("  fast path over SSE blocks (fast.FastPath.events)", "transforms/assistants/fast.py",
     "events"),
    ("  careful SSE block (_Decoder.event)", "transforms/parse.py", "event"),
    ("  careful path for declined lines (orjson + rulebook)", "transforms/parse.py",
     "_careful_line"),
    ("  careful rows -> Polars frames (fast.Columns.frame)", "transforms/assistants/fast.py",
     "frame"),
    ("  shift line numbers of split chunks", "transforms/parse.py", "shift_lines"),
    ("  concat chunk batches", "transforms/parse.py", "concat"),
    ("  record segment writes (write_segment)", "flows/store/records.py", "write_segment"),
    ("update manifest (ids of new records, fingerprints)", "flows/store/manifest.py",
     "after_batch"),
    ("  records.keys (scan segments for ids)", "flows/store/records.py", "keys"),
    ("rebuild (reload records, build tables)", "flows/store/rebuild.py", "rebuild_full"),
    ("  records reload (records.load)", "flows/store/records.py", "load"),
    ("  build_bucket (Polars)", "transforms/tables.py", "build_bucket"),
    ("    winners (ranking.winners: sort, contested ids)", "transforms/ranking.py", "winners"),
    ("  partition files of a full build (rebuild._PartitionFiles.flush)",
     "flows/store/rebuild.py", "flush"),
    ("rejects frame", "flows/store/records.py", "rejects"),
    ("publish snapshot (partition writes)", "flows/store/snapshots.py", "publish"),
    ("prune record segments", "flows/store/records.py", "prune"),
    ("DuckDB view build (build_views)", "flows/pipeline.py", "build_views"),
    ("warehouse totals (scan tables + segments)", "flows/store/summary.py",
     "warehouse_totals"),
    ("skipped by shape (scan segments)", "flows/store/summary.py", "skipped_by_shape"),
    ("ingest-summary artifact", "prefect/artifacts.py", "create_markdown_artifact"),
    ("report artifacts (metric views -> Prefect)", "flows/artifacts.py",
     "publish_report_artifacts"),
]


def cumulative(stats: pstats.Stats, suffix: str, name: str) -> float | None:
    total, found = 0.0, False
    for (file, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if func == name and (file == suffix or file.endswith(suffix)):
            total += ct
            found = True
    return total if found else None


# py-spy mode: coarse phases, by (label, frame text) markers; a sample goes to the
# innermost marker on its stack ("func (file:line)" frames, matched on "func (file").
SPY_MARKERS = [
    ("Prefect (flow/task engine, API client)", "(prefect/"),
    ("flow body, other", "ingest (flows/ingest.py"),
    ("flow body, other", "run (flows/pipeline.py"),
    ("discover + plan + split", "discover_inputs (flows/pipeline.py"),
    ("discover + plan + split", "file_reads (flows/store/manifest.py"),
    ("discover + plan + split", "plan (flows/store/manifest.py"),
    ("parse (read, decode, check, build frames)", "parse_unit (flows/store/records.py"),
    ("parse: record segment writes", "write_segment (flows/store/records.py"),
    ("update manifest (ids, fingerprints)", "after_batch (flows/store/manifest.py"),
    ("rebuild: records reload", "load (flows/store/records.py"),
    ("rebuild: Polars build (runs, steps, calls)", "build_bucket (transforms/tables.py"),
    ("rebuild: Polars build (runs, steps, calls)", "_steps_of_runs (flows/store/rebuild.py"),
    ("rejects frame", "rejects (flows/store/records.py"),
    ("partition writes (publish)", "publish (flows/store/snapshots.py"),
    ("prune", "prune (flows/store/records.py"),
    ("DuckDB view build", "build_views (flows/pipeline.py"),
    ("warehouse totals + skipped by shape", "warehouse_totals (flows/store/summary.py"),
    ("warehouse totals + skipped by shape", "skipped_by_shape (flows/store/summary.py"),
    ("report artifacts", "publish_report_artifacts (flows/artifacts.py"),
    ("Prefect temporary server start (waiting)", "start (prefect/server/api/server.py"),
    ("imports", "_find_and_load (<frozen importlib._bootstrap>"),
]
OWN_CODE = ("(flows/", "(transforms/")


def _kind(procs: list[str], stack: str) -> str:
    if "uvicorn" in procs[-1]:
        return "Prefect server"
    if len(procs) > 1 and "spawn_main" in stack:
        return "parse worker"
    return "ingest process" if len(procs) == 1 else "other child"


def spy_summary(raw: Path, rate: int) -> tuple[list[tuple[str, str, float]],
                                               list[tuple[str, float]]]:
    """From py-spy's raw (collapsed) output: seconds of busy samples per (process kind,
    coarse phase), and per innermost steplens function (library time below it included).
    """
    from collections import Counter

    phases: Counter[tuple[str, str]] = Counter()
    own: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or not stack.startswith("process "):
            continue
        frames = stack.split(";")
        procs = [f for f in frames if f.startswith("process ")]
        frames = frames[len(procs):]
        phase, inner = "other", None
        for frame in frames:
            for label, marker in SPY_MARKERS:
                if marker in frame:
                    phase = label
            if any(m in frame for m in OWN_CODE):
                inner = frame.rsplit(":", 1)[0] + ")"
        phases[(_kind(procs, stack), phase)] += int(n)
        if inner:
            own[inner] += int(n)
    return (sorted(((k, p, c / rate) for (k, p), c in phases.items()),
                   key=lambda r: (r[0], -r[2])),
            [(f, c / rate) for f, c in own.most_common()])


def warm_up_prefect() -> None:
    """A first flow on a fresh PREFECT_HOME pays the database migrations: not the ingest's."""
    subprocess.run([sys.executable, "-c", "from prefect import flow\n"
                    "@flow(name='warm-up')\ndef warm(): return 1\nwarm()"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_py_spy(args: argparse.Namespace, data: Path, work: Path) -> int:
    raw = work / "py-spy.txt"
    rate = 100
    cmd = [shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record",
           "--subprocesses", "--rate", str(rate), "--format", "raw", "-o", str(raw), "--",
           sys.executable, str(Path(__file__).resolve()), "--child", "--data", str(data),
           "--workers", str(args.workers), "--warehouse", str(work / "warehouse")]
    warm_up_prefect()
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    rows, own = spy_summary(raw, rate)
    if args.out:
        shutil.copy(raw, args.out)
    print(f"py-spy, workers={args.workers}: {wall:.1f} s wall under the sampler; busy-thread "
          f"samples at {rate}/s, per process kind and innermost steplens phase:")
    print(f"\n{'process':15} {'phase':45} {'cpu s':>7}")
    for kind, phase, sec in rows:
        if sec >= 0.05:
            print(f"{kind:15} {phase:45} {sec:7.2f}")
    for kind in sorted({r[0] for r in rows}):
        print(f"{kind:15} {'TOTAL':45} {sum(r[2] for r in rows if r[0] == kind):7.2f}")
    print(f"\ntop {args.top} steplens functions (innermost steplens frame of each sample; "
          "the library and C time below it included), all processes:")
    for func, sec in own[:args.top]:
        print(f"{sec:8.2f}  {func}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="export to ingest (else one is generated)")
    parser.add_argument("--size-mb", type=float, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None,
                        help="parse processes (default 1 for cProfile, 2 for --py-spy)")
    parser.add_argument("--py-spy", action="store_true", help="sample with py-spy instead")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--top", type=int, default=25, help="hotspots to list")
    parser.add_argument("--out", type=Path, help="save the raw profile (pstats file)")
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = 2 if args.py_spy else 1
    if args.child:  # the process py-spy samples: just the ingest
        sys.path.insert(0, str(REPO))
        from steplens.flows.ingest import ingest

        ingest(paths=[str(args.data)], warehouse_dir=str(args.warehouse), workers=args.workers)
        return 0

    work = Path(tempfile.mkdtemp(prefix="steplens-profile-"))
    os.environ.update({"PREFECT_HOME": str(work / "prefect-home"),
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                       "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
                       "PREFECT_LOGGING_LEVEL": "WARNING"})
    sys.path.insert(0, str(REPO))
    try:
        data = args.data
        if data is None:
            from tests.support.generate import generate_export

            data = work / "export"
            generate_export(data, seed=args.seed, target_bytes=int(args.size_mb * 1024 * 1024))
        size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
        if args.py_spy:
            return run_py_spy(args, data, work)
        warm_up_prefect()
        t = time.perf_counter()
        from steplens.flows.ingest import ingest

        imported = time.perf_counter() - t
        profiler = cProfile.Profile()
        t = time.perf_counter()
        profiler.enable()
        summary = ingest(paths=[str(data)], warehouse_dir=str(work / "warehouse"),
                         workers=args.workers)
        profiler.disable()
        wall = time.perf_counter() - t
        if args.out:
            profiler.dump_stats(args.out)
        stats = pstats.Stats(profiler)
        body = cumulative(stats, "flows/ingest.py", "ingest") or 0.0
        print(f"ingest of {size / 2**20:,.1f} MiB, workers={args.workers}: import "
              f"flows.ingest {imported:.2f} s, flow call {wall:.2f} s "
              f"(summary 'seconds' {summary['seconds']}); steps {summary['tables']['steps']:,}")
        print(f"\n{'phase':58} {'seconds':>8} {'% call':>7}")
        print(f"{'flow call (Prefect run + flow body)':58} {wall:8.2f} {100:6.1f}%")
        print(f"{'Prefect: server start, flow/task runs (call - body)':58} "
              f"{wall - body:8.2f} {100 * (wall - body) / wall:6.1f}%")
        server = cumulative(stats, "prefect/server/api/server.py", "start")
        if server is not None:
            print(f"{'  of which: temporary API server start (waits for health)':58} "
                  f"{server:8.2f} {100 * server / wall:6.1f}%")
        for label, suffix, name in PHASES:
            v = cumulative(stats, suffix, name)
            if v is not None:
                print(f"{label:58} {v:8.2f} {100 * v / wall:6.1f}%")
        print(f"\ntop {args.top} functions by own time (tottime):")
        stats.sort_stats("tottime").print_stats(args.top)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
