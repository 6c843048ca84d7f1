"""Seeded, deterministic generator of realistic exported OpenAI Assistants API data.

`generate_export(out_dir, runs=300, seed=7)` simulates threads of assistant runs between
January 2024 and September 2025 and writes them the ways exporters saved them:

=============================  ===========================================================
``runs_and_steps.jsonl``       polled full run and step objects: runs repeated as they move
                               through queued / in_progress / requires_action / terminal,
                               steps in_progress then terminal, late re-polls
``list_pages.jsonl.gz``        ``steps.list()`` / ``runs.list()`` pages, newest first,
                               overlapping, some taken mid-run, some empty
``streams.jsonl``              ``{"event", "data"}`` envelopes of several runs streamed in
                               parallel, lines interleaved; step deltas in pieces with
                               ``index``; ``thread.message.*`` and ``thread.created``
                               events; some streams cut off before the terminal step event,
                               a few ending in an ``error`` event
``streams.sse``                the same envelopes as raw SSE text (``event:`` / ``data:`` /
                               blank line; ``event: done`` / ``data: [DONE]`` after each
                               stream that ended normally and at the end of the file; a few
                               blocks spread their JSON over several ``data:`` lines)
``stream_parts/part-NNNN.jsonl``  another group of interleaved streams split across files
                               whose names sort in stream order
``bare_events.ndjson``         a third group of streams saved as bare objects (runs, steps,
                               bare ``thread.run.step.delta`` objects, messages, threads)
``bad_lines.jsonl``            (``bad_lines=True``) blank lines, malformed JSON, wrong types,
                               non-object lines, unknown object types, error/done events,
                               a list page with bad items, a truncated last line
=============================  ===========================================================

The same run often lands in more than one file (a stream plus a poll, a poll plus a list
export), as it does in real archives.

Everything written validates against the openai SDK (openai 3.57.0: ``RunStep``, ``Run``,
``RunStepDeltaEvent``, ``AssistantStreamEvent``) except this known subset:

- runs created before 2024-06-06 (``LEGACY_RUN_BEFORE``): the legacy shape real archives
  hold, without ``parallel_tool_calls``, with ``file_ids`` and sometimes
  ``instructions: null``, ``retrieval`` in ``tools``; those before 2024-02-01 also lack
  ``usage`` (and ``required_action`` while it is null);
- steps and deltas with a tool call whose ``type`` is ``retrieval`` (legacy, before
  2024-04-17) or ``mcp`` (a made-up future type, from 2025-06-01);
- stream envelopes wrapping any of the above;
- every line of ``bad_lines.jsonl``.

With ``config_changes=True`` (issue 13, assistant versions) every assistant's
configuration changes on a few scheduled days after 2024-06-06: its instructions are
revised, a function tool is added, `temperature`, `top_p` or `response_format` change
(one field per change, never back to an earlier value); runs never pick a random other
model and o-series runs always use `reasoning_effort` "medium", so every version after
June 2024 is a scheduled change or a model the assistant moved to. One change makes things
worse: the assistant's runs fail far more often after it. The schedule is returned as
``config_changes``: ``{"assistant_id", "at", "field", "worse"}`` per change, ``field``
named as the `assistant_versions` column it changes. Without the option the output is
byte-for-byte what it was before the option existed.

Only the standard library and orjson are used. With ``target_bytes`` runs keep being
generated until the files on disk reach about that size; output is streamed to disk with
bounded memory.

    python -m tests.support.generate OUT_DIR --runs 300 --seed 7 [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import string
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

__all__ = ["generate_export", "main", "LEGACY_RUN_BEFORE", "KNOWN_INVALID_TOOL_TYPES"]


def _utc(y: int, m: int, d: int) -> int:
    return int(datetime(y, m, d, tzinfo=UTC).timestamp())


DAY = 86_400
FIRST_DAY = _utc(2024, 1, 8)
LAST_DAY = _utc(2025, 9, 30)
USAGE_FROM = _utc(2024, 2, 1)  # older archives carry no usage at all
STREAMING_FROM = _utc(2024, 3, 14)
V2_FROM = _utc(2024, 4, 17)  # file_search replaces retrieval
LEGACY_RUN_BEFORE = _utc(2024, 6, 6)  # runs before this lack parallel_tool_calls
DETAILS_FROM = _utc(2024, 10, 1)  # usage carries prompt_token_details & co.
MCP_FROM = _utc(2025, 6, 1)
KNOWN_INVALID_TOOL_TYPES = ("retrieval", "mcp")

FILES = {
    "polled": "runs_and_steps.jsonl",
    "pages": "list_pages.jsonl.gz",
    "streams": "streams.jsonl",
    "sse": "streams.sse",
    "parts": "stream_parts",
    "bare": "bare_events.ndjson",
    "bad": "bad_lines.jsonl",
}

MODEL_SINCE = {
    "gpt-3.5-turbo": 0,
    "gpt-4-turbo-preview": 0,
    "gpt-4-turbo": _utc(2024, 4, 9),
    "gpt-4o": _utc(2024, 5, 13),
    "gpt-4o-mini": _utc(2024, 7, 18),
    "gpt-4o-2024-08-06": _utc(2024, 8, 6),
    "o3-mini": _utc(2025, 1, 31),
    "gpt-4.1": _utc(2025, 4, 14),
    "gpt-4.1-mini": _utc(2025, 4, 14),
}

ASSISTANTS = [
    {
        "name": "Weather concierge",
        "models": ["gpt-4.1-mini", "gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo"],
        "functions": ["get_weather", "get_forecast"],
        "code": False, "files": True, "mcp": False,
        "instructions": "You are a weather assistant. Use get_weather for current conditions.",
    },
    {
        "name": "Data analyst",
        "models": ["gpt-4.1", "gpt-4o-2024-08-06", "gpt-4o", "gpt-4-turbo", "gpt-4-turbo-preview"],
        "functions": ["run_sql"],
        "code": True, "files": False, "mcp": False,
        "instructions": "Analyse the uploaded data with Python and explain the results briefly.",
    },
    {
        "name": "Support agent",
        "models": ["gpt-4o-mini", "gpt-4-turbo", "gpt-3.5-turbo"],
        "functions": ["lookup_order", "create_ticket", "refund_order"],
        "code": False, "files": True, "mcp": False,
        "instructions": "Help customers with orders. Never refund more than the order total.",
    },
    {
        "name": "Travel planner",
        "models": ["gpt-4.1", "gpt-4o", "gpt-4-turbo-preview"],
        "functions": ["search_flights", "book_hotel", "get_weather"],
        "code": False, "files": False, "mcp": False,
        "instructions": "Plan trips. Confirm dates before booking anything.",
    },
    {
        "name": "Math tutor",
        "models": ["o3-mini", "gpt-4o", "gpt-4-turbo-preview"],
        "functions": [],
        "code": True, "files": False, "mcp": False,
        "instructions": "Solve the problem step by step with the code interpreter.",
    },
    {
        "name": "Research helper",
        "models": ["gpt-4.1", "o3-mini", "gpt-4o", "gpt-4-turbo-preview"],
        "functions": ["fetch_url"],
        "code": False, "files": True, "mcp": True,
        "instructions": "Answer from the attached documents and cite the file you used.",
    },
]

FUNCTION_PARAMS = {
    "get_weather": ["city", "unit"],
    "get_forecast": ["city", "days"],
    "run_sql": ["query"],
    "lookup_order": ["order_id"],
    "create_ticket": ["subject", "priority", "body"],
    "refund_order": ["order_id", "amount", "currency"],
    "search_flights": ["origin", "destination", "date"],
    "book_hotel": ["city", "nights"],
    "fetch_url": ["url"],
    "escalate_to_human": ["subject", "priority"],  # added by config_changes
}

CITIES = ["Paris", "Zürich", "São Paulo", "東京", "Kraków", "Reykjavík", "München", "Αθήνα",
          "القاهرة", "Montréal", "Berlin", "Nairobi", "Seoul", "Москва"]
AIRPORTS = ["CDG", "NRT", "JFK", "GRU", "KEF", "MUC", "ATH", "CAI", "YUL", "BER"]
CONDITIONS = ["sunny", "cloudy", "rain", "snow", "fog", "☀️ clear", "thunderstorm"]
SUBJECTS = ["Parcel never arrived", "Wrong size — exchange?", "Rechnung doppelt belastet",
            "Colis endommagé 📦", "Can't log in", "注文のキャンセル"]
MESSAGES = [
    "Here is what I found. The forecast for {city} shows {cond} with {t}°C.",
    "I ran the analysis: the mean is {t}, see the chart above. 📈",
    "Your order has been refunded — you'll see it within 5–7 business days.",
    "Voilà ! Le vol de {city} part à 09:40, arrivée 18:05 (heure locale).",
    "The answer is x = {t}. Let me know if you'd like the derivation. ✅",
    "According to the attached report, revenue grew {t}% year over year.",
    "Ich habe ein Ticket erstellt; ein Kollege meldet sich in Kürze bei Ihnen.",
]
CODE_SNIPPETS = [
    "import pandas as pd\ndf = pd.read_csv('/mnt/data/sales.csv')\nprint(df.describe())",
    "import sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(sp.Eq(3*x + 11, 14), x))",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [4, 1, 9])\nplt.savefig('plot.png')",
    "total = sum(i * i for i in range(1, 101))\nprint(f'Σ i² = {total}')",
    "import numpy as np\na = np.random.default_rng(0).normal(size=1000)\nprint(a.mean(), a.std())",
]
FILE_NAMES = ["handbook.pdf", "faq.md", "Q3_report.docx", "tarifs_2024.pdf", "レポート.txt",
              "favorite_foods.txt"]
ERROR_MESSAGES = {
    "server_error": "Sorry, something went wrong.",
    "rate_limit_exceeded": "Rate limit reached for {model} in organization org-xxxx on tokens "
                           "per min (TPM). Please try again in 2.1s.",
}
ALNUM = string.ascii_letters + string.digits
MISSING = object()


# --------------------------------------------------------------------------- writers


class _Interleaver:
    """Interleaves the events of up to `width` streams at a time, preserving each order."""

    def __init__(self, rng: random.Random, width: int, emit):
        self.rng, self.width, self.emit = rng, width, emit
        self.active: list[list] = []

    def add(self, events: list, ended: bool) -> None:
        if events:
            self.active.append([events, 0, ended])
        while len(self.active) >= self.width:
            self._step()

    def flush(self) -> None:
        while self.active:
            self._step()

    def _step(self) -> None:
        i = self.rng.randrange(len(self.active))
        entry = self.active[i]
        events, pos, ended = entry
        entry[1] = pos + 1
        last = pos + 1 == len(events)
        if last:
            del self.active[i]
        self.emit(events[pos], last and ended)


class _Files:
    """The output files, with the byte count written so far."""

    def __init__(self, out: Path, rng: random.Random, streams: bool, part_bytes: int):
        self.out = out
        self.rng = rng
        self.polled = open(out / FILES["polled"], "wb")  # noqa: SIM115
        self._pages_raw = open(out / FILES["pages"], "wb")  # noqa: SIM115
        self.pages = gzip.GzipFile(filename="", mode="wb", fileobj=self._pages_raw, mtime=0,
                                   compresslevel=6)
        self.streams = self.sse = self.bare = self.part = None
        self.part_no, self.part_bytes, self.closed_bytes = 0, part_bytes, 0
        self.sse_ended = True
        parts = out / FILES["parts"]
        for stale in [*sorted(parts.glob("part-*.jsonl")),
                      *(out / FILES[k] for k in ("streams", "sse", "bare"))]:
            stale.unlink(missing_ok=True)  # left by an earlier run into the same directory
        if not streams and parts.is_dir() and not any(parts.iterdir()):
            parts.rmdir()
        if streams:
            self.streams = open(out / FILES["streams"], "wb")  # noqa: SIM115
            self.sse = open(out / FILES["sse"], "wb")  # noqa: SIM115
            self.bare = open(out / FILES["bare"], "wb")  # noqa: SIM115
            parts.mkdir(exist_ok=True)
            self._next_part()

    def _next_part(self) -> None:
        if self.part is not None:
            self.closed_bytes += self.part.tell()
            self.part.close()
        self.part_no += 1
        self.part = open(self.out / FILES["parts"] / f"part-{self.part_no:04d}.jsonl", "wb")  # noqa: SIM115

    def handles(self):
        return [h for h in (self.polled, self._pages_raw, self.streams, self.sse, self.bare,
                            self.part) if h is not None]

    def size(self) -> int:
        return self.closed_bytes + sum(h.tell() for h in self.handles())

    def stream_event(self, event: tuple, ended: bool) -> None:
        """One envelope into streams.jsonl and streams.sse."""
        name, data = event
        self.streams.write(orjson.dumps({"event": name, "data": data}) + b"\n")
        if self.rng.random() < 0.02:  # JSON spread over several data: lines
            body = orjson.dumps(data, option=orjson.OPT_INDENT_2).split(b"\n")
        else:
            body = [orjson.dumps(data)]
        self.sse.write(b"event: " + name.encode() + b"\n"
                       + b"".join(b"data: " + line + b"\n" for line in body) + b"\n")
        self.sse_ended = ended
        if ended:
            self.sse.write(b"event: done\ndata: [DONE]\n\n")

    def part_event(self, event: tuple, ended: bool) -> None:
        name, data = event
        self.part.write(orjson.dumps({"event": name, "data": data}) + b"\n")
        if self.part.tell() >= self.part_bytes:
            self._next_part()

    def close(self) -> None:
        if self.sse is not None and not self.sse_ended:
            self.sse.write(b"event: done\ndata: [DONE]\n\n")
        self.pages.close()
        for h in self.handles():
            h.close()
        if self.part is not None and self.part_no > 1:
            last = Path(self.part.name)
            if last.stat().st_size == 0:  # the part opened after the last rotation
                last.unlink()


# --------------------------------------------------------------------------- the simulation


CHANGE_FIELDS = ("instructions_hash", "tools", "temperature", "top_p", "response_format")
CHANGES_FROM = LEGACY_RUN_BEFORE + 30 * DAY


class _Generator:
    def __init__(self, seed: int, streams: bool, files: _Files, config_changes: bool = False):
        self.rng = random.Random(seed)
        self.streams = streams
        self.files = files
        self.stream_mix = _Interleaver(random.Random(seed + 1), 6, files.stream_event)
        self.part_mix = (_Interleaver(random.Random(seed + 2), 3, files.part_event)
                         if streams else None)
        n_days, n_old = (LAST_DAY - FIRST_DAY) // DAY, (USAGE_FROM - FIRST_DAY) // DAY
        picked = self.rng.sample(range(n_old), 4) + self.rng.sample(range(n_old, n_days), 56)
        self.days = sorted(FIRST_DAY + d * DAY for d in picked)  # 4 days of old archives
        self.assistants = [dict(a, id=self.id("asst_")) for a in ASSISTANTS]
        self.counts = {"threads": 0, "runs": 0, "steps": 0, "tool_calls": 0,
                       "stream_events": 0, "cut_off_streams": 0, "bare_runs": 0}
        self.samples: list[dict] = []  # a few objects for bad_lines.jsonl
        self.config_changes = config_changes
        self.schedule: dict[str, list[dict]] = {}
        if config_changes:
            self.plan_changes(random.Random(seed + 17))

    # ---- configuration changes (issue 13)

    def plan_changes(self, rng: random.Random) -> None:
        """Three changes per assistant on days that have runs, one field each, spread out
        (one in the first half of each third of the days), so that most changes have runs
        of their own; the first change of the first assistant makes its runs fail more."""
        days = [d for d in self.days if CHANGES_FROM <= d <= LAST_DAY - 30 * DAY]
        third = len(days) // 3
        for k, a in enumerate(self.assistants):
            fields = rng.sample(CHANGE_FIELDS, 3)
            at = [days[i * third + rng.randrange(max(1, third // 2))] for i in range(3)]
            self.schedule[a["id"]] = [{"assistant_id": a["id"], "at": t, "field": f,
                                       "worse": k == 0 and i == 0}
                                      for i, (t, f) in enumerate(zip(at, fields, strict=True))]

    def configured(self, a: dict, t: int) -> tuple[dict, dict]:
        """The assistant as configured at `t`, and the run's sampling settings."""
        if not self.config_changes:
            return a, {}
        a = dict(a)
        settings: dict = {}
        for n, change in enumerate(c for c in self.schedule[a["id"]] if c["at"] <= t):
            f = change["field"]
            if f == "instructions_hash":
                a["instructions"] = f"{a['instructions']} Revision {n + 1}."
            elif f == "tools":
                a["functions"] = [*a["functions"], "escalate_to_human"]
            elif f == "temperature":
                settings["temperature"] = 0.3
            elif f == "top_p":
                settings["top_p"] = 0.8
            else:
                settings["response_format"] = {"type": "json_schema", "json_schema": {
                    "name": "answer", "strict": True, "schema": {
                        "type": "object", "properties": {"answer": {"type": "string"}},
                        "required": ["answer"], "additionalProperties": False}}}
            if change["worse"]:
                settings["worse"] = True
        return a, settings

    # ---- small helpers

    def id(self, prefix: str, n: int = 24) -> str:
        return prefix + "".join(self.rng.choices(ALNUM, k=n))

    def file_id(self) -> str:
        return self.id("file-", 22)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pieces(self, text: str, lo: int, hi: int, max_pieces: int) -> list[str]:
        """Split `text` into consecutive pieces as a stream would send them."""
        floor = math.ceil(len(text) / max_pieces) if text else 1
        out, i = [], 0
        while i < len(text):
            n = max(floor, self.rng.randint(lo, hi))
            out.append(text[i:i + n])
            i += n
        return out

    # ---- content

    def model_for(self, assistant: dict, t: int) -> str:
        available = [m for m in assistant["models"] if MODEL_SINCE[m] <= t]
        if not available:
            available = ["gpt-3.5-turbo"]
        if not self.config_changes and self.chance(0.15):
            return self.rng.choice([m for m, since in MODEL_SINCE.items() if since <= t])
        return available[0]

    def tools_for(self, assistant: dict, t: int) -> list[dict]:
        tools = []
        if assistant["code"]:
            tools.append({"type": "code_interpreter"})
        if assistant["files"]:
            if t < V2_FROM:
                tools.append({"type": "retrieval"})
            else:
                tools.append({"type": "file_search", "file_search": {
                    "max_num_results": 20,
                    "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
                }})
        for name in assistant["functions"]:
            tools.append({"type": "function", "function": {
                "name": name,
                "description": name.replace("_", " ").capitalize(),
                "parameters": {"type": "object",
                               "properties": {p: {"type": "string"} for p in FUNCTION_PARAMS[name]},
                               "required": FUNCTION_PARAMS[name][:1]},
                "strict": False,
            }})
        return tools

    def arguments(self, name: str) -> str:
        rng = self.rng
        values = {
            "city": rng.choice(CITIES), "unit": rng.choice(["celsius", "fahrenheit"]),
            "days": rng.randint(1, 10), "query": "SELECT region, sum(revenue) FROM sales "
            f"WHERE year = {rng.randint(2019, 2025)} GROUP BY region",
            "order_id": f"A-{rng.randint(10000, 99999)}", "subject": rng.choice(SUBJECTS),
            "priority": rng.choice(["low", "normal", "high"]),
            "body": "Customer writes: « " + rng.choice(SUBJECTS) + " » — please check.",
            "amount": round(rng.uniform(5, 400), 2), "currency": rng.choice(["EUR", "USD", "JPY"]),
            "origin": rng.choice(AIRPORTS), "destination": rng.choice(AIRPORTS),
            "date": f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "nights": rng.randint(1, 9), "url": f"https://example.org/docs/{rng.randint(1, 999)}",
        }
        args = {p: values[p] for p in FUNCTION_PARAMS[name] if p == FUNCTION_PARAMS[name][0]
                or self.chance(0.7)}
        text = orjson.dumps(args).decode() if self.chance(0.5) else (
            "{" + ", ".join(f"{orjson.dumps(k).decode()}: {orjson.dumps(v).decode()}"
                            for k, v in args.items()) + "}")
        roll = self.rng.random()
        if roll < 0.03:  # the model stopped mid-way
            return text[: self.rng.randint(1, max(1, len(text) - 2))]
        if roll < 0.05:  # not JSON at all
            return ", ".join(f"{k}={v}" for k, v in args.items())
        return text

    def function_output(self, name: str) -> str:
        if name.startswith("get_"):
            return orjson.dumps({"temp_c": round(self.rng.uniform(-15, 38), 1),
                                 "condition": self.rng.choice(CONDITIONS)}).decode()
        if self.chance(0.2):
            return "OK"
        return orjson.dumps({"status": "ok", "id": self.id("", 10),
                             "note": self.rng.choice(SUBJECTS)}).decode()

    def code_input(self) -> str:
        code = self.rng.choice(CODE_SNIPPETS)
        if self.chance(0.03):  # a long generated script, tens of KB
            lines = [f"row_{i} = [{', '.join(str(self.rng.randint(0, 999)) for _ in range(12))}]"
                     f"  # données n°{i}" for i in range(self.rng.randint(250, 600))]
            code = "\n".join(lines) + "\n" + code
        return code

    def logs(self) -> str:
        if self.chance(0.03):  # a long log, tens of KB
            return "\n".join(f"{i:6d}  {self.rng.uniform(0, 1e4):12.4f}  état=ok"
                             for i in range(self.rng.randint(400, 1200)))
        return self.rng.choice(["[1]", "1.0", "x = 1", "           revenue\ncount    12.000000\n"
                                "mean   1043.250000", "Σ i² = 338350", "0.0123 0.998"])

    def file_search_payload(self) -> dict:
        roll = self.rng.random()
        if roll < 0.3:
            return {}
        payload = {"ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0}}
        if roll < 0.45:
            payload["results"] = []
            return payload
        results = []
        for _ in range(self.rng.randint(1, 4)):
            r = {"file_id": self.file_id(), "file_name": self.rng.choice(FILE_NAMES),
                 "score": round(self.rng.uniform(0.2, 0.95), 16)}
            if self.chance(0.5):
                r["attributes"] = {}
            if self.chance(0.6):
                r["content"] = [{"type": "text", "text": self.rng.choice(MESSAGES).format(
                    city="Lyon", cond="rain", t=42)}]
            results.append(r)
        payload["results"] = results
        return payload

    def usage(self, r: dict, index: int, *, partial: bool = False) -> dict:
        prompt = self.rng.randint(150, 900) + index * self.rng.randint(200, 1500)
        completion = self.rng.randint(5, 60 if partial else 700)
        u = {"prompt_tokens": prompt, "completion_tokens": completion,
             "total_tokens": prompt + completion}
        if r["created_at"] >= DETAILS_FROM:
            cached = self.rng.choice([0, 0, 128 * (prompt // 256)])
            reasoning = self.rng.randint(64, 2000) if r["model"].startswith("o") else 0
            u["completion_tokens"] += reasoning
            u["total_tokens"] += reasoning
            u["prompt_token_details"] = {"cached_tokens": cached}
            u["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        return u

    # ---- objects

    def run_obj(self, r: dict, status: str, **changes) -> dict:
        """A run snapshot; `changes` update the run state first (and persist)."""
        r.update(changes)
        r["status"] = status
        legacy, old = r["created_at"] < LEGACY_RUN_BEFORE, r["created_at"] < USAGE_FROM
        terminal = status in ("completed", "incomplete", "failed", "cancelled", "expired")
        o = {
            "id": r["id"], "object": "thread.run", "created_at": r["created_at"],
            "assistant_id": r["assistant_id"], "thread_id": r["thread_id"], "status": status,
            "started_at": r["started_at"],
            "expires_at": None if terminal and status != "expired" else r["created_at"] + 600,
            "cancelled_at": r["cancelled_at"], "failed_at": r["failed_at"],
            "completed_at": r["completed_at"],
        }
        if r["required_action"] is not None or not old:
            o["required_action"] = r["required_action"]
        o["last_error"] = r["last_error"]
        o["model"] = r["model"]
        o["instructions"] = r["instructions"]
        o["tools"] = r["tools"]
        if legacy:
            o["file_ids"] = []
        else:
            o["tool_resources"] = {}
        if r["metadata"] is not MISSING:
            o["metadata"] = r["metadata"]
        if not legacy:
            o.update(temperature=r.get("temperature", 1.0), top_p=r.get("top_p", 1.0),
                     reasoning_effort=r["reasoning_effort"],
                     max_completion_tokens=None, max_prompt_tokens=None,
                     truncation_strategy={"type": "auto", "last_messages": None},
                     incomplete_details=r["incomplete_details"])
        if not old:
            o["usage"] = r["usage"] if terminal else None
        if not legacy:
            o.update(response_format=r.get("response_format", "auto"), tool_choice="auto",
                     parallel_tool_calls=r["parallel_tool_calls"])
        return o

    def step_obj(self, r: dict, s: dict, status: str, details: dict, *, usage=None,
                 completed_at=None, failed_at=None, cancelled_at=None, expired_at=None,
                 last_error=None, expires_at=MISSING) -> dict:
        if expires_at is MISSING:
            expires_at = r["created_at"] + 600
        common = {"id": s["id"], "object": "thread.run.step", "created_at": s["created_at"],
                  "run_id": r["id"], "assistant_id": r["assistant_id"],
                  "thread_id": r["thread_id"], "type": s["type"], "status": status}
        if r["style"] == "api":  # what the real API sends
            o = dict(common, cancelled_at=cancelled_at, completed_at=completed_at,
                     expires_at=expires_at, failed_at=failed_at, last_error=last_error,
                     step_details=details)
        else:  # what a model_dump() of the SDK object gives, extras kept
            if status == "expired" and expired_at is None and self.chance(0.8):
                expired_at = expires_at
            o = {"id": s["id"], "assistant_id": r["assistant_id"], "cancelled_at": cancelled_at,
                 "completed_at": completed_at, "created_at": s["created_at"],
                 "expired_at": expired_at, "failed_at": failed_at, "last_error": last_error}
            if s["metadata"] is not MISSING:
                o["metadata"] = s["metadata"]
            o.update(object="thread.run.step", run_id=r["id"], status=status,
                     step_details=details, thread_id=r["thread_id"], type=s["type"])
            o["expires_at"] = expires_at
        if r["created_at"] >= USAGE_FROM:
            o["usage"] = usage
        return o

    def message_obj(self, r: dict, s: dict, t: int, status: str, text: str | None) -> dict:
        return {
            "id": s["message_id"], "object": "thread.message", "created_at": s["created_at"],
            "assistant_id": r["assistant_id"], "thread_id": r["thread_id"], "run_id": r["id"],
            "status": status,
            "incomplete_details": ({"reason": s["incomplete_reason"]}
                                   if status == "incomplete" else None),
            "incomplete_at": t if status == "incomplete" else None,
            "completed_at": t if status == "completed" else None,
            "role": "assistant",
            "content": [] if text is None else [{"type": "text", "text": {
                "value": text, "annotations": []}}],
            "attachments": [], "metadata": {},
        }

    # ---- tool calls and their deltas

    def make_calls(self, r: dict, kind: str) -> list[dict]:
        """Final tool calls of a step (function outputs filled in later)."""
        a = r["assistant"]
        if kind == "function":
            names = [self.rng.choice(a["functions"]) for _ in range(
                self.rng.choice([1, 1, 1, 2, 3]) if r["parallel_tool_calls"] else 1)]
            return [{"id": self.id("call_"), "type": "function", "function": {
                "name": n, "arguments": self.arguments(n), "output": None}} for n in names]
        if kind == "code_interpreter":
            calls = []
            for _ in range(2 if self.chance(0.1) else 1):
                outputs = []
                for _ in range(self.rng.choice([0, 1, 1, 1, 2])):
                    outputs.append({"type": "logs", "logs": self.logs()})
                if self.chance(0.25):
                    outputs.append({"type": "image", "image": {"file_id": self.file_id()}})
                calls.append({"id": self.id("call_"), "type": "code_interpreter",
                              "code_interpreter": {"input": self.code_input(),
                                                   "outputs": outputs}})
            return calls
        if kind == "file_search":
            return [{"id": self.id("call_"), "type": "file_search",
                     "file_search": self.file_search_payload()}]
        if kind == "retrieval":
            return [{"id": self.id("call_"), "type": "retrieval", "retrieval": {}}]
        return [{"id": self.id("call_"), "type": "mcp", "mcp": {
            "server_label": "docs", "name": "search_docs",
            "arguments": orjson.dumps({"q": self.rng.choice(SUBJECTS)}).decode(),
            "output": "3 documents found"}}]

    def call_deltas(self, s: dict, calls: list[dict]) -> list[dict]:
        """thread.run.step.delta objects that stream the given calls, in order."""
        out = []

        def delta(piece: dict) -> None:
            out.append({"id": s["id"], "object": "thread.run.step.delta", "delta": {
                "step_details": {"type": "tool_calls", "tool_calls": [piece]}}})

        for i, c in enumerate(calls):
            kind = c["type"]
            if kind == "function":
                fn = c["function"]
                delta({"index": i, "id": c["id"], "type": "function",
                       "function": {"name": fn["name"], "arguments": "", "output": None}})
                for p in self.pieces(fn["arguments"], 1, 8, 40):
                    delta({"index": i, "type": "function", "function": {"arguments": p}})
            elif kind == "code_interpreter":
                ci = c["code_interpreter"]
                delta({"index": i, "id": c["id"], "type": "code_interpreter",
                       "code_interpreter": {"input": "", "outputs": []}})
                for p in self.pieces(ci["input"], 1, 10, 60):
                    delta({"index": i, "type": "code_interpreter",
                           "code_interpreter": {"input": p}})
                for k, o in enumerate(ci["outputs"]):
                    if o["type"] == "logs":
                        for p in self.pieces(o["logs"], 20, 200, 8):
                            delta({"index": i, "type": "code_interpreter", "code_interpreter": {
                                "outputs": [{"index": k, "type": "logs", "logs": p}]}})
                    else:
                        delta({"index": i, "type": "code_interpreter", "code_interpreter": {
                            "outputs": [{"index": k, "type": "image", "image": o["image"]}]}})
            elif kind == "file_search":
                payload = {"ranking_options": {"ranker": "default_2024_08_21",
                                               "score_threshold": 0.0}, "results": []}
                delta({"index": i, "id": c["id"], "type": "file_search",
                       "file_search": payload if self.chance(0.7) else {}})
            else:  # retrieval, mcp: one piece with everything
                delta(dict(c, index=i))
        return out

    # ---- one run

    def simulate_run(self, thread: dict, t0: int) -> tuple[dict, list[tuple]]:
        """Play one run; return its state and its timeline of (event name, kind, object).

        An event name of None marks a snapshot only a poll could see (not streamed).
        """
        rng = self.rng
        a, settings = self.configured(thread["assistant"], t0)
        legacy = t0 < LEGACY_RUN_BEFORE
        model = self.model_for(a, t0)
        r = {
            "id": self.id("run_"), "thread_id": thread["id"], "assistant_id": a["id"],
            "assistant": a, "created_at": t0, "started_at": None, "cancelled_at": None,
            "failed_at": None, "completed_at": None, "required_action": None,
            "last_error": None, "model": model,
            "instructions": None if legacy and self.chance(0.2) else a["instructions"],
            "tools": self.tools_for(a, t0), "incomplete_details": None, "usage": None,
            "reasoning_effort": None if model[0] != "o" else "medium" if self.config_changes
            else rng.choice(["low", "medium", "high"]),
            "parallel_tool_calls": not legacy and self.chance(0.8),
            "style": "api" if self.chance(0.6) else "sdk",
            **{k: v for k, v in settings.items() if k != "worse"},
        }
        roll = rng.random()
        r["metadata"] = (
            MISSING if roll < 0.05 else None if roll < 0.12 else {} if roll < 0.5 else
            {"tenant": rng.choice(["acme", "globex", "initech", "Ünicode GmbH"]),
             "request_id": f"r-{rng.randint(1, 9999)}", **({"user": "josé@example.com"}
                                                           if self.chance(0.3) else {})}
        )
        outcome = rng.choices(
            ["completed", "failed", "cancelled", "expired", "incomplete", "requires_action"],
            weights=[50, 31, 5, 5, 5, 4] if settings.get("worse") else [74, 7, 5, 5, 5, 4])[0]

        # which tool kinds this assistant can use at t0
        kinds = []
        if a["functions"]:
            kinds.append("function")
        if a["code"]:
            kinds.append("code_interpreter")
        if a["files"]:
            kinds.append("retrieval" if t0 < V2_FROM else "file_search")
        if a["mcp"] and t0 >= MCP_FROM:
            kinds.append("mcp")
        plan = [rng.choice(kinds) for _ in range(rng.choice([0, 1, 1, 2, 3]))] if kinds else []
        if outcome in ("expired", "requires_action"):
            if "function" not in kinds:
                outcome = "completed"
            else:
                plan = [k for k in plan if k != "function"] + ["function"]
        if outcome not in ("expired", "requires_action"):
            plan.append("message_creation")
        stop_at = len(plan) - 1  # index of the step where failed/cancelled happens
        if outcome in ("failed", "cancelled") and len(plan) > 1 and self.chance(0.4):
            stop_at = rng.randrange(len(plan) - 1)

        items: list[tuple] = []
        t = t0
        items.append(("thread.run.created", "run", self.run_obj(r, "queued")))
        items.append(("thread.run.queued", "run", self.run_obj(r, "queued")))
        t += rng.choice([0, 0, 1, 1, 2, 4])
        items.append(("thread.run.in_progress", "run",
                      self.run_obj(r, "in_progress", started_at=t)))
        step_usages = []
        for index, kind in enumerate(plan[: stop_at + 1]):
            last = index == stop_at
            t += rng.choice([0, 1, 1, 2])
            s = {"id": self.id("step_"), "created_at": t,
                 "type": "message_creation" if kind == "message_creation" else "tool_calls",
                 "metadata": rng.choice([None, None, None, {}, {"phase": f"{index}"}, MISSING]),
                 "message_id": self.id("msg_") if kind == "message_creation" else None,
                 "incomplete_reason": None}
            self.counts["steps"] += 1
            ends = "completed"
            if last and outcome in ("failed", "cancelled", "expired", "requires_action"):
                ends = outcome
            if kind == "message_creation":
                details = {"type": "message_creation",
                           "message_creation": {"message_id": s["message_id"]}}
                started = self.step_obj(r, s, "in_progress", details)
                items += [("thread.run.step.created", "step", started),
                          ("thread.run.step.in_progress", "step", started)]
                text = rng.choice(MESSAGES).format(city=rng.choice(CITIES),
                                                   cond=rng.choice(CONDITIONS),
                                                   t=rng.randint(-5, 40))
                items.append(("thread.message.created", "message",
                              self.message_obj(r, s, t, "in_progress", None)))
                items.append(("thread.message.in_progress", "message",
                              self.message_obj(r, s, t, "in_progress", None)))
                chunks = self.pieces(text, 2, 14, 10)
                if ends != "completed":
                    chunks = chunks[: max(1, len(chunks) // 2)]
                for k, p in enumerate(chunks):
                    items.append(("thread.message.delta", "message", {
                        "id": s["message_id"], "object": "thread.message.delta", "delta": {
                            "content": [{"index": 0, "type": "text", "text": dict(
                                {"value": p}, **({"annotations": []} if k == 0 else {}))}]}}))
                t += rng.choice([0, 1, 1, 2, 3, 5, 8, 13])
                if ends == "completed" and outcome == "incomplete":
                    s["incomplete_reason"] = "max_tokens"
                    items.append(("thread.message.incomplete", "message",
                                  self.message_obj(r, s, t, "incomplete", "".join(chunks))))
                elif ends == "completed":
                    items.append(("thread.message.completed", "message",
                                  self.message_obj(r, s, t, "completed", text)))
                else:
                    s["incomplete_reason"] = "run_" + ("failed" if ends == "failed"
                                                       else "cancelled")
                    items.append(("thread.message.incomplete", "message",
                                  self.message_obj(r, s, t, "incomplete", "".join(chunks))))
                final_details = details
            else:
                calls = self.make_calls(r, kind)
                self.counts["tool_calls"] += len(calls)
                started = self.step_obj(r, s, "in_progress",
                                        {"type": "tool_calls", "tool_calls": []})
                items += [("thread.run.step.created", "step", started),
                          ("thread.run.step.in_progress", "step", started)]
                items += [("thread.run.step.delta", "delta", d)
                          for d in self.call_deltas(s, calls)]
                if kind == "function":
                    t += rng.choice([0, 0, 1, 2])
                    waiting = {"type": "tool_calls", "tool_calls": calls}
                    items.append((None, "step", self.step_obj(r, s, "in_progress", waiting)))
                    r["required_action"] = {"type": "submit_tool_outputs", "submit_tool_outputs": {
                        "tool_calls": [{"id": c["id"], "type": "function", "function": {
                            "name": c["function"]["name"],
                            "arguments": c["function"]["arguments"]}} for c in calls]}}
                    items.append(("thread.run.requires_action", "run",
                                  self.run_obj(r, "requires_action")))
                    if ends == "requires_action":
                        break
                    if ends == "expired":
                        t = t0 + 600
                        r["required_action"] = None
                        expired_at = t if self.chance(0.5) else None
                        items.append((None, "step", self.step_obj(
                            r, s, "expired", waiting, expired_at=expired_at, expires_at=t)))
                        items.append((None, "run", self.run_obj(r, "expired")))
                        break
                    t += rng.choice([0, 1, 2, 3, 5, 9, 21])
                    r["required_action"] = None
                    if ends == "completed":  # outputs submitted
                        calls = [dict(c, function=dict(c["function"], output=self.function_output(
                            c["function"]["name"]))) for c in calls]
                        items.append(("thread.run.queued", "run", self.run_obj(r, "queued")))
                        items.append(("thread.run.in_progress", "run",
                                      self.run_obj(r, "in_progress")))
                else:
                    t += rng.choice([0, 1, 1, 2, 3, 5, 8]) + (
                        rng.randint(5, 40) if kind == "code_interpreter" else 0)
                final_details = {"type": "tool_calls", "tool_calls": calls}
            # the step's end
            if ends == "completed":
                u = self.usage(r, index)
                step_usages.append(u)
                end = self.step_obj(r, s, "completed", final_details, usage=u, completed_at=t)
            elif ends == "failed":
                code = rng.choice(["server_error", "rate_limit_exceeded"])
                r["last_error"] = {"code": code,
                                   "message": ERROR_MESSAGES[code].format(model=r["model"])}
                u = self.usage(r, index, partial=True) if self.chance(0.5) else None
                if u:
                    step_usages.append(u)
                end = self.step_obj(r, s, "failed", final_details, usage=u, failed_at=t,
                                    last_error=r["last_error"])
            else:  # cancelled
                items.append(("thread.run.cancelling", "run", self.run_obj(r, "cancelling")))
                t += rng.choice([0, 1, 1, 2])
                end = self.step_obj(r, s, "cancelled", final_details, cancelled_at=t)
            items.append((f"thread.run.step.{ends}", "step", end))
        else:
            # the run's end (not reached by requires_action / expired, which break out)
            r["usage"] = self.run_usage(step_usages, r)
            if outcome == "failed":
                run = self.run_obj(r, "failed", failed_at=t + rng.choice([0, 0, 1]))
            elif outcome == "cancelled":
                run = self.run_obj(r, "cancelled", cancelled_at=t)
            elif outcome == "incomplete":
                reason = rng.choice(["max_completion_tokens", "max_prompt_tokens"])
                run = self.run_obj(r, "incomplete", completed_at=t,
                                   incomplete_details={"reason": reason})
            else:
                run = self.run_obj(r, "completed", completed_at=t)
            name = "thread.run." + outcome
            if outcome == "incomplete" and self.chance(0.3):
                name = "thread.run.completed"  # seen in real streams: status is the truth
            items.append((name, "run", run))
        self.counts["runs"] += 1
        return r, items

    def run_usage(self, usages: list[dict], r: dict) -> dict | None:
        if not usages:
            return None
        total = {k: sum(u[k] for u in usages)
                 for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        if r["created_at"] >= DETAILS_FROM:
            total["prompt_token_details"] = {"cached_tokens": sum(
                u["prompt_token_details"]["cached_tokens"] for u in usages)}
            total["completion_tokens_details"] = {"reasoning_tokens": sum(
                u["completion_tokens_details"]["reasoning_tokens"] for u in usages)}
        return total

    # ---- channels

    def write_polled(self, items: list[tuple]) -> None:
        """A polling exporter: every state it saw, runs repeated while they wait."""
        w = self.files.polled
        last_steps: dict[str, dict] = {}
        last_run = max(k for k, (_, kind, _) in enumerate(items) if kind == "run")
        for k, (name, kind, obj) in enumerate(items):
            if kind == "run":
                repeats = 1
                if obj["status"] in ("queued", "in_progress", "requires_action"):
                    repeats = self.rng.choice([0, 1, 1, 2, 3]) or int(k == last_run)
                w.write((orjson.dumps(obj) + b"\n") * repeats)
            elif kind == "step" and name != "thread.run.step.in_progress":
                if obj["status"] == "in_progress" and self.chance(0.3):
                    continue
                w.write(orjson.dumps(obj) + b"\n")
                last_steps[obj["id"]] = obj
        for obj in last_steps.values():  # late re-polls after the run ended
            if obj["status"] == "in_progress" or obj.get("expires_at") is None:
                continue
            roll = self.rng.random()
            if roll < 0.2:  # the API nulls expires_at once the run is over
                w.write(orjson.dumps(dict(obj, expires_at=None)) + b"\n")
            elif roll < 0.3:  # a recomputed expiry of the same width: only crc32 differs
                w.write(orjson.dumps(dict(obj, expires_at=obj["expires_at"] + 7)) + b"\n")

    def page(self, objs: list[dict], limit: int, overlap: bool) -> list[bytes]:
        """`objs` newest first, cut into list pages of `limit` items."""
        pages, i = [], 0
        while i < len(objs):
            data = objs[i:i + limit]
            nxt = i + limit - (1 if overlap and limit > 1 else 0)
            pages.append(orjson.dumps({"object": "list", "data": data, "first_id": data[0]["id"],
                                 "last_id": data[-1]["id"], "has_more": nxt < len(objs)}))
            i = nxt
        return pages

    def write_pages(self, items: list[tuple], drop_usage: bool) -> None:
        """A list exporter: steps.list() pages at one or two moments of the run."""
        step_at = [k for k, (_, kind, _) in enumerate(items) if kind == "step"]
        moments = [len(items)]
        if len(step_at) > 2 and self.chance(0.5):
            moments.insert(0, self.rng.choice(step_at[:-1]) + 1)
        if self.chance(0.1):  # listed before the first step existed
            self.files.pages.write(orjson.dumps({"object": "list", "data": [], "first_id": None,
                                           "last_id": None, "has_more": False}) + b"\n")
        for m in moments:
            latest: dict[str, dict] = {}
            for _, kind, obj in items[:m]:
                if kind == "step":
                    latest[obj["id"]] = obj
            objs = list(latest.values())[::-1]  # newest first
            if drop_usage:
                objs = [{k: v for k, v in o.items() if k != "usage"} for o in objs]
            limit = self.rng.choice([1, 2, 3, 5, 20])
            for p in self.page(objs, limit, self.chance(0.6)):
                self.files.pages.write(p + b"\n")

    def write_bare(self, items: list[tuple]) -> None:
        """Bare objects as a client logged them; some clients logged only the deltas."""
        has_deltas = any(kind == "delta" for _, kind, _ in items)
        self.counts["bare_runs"] += 1
        only_deltas = has_deltas and self.counts["bare_runs"] % 3 == 0
        for name, kind, obj in items:
            if name is not None and (kind == "delta" or not only_deltas):
                self.files.bare.write(orjson.dumps(obj) + b"\n")

    def stream_events(self, items: list[tuple], thread: dict, first: bool):
        """The envelopes a client saved while streaming, and whether the stream ended."""
        events = [(name, obj) for name, _, obj in items if name is not None]
        if first and thread["create_and_run"]:
            events.insert(0, ("thread.created", {
                "id": thread["id"], "object": "thread", "created_at": items[0][2]["created_at"],
                "metadata": {}, "tool_resources": {"code_interpreter": {"file_ids": []}}}))
        deltas = [k for k, (name, _) in enumerate(events) if name == "thread.run.step.delta"]
        if deltas and self.chance(0.2):  # the connection dropped mid-step
            events = events[: self.rng.choice(deltas) + 1]
            self.counts["cut_off_streams"] += 1
            if self.counts["cut_off_streams"] % 3 == 1:
                events.append(("error", {"message": "The server had an error while processing "
                                         "your request. Sorry about that!",
                                         "type": "server_error", "code": None, "param": None}))
            return events, False
        return events, events[-1][0] != "thread.run.requires_action"

    # ---- one thread

    def thread_unit(self, n_runs: int) -> None:
        rng = self.rng
        thread = {"id": self.id("thread_"), "assistant": rng.choice(self.assistants),
                  "create_and_run": self.chance(0.3)}
        self.counts["threads"] += 1
        t = rng.choice(self.days) + rng.randrange(DAY - 7200)
        final_runs = []
        listed = False
        for k in range(n_runs):
            r, items = self.simulate_run(thread, t)
            t = max(o.get("completed_at") or o["created_at"] for _, kind, o in items
                    if kind in ("run", "step")) + rng.randint(5, 600)
            final_runs.append(items[-1][2] if items[-1][1] == "run" else
                              next(o for _, kind, o in reversed(items) if kind == "run"))
            if len(self.samples) < 30:
                self.samples += [o for _, kind, o in items if kind in ("step", "run")]
            channel = "poll" if self.chance(0.55) else "list"
            if self.streams and r["created_at"] >= STREAMING_FROM:
                roll = rng.random()
                channel = ("stream" if roll < 0.16 else "parts" if roll < 0.21
                           else "bare" if roll < 0.27 else channel)
            if channel in ("stream", "parts"):
                events, ended = self.stream_events(items, thread, k == 0)
                self.counts["stream_events"] += len(events)
                mix = self.stream_mix if channel == "stream" else self.part_mix
                mix.add(events, ended)
                if self.chance(0.6 if not ended else 0.15):
                    self.write_polled(items)
            elif channel == "bare":
                self.write_bare(items)
            elif channel == "poll":
                self.write_polled(items)
                if self.chance(0.15):
                    self.write_pages(items, drop_usage=self.chance(0.3))
                    listed = True
            else:
                self.write_pages(items, drop_usage=False)
                listed = True
        if listed:  # runs.list() of the thread, newest first
            for p in self.page(final_runs[::-1], rng.choice([1, 2, 20]), True):
                self.files.pages.write(p + b"\n")

    def bad_lines(self, path: Path) -> None:
        """Deliberately bad or odd lines; every one is listed in the module docstring."""
        step = next((o for o in self.samples if o["object"] == "thread.run.step"
                     and o["status"] == "completed"), None) or {
            "id": self.id("step_"), "object": "thread.run.step", "created_at": FIRST_DAY,
            "completed_at": FIRST_DAY + 5, "status": "completed"}
        run = next((o for o in self.samples if o["object"] == "thread.run"
                    and o["status"] == "completed"), None) or {
            "id": self.id("run_"), "object": "thread.run", "created_at": FIRST_DAY,
            "status": "completed"}
        function_step = {
            "id": self.id("step_"), "object": "thread.run.step", "created_at": 1718022105,
            "run_id": run["id"], "assistant_id": run.get("assistant_id"),
            "thread_id": run.get("thread_id"), "type": "tool_calls", "status": "completed",
            "cancelled_at": None, "completed_at": 1718022111, "expires_at": None,
            "failed_at": None, "last_error": None, "step_details": {
                "type": "tool_calls", "tool_calls": [{"id": self.id("call_"), "type": "function",
                                                      "function": {"name": "get_weather",
                                                                   "arguments": {"city": "Paris"},
                                                                   "output": None}}]},
            "usage": None,
        }
        lines = [
            b"",
            b"   ",
            b'{"id": "step_broken", "object": "thread.run.step",, "status": "completed"}',
            b"{'id': 'step_python_repr', 'object': 'thread.run.step'}",
            b"this is not json at all",
            orjson.dumps(dict(step, created_at=str(step["created_at"]))),  # created_at as a string
            orjson.dumps(function_step),  # arguments as an object
            orjson.dumps(dict(step, created_at=True)),  # a bool is not an integer
            b"[1, 2, 3]",
            b'"just a string"',
            b"null",
            orjson.dumps({"id": self.id("msg_"), "object": "thread.message",
                          "created_at": FIRST_DAY, "thread_id": run.get("thread_id"),
                          "role": "user", "status": "completed",
                          "content": [{"type": "text", "text": {"value": "Hallo 👋",
                                                                "annotations": []}}]}),
            orjson.dumps({"event": "thread.created", "data": {
                "id": self.id("thread_"), "object": "thread", "created_at": FIRST_DAY,
                "metadata": {}, "tool_resources": {}}}),
            orjson.dumps({"event": "thread.run.step.reasoning.delta", "data": {
                "id": step["id"], "object": "thread.run.step.reasoning.delta",
                "delta": {"summary": [{"index": 0, "text": "Thinking…"}]}}}),
            orjson.dumps({"id": self.id("ann_"), "object": "thread.run.step.annotation",
                    "created_at": FIRST_DAY}),
            orjson.dumps({"event": "error", "data": {"message": "Internal server error",
                                               "type": "server_error", "code": None,
                                               "param": None}}),
            orjson.dumps({"event": "done", "data": "[DONE]"}),
            orjson.dumps({"object": "list", "data": [], "first_id": None, "last_id": None,
                    "has_more": False}),
            orjson.dumps({"object": "list", "data": [
                dict(step, status="in_progress", x_exporter="bad-lines/1.0"),
                dict(run, usage={"prompt_tokens": "12", "completion_tokens": 3,
                                 "total_tokens": 15}),
                {k: v for k, v in step.items() if k != "id"},
                7,
            ], "first_id": step["id"], "last_id": run["id"], "has_more": False}),
            orjson.dumps({"id": step["id"], "object": "thread.run.step.delta", "delta": {
                "step_details": {"type": "tool_calls", "tool_calls": [
                    {"index": "0", "type": "function", "function": {"arguments": "{"}}]}}}),
            orjson.dumps({k: v for k, v in run.items() if k != "id"}),
            orjson.dumps(dict(step, status="in_progress", unknown_extra={"nested": ["ok", 1]})),
            # valid but conflicting: the same step also "cancelled", earlier (loses at stage 2)
            orjson.dumps(dict(step, status="cancelled", completed_at=None,
                        cancelled_at=step["completed_at"] - 1)),
        ]
        cut = orjson.dumps(dict(run, status="completed"))
        text = b"\n".join(lines) + b"\n" + cut[: len(cut) // 2]  # truncated last line
        path.write_bytes(text)


# --------------------------------------------------------------------------- public API


def generate_export(out_dir: Path, *, runs: int = 300, seed: int = 7, bad_lines: bool = True,
                    streams: bool = True, target_bytes: int | None = None,
                    config_changes: bool = False) -> dict:
    """Write a deterministic synthetic Assistants export into `out_dir`.

    `runs` runs are simulated (in threads of one to three runs), or, when `target_bytes`
    is given, runs keep coming (same mix) until the files reach about that many bytes.
    Returns counts: threads, runs, steps, tool_calls, stream_events, cut_off_streams,
    bytes (on disk) and files (relative path -> bytes); with `config_changes`, also the
    schedule of changes (module docstring).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    part_bytes = 200_000 if target_bytes is None else max(200_000, target_bytes // 64)
    files = _Files(out, random.Random(seed + 3), streams, part_bytes)
    gen = _Generator(seed, streams, files, config_changes)
    try:
        while True:
            if target_bytes is None:
                left = runs - gen.counts["runs"]
                if left <= 0:
                    break
            else:
                if files.size() >= target_bytes:
                    break
                left = 3
            gen.thread_unit(min(left, gen.rng.choice([1, 1, 1, 2, 3])))
        if streams:
            gen.stream_mix.flush()
            gen.part_mix.flush()
    finally:
        files.close()
    bad = out / FILES["bad"]
    if bad_lines:
        gen.bad_lines(bad)
    elif bad.exists():
        bad.unlink()
    written = {}
    paths = [out / name for key, name in FILES.items() if key != "parts"]
    paths += (out / FILES["parts"]).glob("part-*.jsonl") if streams else []
    for p in sorted(paths):
        if p.is_file():
            written[str(p.relative_to(out))] = p.stat().st_size
    out_counts = dict(gen.counts, bytes=sum(written.values()), files=written)
    if config_changes:
        out_counts["config_changes"] = [c for cs in gen.schedule.values() for c in cs]
    return out_counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.generate",
        description="Write a deterministic synthetic OpenAI Assistants export.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size-mb", type=float, default=None,
                        help="keep generating until the files reach about this many MB")
    parser.add_argument("--no-bad-lines", action="store_true")
    parser.add_argument("--no-streams", action="store_true")
    args = parser.parse_args(argv)
    target = None if args.size_mb is None else int(args.size_mb * 1024 * 1024)
    counts = generate_export(args.out_dir, runs=args.runs, seed=args.seed,
                             bad_lines=not args.no_bad_lines, streams=not args.no_streams,
                             target_bytes=target)
    sys.stdout.write(orjson.dumps(counts, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
