"""How many of the sent spans an Arize Phoenix server has stored, asked through its GraphQL.

Phoenix answers an OTLP request before it stores the spans (a queue, then its database:
about 130 spans/s on 2 cores), so "sent" is not "stored". Where the export's endpoint is
a Phoenix server (its `/v1/traces` beside a `/graphql` that knows `projects`), the export
asks, for every trace it sent, how many spans Phoenix holds under that trace id in the
project the spans went to (`Project.trace(traceId) { numSpans }`), and polls until they
are all there or `timeout_s` has passed. Trace ids are ours (one per run, from its run
id) and Phoenix keeps the first copy of a span id, so the count is exact on a re-send as
well. Any other collector (no such GraphQL) is simply not asked.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

TRACES_PATH = "/v1/traces"
DEFAULT_PROJECT = "default"  # where Phoenix puts spans of a resource without a project
PROJECT_HEADER = "x-project-name"  # Phoenix's header naming the project (wins over the resource)
TRACES_PER_QUERY = 50  # aliased `trace(traceId:)` fields per request (Phoenix allows 50)
PROJECTS_QUERY = "{ projects { edges { node { id name } } } }"


@dataclass
class Stored:
    """What Phoenix holds of the spans sent: `spans` of `sent`, after `waited_s`."""

    spans: int
    sent: int
    waited_s: float
    project: str

    @property
    def complete(self) -> bool:
        return self.spans >= self.sent


def graphql_url(endpoint: str) -> str | None:
    """Phoenix's GraphQL URL beside an OTLP traces URL (`.../v1/traces` to `.../graphql`),
    or None for a URL of another shape (not asked)."""
    parts = urllib.parse.urlsplit(endpoint)
    if not parts.path.rstrip("/").endswith(TRACES_PATH):
        return None
    base = parts.path.rstrip("/")[: -len(TRACES_PATH)]
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, base + "/graphql", "", ""))


class PhoenixClient:
    """A minimal GraphQL client for one Phoenix server (JSON POST; the export's headers,
    so an API key given for the OTLP endpoint works here too)."""

    def __init__(self, url: str, headers: Mapping[str, str] | None = None,
                 timeout_s: float = 10.0) -> None:
        self.url = url
        self.headers = {k: v for k, v in (headers or {}).items()
                        if k.lower() not in ("content-type", "content-encoding")}
        self.timeout_s = timeout_s

    def query(self, text: str) -> dict | None:
        """The `data` of a GraphQL answer; None when the server is busy (a timeout, a 5xx:
        ask again). Raises Unreachable when the connection fails (refused, reset), and
        NotPhoenix when it answered something else."""
        body = json.dumps({"query": text}).encode()
        req = urllib.request.Request(self.url, data=body, method="POST", headers={
            **self.headers, "content-type": "application/json", "accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            if e.code >= 500 or e.code == 429:
                return None
            raise NotPhoenix(f"HTTP {e.code}") from None
        except TimeoutError:
            return None
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            if isinstance(getattr(e, "reason", None), TimeoutError):
                return None
            raise Unreachable(str(getattr(e, "reason", e))) from None
        try:
            doc = json.loads(raw)
        except ValueError:
            raise NotPhoenix("not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
            errors = doc.get("errors") if isinstance(doc, dict) else None
            message = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e)
                                for e in errors) if isinstance(errors, list) else ""
            raise NotPhoenix(message or "no GraphQL data")
        return doc["data"]

    def project_ids(self) -> dict[str, str] | None:
        """Project name to node id (None: busy, ask again)."""
        data = self.query(PROJECTS_QUERY)
        if data is None:
            return None
        try:
            return {e["node"]["name"]: e["node"]["id"] for e in data["projects"]["edges"]}
        except (TypeError, KeyError):
            raise NotPhoenix("no projects") from None

    def stored_spans(self, project_id: str, traces: list[str]) -> int | None:
        """Spans Phoenix holds under these trace ids in the project (None: busy)."""
        total = 0
        for start in range(0, len(traces), TRACES_PER_QUERY):
            chunk = traces[start:start + TRACES_PER_QUERY]
            fields = " ".join(f't{i}: trace(traceId: "{t}") {{ numSpans }}'
                              for i, t in enumerate(chunk))
            data = self.query(f'{{ node(id: "{project_id}") {{ ... on Project {{ {fields} }} }} }}')
            if data is None:
                return None
            if not isinstance(data.get("node"), dict):
                raise NotPhoenix("no project node")
            total += sum((v or {}).get("numSpans", 0) for v in data["node"].values())
        return total


class NotPhoenix(Exception):
    """The endpoint's GraphQL answered, but not as Phoenix does (its message, if any)."""


class Unreachable(Exception):
    """The GraphQL URL refused or dropped the connection."""


class AskError(Exception):
    """Phoenix answered the first question but refused a later one (its message)."""


def wait_stored(client: PhoenixClient, project: str, traces: Mapping[str, int], *,
                timeout_s: float, poll_s: float = 1.0,
                clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> Stored | None:
    """Poll until Phoenix holds every span sent under `traces` (trace id to spans sent)
    in `project`, or `timeout_s` has passed: what it holds then. None when the server
    is not a Phoenix that can be asked; AskError when it is but refused a question."""
    sent = sum(traces.values())
    ids = sorted(traces)
    start = clock()
    spans = 0
    asked = False  # whether Phoenix has answered once: unreachable throughout is not Phoenix
    while True:
        try:
            projects = client.project_ids()
            if projects is not None:
                asked = True
                if project in projects:  # created with the first span stored
                    counted = client.stored_spans(projects[project], ids)
                    spans = counted if counted is not None else spans
        except NotPhoenix as e:
            if asked:  # it is Phoenix, but would not say: tell the user why
                raise AskError(str(e)) from None
            return None
        except Unreachable:
            if not asked:  # a collector without this URL, not a busy Phoenix
                return None
        waited = clock() - start
        if spans >= sent or waited >= timeout_s:
            return Stored(spans, sent, waited, project) if asked else None
        sleep(min(poll_s, max(timeout_s - waited, 0.0)))
        poll_s = min(poll_s * 1.5, 10.0)
