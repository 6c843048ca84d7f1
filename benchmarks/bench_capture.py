"""What `steplens.capture` costs an application: latency of a call, CPU on a stream.

Through the real openai SDK client, against an API served by another process on
127.0.0.1 (real sockets, httpx's own transport), each figure with the baseline measured
in the same run (the same client without the capture), interleaved (call by call;
streams in alternating blocks) so that load on the machine hits both alike:

1. `call`: p50 / p90 latency of a non-streamed `responses.create` (a recorded response
   body of ~4 kB), without and with the capture; the overhead is their difference
   (target: under 1 ms at p50). Also measured without sockets (httpx.MockTransport),
   where nothing but the capture's own path differs.
2. `stream`: process CPU time (every thread: the capture's writer included) to read
   streamed responses through the SDK (recorded streams: a long one of 136 kB and a
   short one of 6.5 kB),
   without and with the capture; the share is the extra CPU over the baseline's
   (target: under 5 %). The capture writes gzip files as it would in production.

The last line printed is `call_p50_ms_plain=.. call_p50_ms_capture=.. overhead_ms=..
mock_overhead_ms=.. stream_cpu_share_long=.. stream_cpu_share_short=..`.

    .venv/bin/python benchmarks/bench_capture.py --calls 1000 --streams 40
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai

from steplens.capture import Transport

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "real-responses"
BODY = (DATA / "openai-dotnet-functioncallworks" / "responses.jsonl").read_bytes().splitlines()[0]
# a long stream (code interpreter, 136 kB) and a short one (a text answer, 6.5 kB)
STREAMS = {"long": (DATA / "openai-dotnet-codeinterpretertoolstreaming" / "stream.sse"),
           "short": (DATA / "openai-dotnet-streamingresponses" / "stream.sse")}

SERVER = """
import socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
body = open(sys.argv[1], "rb").read()
streams = {n: open(p, "rb").read() for n, p in zip(("long", "short"), sys.argv[2:])}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_POST(self):
        req = self.rfile.read(int(self.headers["content-length"]))
        stream = b'"stream":true' in req.replace(b" ", b"")
        data = streams[b"short" in req and "short" or "long"] if stream else body
        self.send_response(200)
        self.send_header("content-type", "text/event-stream" if stream else "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if stream:  # as a stream arrives: in pieces, each sent on its own
            for i in range(0, len(data), 1024):
                self.wfile.write(data[i:i + 1024])
                self.wfile.flush()
        else:
            self.wfile.write(data)
    def log_message(self, *a):
        pass
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def client(base_url: str, transport: httpx.BaseTransport) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-bench", base_url=base_url, max_retries=0,
                         http_client=httpx.Client(transport=transport))


def latencies(clients: list[openai.OpenAI], n: int) -> list[list[float]]:
    """`n` calls on each client, interleaved call by call (the order alternating), so
    that the machine's load falls on every side alike."""
    out: list[list[float]] = [[] for _ in clients]
    for i in range(n):
        order = range(len(clients)) if i % 2 == 0 else reversed(range(len(clients)))
        for k in order:
            t = time.perf_counter()
            clients[k].responses.create(model="gpt-4o", input=f"call {i}")
            out[k].append(time.perf_counter() - t)
    return out


def stream_cpu(c: openai.OpenAI, n: int, which: str) -> float:
    cpu = time.process_time()
    for _ in range(n):
        for _event in c.responses.create(model="gpt-4o", input=which, stream=True):
            pass
    return time.process_time() - cpu


def ms(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1000, help="non-streamed calls per side")
    ap.add_argument("--streams", type=int, default=40, help="streams per side")
    ap.add_argument("--blocks", type=int, default=5, help="alternating stream blocks")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-capture-"))
    (tmp / "body.json").write_bytes(BODY)
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp / "body.json"),
                               str(STREAMS["long"]), str(STREAMS["short"])],
                              stdout=subprocess.PIPE)
    try:
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/v1"
        plain = client(url, httpx.HTTPTransport())
        recorder = Transport(tmp / "capture")
        captured = client(url, recorder)
        mock = httpx.MockTransport(lambda r: httpx.Response(
            200, content=BODY, headers={"content-type": "application/json"}))
        mock_plain = client(url, mock)
        mock_captured = client(url, Transport(tmp / "capture-mock", inner=mock))
        latencies([plain, captured, mock_plain, mock_captured], 20)  # warm up
        got = latencies([plain, captured, mock_plain, mock_captured], args.calls)
        lat = dict(zip(("plain", "capture", "mock_plain", "mock_capture"), got, strict=True))
        for name, values in lat.items():
            print(f"call {name:13s} n={len(values)} p50={ms(values, .5):.3f} ms "
                  f"p90={ms(values, .9):.3f} ms")
        shares = {}
        each = max(1, args.streams // args.blocks)
        for which in STREAMS:
            stream_cpu(plain, 3, which)
            stream_cpu(captured, 3, which)
            cpu = {"plain": 0.0, "capture": 0.0}
            for _ in range(args.blocks):
                cpu["plain"] += stream_cpu(plain, each, which)
                cpu["capture"] += stream_cpu(captured, each, which)
            recorder.flush()  # what is queued is written: its CPU is counted
            n = each * args.blocks
            shares[which] = (cpu["capture"] - cpu["plain"]) / cpu["plain"]
            print(f"stream {which} n={n} of {STREAMS[which].stat().st_size} bytes: cpu plain "
                  f"{cpu['plain']:.3f} s, capture {cpu['capture']:.3f} s, per stream "
                  f"{cpu['plain'] / n * 1e3:.2f} / {cpu['capture'] / n * 1e3:.2f} ms, "
                  f"extra CPU {shares[which] * 100:.1f} %")
        captured.close()
        mock_captured.close()
        files = sorted((tmp / "capture").iterdir())
        print(f"capture wrote {len(files)} files, "
              f"{sum(p.stat().st_size for p in files) / 1e6:.2f} MB")
        p50p, p50c = ms(lat["plain"], .5), ms(lat["capture"], .5)
        m50p, m50c = ms(lat["mock_plain"], .5), ms(lat["mock_capture"], .5)
        print(f"call_p50_ms_plain={p50p:.3f} call_p50_ms_capture={p50c:.3f} "
              f"overhead_ms={p50c - p50p:.3f} mock_overhead_ms={m50c - m50p:.3f} "
              f"stream_cpu_share_long={shares['long']:.3f} "
              f"stream_cpu_share_short={shares['short']:.3f}")
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
