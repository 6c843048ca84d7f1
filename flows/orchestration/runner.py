"""A warm ingest runner beside the standing Prefect server: flow runs without start-up.

Every ingest that does work is a Prefect flow run (docs/operations.md, "Prefect or direct"). In a
fresh `steplens ingest` process that costs Prefect's imports (about 3 s of CPU here)
before any work, even with a server left running. So `steplens server start` starts,
beside the Prefect server, this runner: one long-lived process with Prefect and
steplens already imported, listening on 127.0.0.1. `steplens ingest` (with the default
orchestration, no Dask) sends it the request and prints what comes back: the progress,
then the summary or the one-line error. The flow run, its tasks and artifacts are the
same as in-process (`flows/launch.run_ingest`, on the standing server's API); the
command itself imports neither Prefect nor Polars.

Ingests sent to one runner run one at a time, in arrival order: a second ingest of the
same warehouse waits for the first (as `--wait` does) instead of being refused. The
command sends its `STEPLENS_*` environment, absolute paths and its options; the runner
applies them for that ingest only. If the command goes away (Ctrl-C, a closed terminal)
the ingest it asked for still completes: it is a flow run on the server, like a
scheduled one. Protocol: `GET /health` answers the runner's version; `POST /ingest`
takes a JSON request and answers JSON lines (`progress`, then `summary` or `error` or
`bug`); the command's side is `flows/orchestration/runner_client.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import sys
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

from steplens.flows import progress
from steplens.flows.errors import SteplensError, describe_fault
from steplens.flows.orchestration import launch, server
from steplens.flows.orchestration.runner_client import steplens_version
from steplens.flows.settings import ENV_PREFIX, ENV_RUNNER_TOKEN, Settings


@contextlib.contextmanager
def request_environment(env: dict[str, str]) -> Iterator[None]:
    """The request's `STEPLENS_*` variables, and none of the runner's own, for a block."""
    saved = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    for key in saved:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
            del os.environ[key]
        os.environ.update(saved)


class Lines:
    """JSON lines to the command; if it has gone, the ingest goes on regardless."""

    def __init__(self, out) -> None:
        self.out = out
        self.gone = False
        self.summary_sent = False

    def send(self, message: dict) -> None:
        if self.gone:
            return
        try:
            self.out.write(json.dumps(message, default=str).encode() + b"\n")
            self.out.flush()
        except OSError:
            self.gone = True

    def start(self, total_files: int, total_bytes: int) -> None:
        self.send({"progress": ["start", total_files, total_bytes]})

    def advance(self, files: int, nbytes: int) -> None:
        self.send({"progress": ["advance", files, nbytes]})

    def answered(self, summary: dict) -> None:
        """The warehouse is published: the command gets its summary now and exits, while
        the flow run goes on to its report artifacts (about a second it would otherwise
        wait). If an artifact then fails, the flow run says so in the UI; the data the
        summary describes is published either way."""
        self.send({"summary": summary})
        self.summary_sent = True


def run_request(request: dict, lines: Lines, api_url: str) -> None:
    """One ingest, as `steplens ingest` would run it in-process, on the server's API."""
    try:
        with request_environment(request.get("env", {})), progress.reporting(lines):
            settings = Settings.from_env(warehouse=request["warehouse"],
                                         prices=request.get("prices")).resolved()
            summary = launch.run_ingest(
                request["paths"], settings, workers=request.get("workers"),
                full_refresh=bool(request.get("full_refresh")),
                wait=bool(request.get("wait")), prices=request.get("prices"),
                api=server.Api(api_url), redact=request.get("redact"),
                redact_fields=request.get("redact_fields"))
        if not lines.summary_sent:
            lines.send({"summary": summary})
    except SteplensError as e:
        lines.send({"error": str(e)})
    except Exception as e:
        # an environment fault or a damaged warehouse file is one line, as in-process;
        # anything else is a bug: the command shows the traceback
        fault = _fault(e, request)
        lines.send({"fault": fault} if fault else {"bug": traceback.format_exc()})


def _fault(exc: Exception, request: dict) -> str | None:
    """`describe_fault`'s line for what the ingest of `request` met, if it is a fault."""
    from steplens.flows.store import integrity

    try:
        settings = Settings.from_env(warehouse=request["warehouse"]).resolved()
        where = str(settings.remote or settings.warehouse)
    except Exception:  # noqa: BLE001 - the request's own path, as given
        where = str(request.get("warehouse"))
    return describe_fault(exc, where, integrity.recovery(where))


def request_handler(api_url: str, token: str) -> type[BaseHTTPRequestHandler]:
    """Requests to the runner; an ingest needs the token `steplens server start` gave it
    (in the owner-only state file), so another user of the machine cannot have the
    runner read or write files as its owner."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the answer ends when the connection closes

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path != "/health":
                self.send_error(404)
                return
            body = json.dumps({"version": steplens_version(), "pid": os.getpid(),
                               "api": api_url}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/ingest":
                self.send_error(404)
                return
            if not hmac.compare_digest(self.headers.get("Authorization", ""),
                                       f"Bearer {token}"):
                self.send_error(403)
                return
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            run_request(request, Lines(self.wfile), api_url)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # the runner's log holds the flow runs' own lines

    return Handler


def main(argv: list[str] | None = None) -> None:
    """`python -m steplens.flows.orchestration.runner --port N`: serve until terminated."""
    parser = argparse.ArgumentParser(prog="steplens-runner")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    api_url = os.environ.get("PREFECT_API_URL")
    token = os.environ.pop(ENV_RUNNER_TOKEN, "")
    if not api_url or not token:
        sys.exit(f"steplens-runner: PREFECT_API_URL must name the Prefect server and "
                 f"{ENV_RUNNER_TOKEN} hold the token (`steplens server start` sets both)")
    launch.quiet_prefect_console()
    import steplens.flows.ingest  # noqa: F401 - Prefect and the flow, imported once, now

    HTTPServer(("127.0.0.1", args.port), request_handler(api_url, token)).serve_forever()


if __name__ == "__main__":
    main()
