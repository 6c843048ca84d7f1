"""`steplens export otlp` throughput and memory, against DuckDB writing the same rows.

On a synthetic warehouse (bench_ingest.build_synthetic_warehouse: N million steps, a run
per three steps, about 0.6 tool calls per step), each measured as its own process, end
to end (start to exit), with the peak memory (PSS) of its process tree:

1. `duckdb_jsonl`: the baseline. DuckDB alone runs the export's span query
   (`otel_spans`, the same joins, sort and columns) and writes it as JSON lines with its
   native writer: the floor for anything that reads these rows.
2. `export_file`: `steplens export otlp OUT.jsonl` (OTLP messages, protobuf's JSON).
3. `export_endpoint`: `steplens export otlp --endpoint URL` to a receiver in another
   process on 127.0.0.1 that reads and discards each request (binary protobuf).

The last line printed is
`spans=N file_spans_per_s=X endpoint_spans_per_s=Y ratio_file_vs_duckdb=R peak_pss_mb=M`.

    .venv/bin/python benchmarks/bench_export.py --steps-millions 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import TreeSampler, build_synthetic_warehouse  # noqa: E402

BIN = Path(sys.executable).parent

DUCKDB_BASELINE = """
import sys
from pathlib import Path
from steplens.flows.store import views
con = views.open_readonly(Path(sys.argv[1]))
con.execute("set memory_limit = '1GB'")
con.execute(f"copy (from otel_spans(null, false, false)) to '{sys.argv[2]}' (format json)")
"""

RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def measure(name: str, argv: list[str]) -> dict:
    """Run `argv`; wall and CPU seconds, and the peak of its process tree's summed PSS
    (proportional set size: pages shared between processes are not counted twice, as
    summed RSS would while a worker is being spawned) and RSS."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{name} failed: {err.decode()[-2000:]}")
    return {"name": name, "seconds": round(seconds, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_pss_mb": round(sampler.peak_pss / 2**20),
            "peak_rss_mb": round(sampler.peak_rss / 2**20), "loadavg_before": load}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-millions", type=float, default=1.0)
    parser.add_argument("--warehouse", type=Path, help="reuse (or build into) this directory")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-export-"))
    wh = args.warehouse or tmp / "wh"
    if not (wh / "current").exists():
        wh.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        counts = build_synthetic_warehouse(wh, int(args.steps_millions * 1_000_000))
        print(f"built {counts} in {time.perf_counter() - t:.1f} s", flush=True)
    steplens = str(BIN / "steplens")
    results = [measure("duckdb_jsonl", [sys.executable, "-c", DUCKDB_BASELINE, str(wh),
                                        str(tmp / "duckdb.jsonl")])]
    results.append(measure("export_file", [steplens, "export", "otlp", str(tmp / "out.jsonl"),
                                           "-w", str(wh)]))
    with open(tmp / "duckdb.jsonl", "rb") as f:  # one line per span
        spans = sum(1 for _ in f)
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE,
                                text=True)
    try:
        port = receiver.stdout.readline().strip()
        results.append(measure("export_endpoint", [
            steplens, "export", "otlp", "-w", str(wh),
            "--endpoint", f"http://127.0.0.1:{port}/v1/traces", "--no-check-stored"]))
    finally:
        receiver.terminate()
        receiver.wait()
    sizes = {"duckdb_jsonl": tmp / "duckdb.jsonl", "export_file": tmp / "out.jsonl"}
    print(f"{'':16} {'seconds':>8} {'CPU s':>7} {'spans/s':>9} {'MB out':>7} "
          f"{'peak PSS MB':>12} {'peak RSS MB':>12} {'load':>5}")
    for r in results:
        r["spans_per_s"] = round(spans / r["seconds"])
        size = sizes.get(r["name"])
        r["mb_out"] = round(size.stat().st_size / 2**20) if size else None
        print(f"{r['name']:16} {r['seconds']:>8} {r['cpu_s']:>7} {r['spans_per_s']:>9} "
              f"{r['mb_out'] if r['mb_out'] is not None else '':>7} {r['peak_pss_mb']:>12} "
              f"{r['peak_rss_mb']:>12} {r['loadavg_before']:>5.1f}")
    by = {r["name"]: r for r in results}
    if args.json:
        args.json.write_text(json.dumps({"spans": spans, "results": results}, indent=2))
    for f in sizes.values():
        f.unlink(missing_ok=True)
    ratio = by["duckdb_jsonl"]["seconds"] / by["export_file"]["seconds"]
    print(f"spans={spans} file_spans_per_s={by['export_file']['spans_per_s']} "
          f"endpoint_spans_per_s={by['export_endpoint']['spans_per_s']} "
          f"ratio_file_vs_duckdb={ratio:.3f} "
          f"peak_pss_mb={max(r['peak_pss_mb'] for r in results[1:])}")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
