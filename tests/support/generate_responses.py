"""Seeded, deterministic generator of exported Responses/Conversations API data, beside an
Assistants export: the mixed archive of a team that migrated (issue 12).

`generate_mixed_export(out_dir, responses=120, seed=11, assistants_runs=40)` simulates
units of one to three responses (a `previous_response_id` chain, a conversation, a
stateless agent loop that resends its whole history, or a single call) between
2025-03-11 and 2026-10-31 and writes them the ways exporters saved them:

==============================  ==========================================================
``responses/responses.jsonl``    response objects in shuffled order: POST bodies, GET
                                 re-reads (duplicates), background polls (queued,
                                 in_progress, terminal), cancel bodies, background
                                 responses never seen to finish; conversation objects
``responses/streams.jsonl``      streams as JSON lines, one after another; some cut before
                                 their terminal event (mid-arguments), some ending in an
                                 ``error`` event, those before 2025-05-20 without
                                 ``sequence_number`` / ``logprobs``
``responses/streams.sse``        other streams as raw SSE text (some cut), and twins of a
                                 few ``streams.jsonl`` streams (the same stream saved twice)
``responses/requests.jsonl``     ``POST /v1/responses`` bodies: the ``function_call_output``,
                                 ``custom_tool_call_output``, ``computer_call_output``
                                 answering the previous response; history resent whole
``responses/items.jsonl``        list pages: conversation items (overlapping pages), input
                                 items of chained responses
``responses/bad_lines.jsonl``,   (``bad_lines=True``) wrong types in responses, events,
``responses/bad_stream.sse``     requests and items; invalid JSON, non-objects, orphan
                                 events, a blank line, a truncated last line
``assistants/...``               ``tests.support.generate.generate_export`` (when
                                 ``assistants_runs`` > 0)
==============================  ==========================================================

It returns counts and ``truth``: what the simulation itself says the warehouse must hold,
recorded while writing (not by reading the files back), so tests can hold the oracle and
the product to it: per response id the status and the output item types the export shows
(a cut stream: ``in_progress`` with the items announced before the cut, unless the
response was also exported whole), its ``last_error_code`` and thread id; the output of
every client-side tool call (None when no later request or page carries one), token
sums, and the exact rejects (file, line, reason) and Responses-side skips of the bad lines.

Everything written validates against openai 3.57.0 (``Response``, ``ResponseStreamEvent``,
``Conversation``, ``ConversationItemList`` / ``ResponseItemList``) except the real shapes
listed in ``tests.support.sdk_validation.KNOWN_REJECTIONS``, generated where real data
has them: ``usage`` without ``cache_write_tokens`` before 2026-07-10, ``web_search_call``
sources of type ``api``, ``output_item.added`` web searches without ``action``, streams
before 2025-05-20 without ``sequence_number`` and ``logprobs``; and the bad lines.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson

from tests.support.generate import generate_export

__all__ = ["generate_mixed_export", "SEQUENCE_FROM", "CACHE_WRITE_FROM"]


def _utc(y: int, m: int, d: int) -> int:
    return int(datetime(y, m, d, tzinfo=UTC).timestamp())


FIRST = _utc(2025, 3, 11)
LAST = _utc(2026, 10, 31)
SEQUENCE_FROM = _utc(2025, 5, 20)  # streams before this carry no sequence_number/logprobs
COMPLETED_AT_FROM = _utc(2026, 1, 18)
CACHE_WRITE_FROM = _utc(2026, 7, 10)
TERMINAL = ("completed", "incomplete", "failed", "cancelled")
MODELS = [  # (name, available from, reasoning)
    ("gpt-4o-2024-08-06", FIRST, False), ("gpt-4o-mini-2024-07-18", FIRST, False),
    ("gpt-4.1-2025-04-14", _utc(2025, 4, 14), False),
    ("gpt-4.1-mini-2025-04-14", _utc(2025, 4, 14), False),
    ("o4-mini-2025-04-16", _utc(2025, 4, 16), True), ("gpt-5-2025-08-07", _utc(2025, 8, 7), True),
]
FUNCTIONS = {
    "get_weather": lambda r: {"city": r.choice(["Paris", "Zürich", "東京", "São Paulo"])},
    "lookup_order": lambda r: {"order_id": f"A-{r.randint(1000, 9999)}"},
    "convert_currency": lambda r: {"amount": r.randint(1, 900), "to": r.choice(["EUR", "JPY"])},
}
TEXTS = ["Sure — here it is.", "The forecast says 21 °C and sunny.", "Your order shipped.",
         "Voilà: 42 € ≈ 6 900 ¥.", "I could not find that file.", "Done. Anything else?"]
HEX = "0123456789abcdef"
ALNUM = string.ascii_letters + string.digits
USER_SAYS = ["What's the weather in Paris?", "Where is my order?", "Summarise the handbook.",
             "Plot y = x² for x in 0..5", "Ask the wiki about pydantic-ai."]


class _Writer:
    """Lines per output file, written at the end (responses.jsonl shuffled)."""

    def __init__(self):
        self.lines: dict[str, list[bytes]] = {k: [] for k in (
            "responses.jsonl", "streams.jsonl", "streams.sse", "requests.jsonl",
            "items.jsonl")}

    def json(self, name: str, obj: dict) -> None:
        self.lines[name].append(orjson.dumps(obj))

    def sse(self, events: list[dict]) -> None:
        for e in events:
            self.lines["streams.sse"].append(
                b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e))


class _Generator:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.out = _Writer()
        self.counts: Counter = Counter()
        self.status: dict[str, str] = {}
        self.items: dict[str, list[str]] = {}
        self.errors: dict[str, str | None] = {}  # run_id -> last_error_code
        self.stream_error: str | None = None  # the error event of the latest cut stream
        self.threads: dict[str, str] = {}
        self.outputs: dict[str, object] = {}  # call_id -> output (None: never answered)
        self.tokens: Counter = Counter()
        self.skipped: Counter = Counter()

    # ------------------------------------------------------------------ ids and values

    def hex_id(self, prefix: str, n: int = 50) -> str:
        return prefix + "".join(self.rng.choice(HEX) for _ in range(n))

    def call_id(self) -> str:
        return "call_" + "".join(self.rng.choice(ALNUM) for _ in range(24))

    def usage(self, t: int, reasoning: bool, turn: int) -> dict:
        r = self.rng
        inp, out = r.randint(200, 5000), r.randint(20, 800)
        details = {"cached_tokens": (inp // 128) * 128 if turn and r.random() < 0.6 else 0}
        if t >= CACHE_WRITE_FROM:
            details["cache_write_tokens"] = 0
        return {"input_tokens": inp, "input_tokens_details": details, "output_tokens": out,
                "output_tokens_details": {"reasoning_tokens": r.randint(0, out) if reasoning
                                          else 0},
                "total_tokens": inp + out}

    # ------------------------------------------------------------------ items

    def message(self, status="completed") -> dict:
        return {"id": self.hex_id("msg_"), "type": "message", "status": status,
                "role": "assistant", "content": [{"type": "output_text", "annotations": [],
                                                  "logprobs": [],
                                                  "text": self.rng.choice(TEXTS)}]}

    def client_call(self) -> dict:
        r = self.rng
        kind = r.choices(["function_call", "custom_tool_call", "computer_call"], [8, 1, 1])[0]
        if kind == "function_call":
            name = r.choice(sorted(FUNCTIONS))
            return {"id": self.hex_id("fc_"), "type": kind, "status": "completed",
                    "call_id": self.call_id(), "name": name,
                    "arguments": orjson.dumps(FUNCTIONS[name](r)).decode()}
        if kind == "custom_tool_call":
            return {"id": self.hex_id("ctc_"), "type": kind, "status": "completed",
                    "call_id": self.call_id(),
                    "name": "run_sql", "input": "SELECT count(*) FROM orders;"}
        return {"id": self.hex_id("cu_"), "type": kind, "status": "completed",
                "call_id": self.call_id(), "pending_safety_checks": [],
                "action": {"type": "click", "button": "left", "x": r.randint(0, 1023),
                           "y": r.randint(0, 767)}}

    def answer(self, call: dict) -> dict:
        """The client's output item for a client-side call, as sent in the next request."""
        r = self.rng
        if call["type"] == "computer_call":
            return {"type": "computer_call_output", "call_id": call["call_id"],
                    "output": {"type": "computer_screenshot",
                               "image_url": "data:image/png;base64,iVBORw0KGgo="}}
        out = (r.choice(["12 C, windy", "shipped 2 days ago", '{"rate": 0.0061}', "",
                         "Erreur: délai dépassé"]) if call["type"] == "function_call"
               else "count\n417")
        return {"type": call["type"] + "_output", "call_id": call["call_id"], "output": out}

    def hosted(self) -> list[dict]:
        r = self.rng
        kind = r.choice(["web_search", "file_search", "code_interpreter", "mcp", "image"])
        if kind == "web_search":
            sources = [{"type": "url", "url": "https://example.org/weather"}]
            if r.random() < 0.3 or not self.counts["api_sources"]:  # at least one
                sources.append({"type": "api", "name": "oai-weather"})  # the SDK rejects it
                self.counts["api_sources"] += 1
            return [{"id": self.hex_id("ws_"), "type": "web_search_call", "status": "completed",
                     "action": {"type": "search", "query": "weather Paris",
                                "sources": sources}}]
        if kind == "file_search":
            results = [{"file_id": "file-" + self.hex_id("", 22), "filename": "handbook.pdf",
                        "score": round(r.random(), 4), "text": "…", "attributes": {}}
                       for _ in range(r.randint(0, 3))]
            return [{"id": self.hex_id("fs_"), "type": "file_search_call", "status": "completed",
                     "queries": ["handbook returns"], "results": results or None}]
        if kind == "code_interpreter":
            outputs = [{"type": "logs", "logs": "[0, 1, 4, 9, 16, 25]\n"}]
            if r.random() < 0.5:
                outputs.append({"type": "image", "url": "https://example.org/plot.png"})
            return [{"id": self.hex_id("ci_"), "type": "code_interpreter_call",
                     "status": "completed", "code": "print([x**2 for x in range(6)])",
                     "container_id": self.hex_id("cntr_", 40), "outputs": outputs}]
        if kind == "mcp":
            failed = r.random() < 0.3
            call = {"id": self.hex_id("mcp_"), "type": "mcp_call", "server_label": "deepwiki",
                    "name": "ask_question", "approval_request_id": None,
                    "arguments": '{"repoName":"pydantic/pydantic-ai","question":"What is it?"}',
                    "status": "failed" if failed else "completed",
                    "error": {"type": "http_error", "code": 500,
                              "message": "An unknown error occurred while executing the tool."}
                    if failed else None,
                    "output": None if failed else "An agent framework."}
            listing = {"id": self.hex_id("mcpl_"), "type": "mcp_list_tools",
                       "server_label": "deepwiki",
                       "tools": [{"name": "ask_question", "input_schema": {"type": "object"},
                                  "annotations": {"read_only": False}}]}
            return [listing, call]
        return [{"id": self.hex_id("ig_"), "type": "image_generation_call", "status": "completed",
                 "result": "iVBORw0KGgo=", "revised_prompt": "A red apple."}]

    # ------------------------------------------------------------------ responses

    def response(self, rid, t, model, status, items, usage, **extra) -> dict:
        r = {"id": rid, "object": "response", "created_at": t, "status": status,
             "background": False, "error": None, "incomplete_details": None,
             "instructions": None, "max_output_tokens": None, "model": model,
             "output": items, "parallel_tool_calls": True, "previous_response_id": None,
             "reasoning": {"effort": None, "summary": None}, "service_tier": "default",
             "store": True, "temperature": 1.0, "text": {"format": {"type": "text"}},
             "tool_choice": "auto", "tools": [], "top_p": 1.0, "truncation": "disabled",
             "usage": usage, "user": None, "metadata": {}}
        if t >= COMPLETED_AT_FROM:
            r["completed_at"] = t + self.rng.randint(1, 40) if status in TERMINAL else None
        r.update(extra)
        return r

    def stream_events(self, final: dict, old: bool, background: bool) -> list[dict]:
        """Every event of a streamed response, in order (the terminal one last)."""
        seq = iter(range(100_000))

        def ev(type_, **fields):
            e = {"type": type_, **fields}
            if not old:
                e["sequence_number"] = next(seq)
            return e

        pending = dict(final, status="queued" if background else "in_progress", output=[],
                       usage=None, error=None, incomplete_details=None)
        if "completed_at" in pending:
            pending["completed_at"] = None
        events = [ev("response.created", response=pending)]
        if background:
            events.append(ev("response.queued", response=pending))
            pending = dict(pending, status="in_progress")
        events.append(ev("response.in_progress", response=pending))
        for i, item in enumerate(final["output"]):
            where = {"item_id": item.get("id"), "output_index": i}
            shell = dict(item)
            if "status" in item:
                shell["status"] = "in_progress"
            for key in ("arguments", "input", "code"):
                if key in item:
                    shell[key] = ""
            if item["type"] == "message":
                shell["content"] = []
            if item["type"] == "web_search_call":
                del shell["action"]  # real streams announce searches before their action
            for key in ("outputs", "results", "output", "error"):
                if key in item:
                    shell[key] = None
            events.append(ev("response.output_item.added", output_index=i, item=shell))
            events += self.item_events(item, where, ev, old)
            events.append(ev("response.output_item.done", output_index=i, item=item))
        events.append(ev("response." + final["status"], response=final))
        return events

    def item_events(self, item: dict, where: dict, ev, old: bool) -> list[dict]:
        t = item["type"]
        pieces = self.pieces
        if t == "message":
            text = item["content"][0]["text"]
            part = {"type": "output_text", "annotations": [], "text": ""}
            out = [ev("response.content_part.added", **where, content_index=0, part=part)]
            extra = {} if old else {"logprobs": []}
            out += [ev("response.output_text.delta", **where, content_index=0, delta=p, **extra)
                    for p in pieces(text)]
            out.append(ev("response.output_text.done", **where, content_index=0, text=text,
                          **extra))
            out.append(ev("response.content_part.done", **where, content_index=0,
                          part=dict(part, text=text)))
            return out
        family = {"function_call": ("function_call_arguments", "arguments"),
                  "custom_tool_call": ("custom_tool_call_input", "input"),
                  "mcp_call": ("mcp_call_arguments", "arguments"),
                  "code_interpreter_call": ("code_interpreter_call_code", "code")}.get(t)
        out = []
        if t in ("web_search_call", "file_search_call", "code_interpreter_call", "mcp_call",
                 "image_generation_call"):
            out.append(ev(f"response.{t}.in_progress", **where))
        if family:
            name, field = family
            out += [ev(f"response.{name}.delta", **where, delta=p) for p in pieces(item[field])]
            out.append(ev(f"response.{name}.done", **where, **{field: item[field]}))
        middle = {"web_search_call": "searching", "file_search_call": "searching",
                  "code_interpreter_call": "interpreting", "image_generation_call": "generating"}
        if t in middle:
            out.append(ev(f"response.{t}.{middle[t]}", **where))
        if t in ("web_search_call", "file_search_call", "code_interpreter_call",
                 "image_generation_call"):
            out.append(ev(f"response.{t}.completed", **where))
        if t == "mcp_call":
            out.append(ev(f"response.mcp_call.{item['status']}", **where))
        if t == "mcp_list_tools":
            out += [ev("response.mcp_list_tools.in_progress", **where),
                    ev("response.mcp_list_tools.completed", **where)]
        return out

    def pieces(self, text: str) -> list[str]:
        cuts = sorted(self.rng.sample(range(1, len(text)), min(3, len(text) - 1))) if len(
            text) > 1 else []
        bounds = [0, *cuts, len(text)]
        return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a] or [text]

    # ------------------------------------------------------------------ export styles

    def export(self, final: dict, turn: int) -> tuple[str, list[str]]:
        """Write one response the way some exporter saved it; return (expected status,
        expected item types). Cut streams and unfinished background responses stop
        their unit (the caller checks the status)."""
        r = self.rng
        old = final["created_at"] < SEQUENCE_FROM
        style = r.choices(["post", "background", "stream"], [45, 20, 35])[0]
        self.stream_error = None
        types = [i["type"] for i in final["output"]]
        if style == "post":
            self.out.json("responses.jsonl", final)
            if r.random() < 0.2:  # a later GET of the same response
                self.out.json("responses.jsonl", final)
                self.counts["duplicates"] += 1
            return final["status"], types
        if style == "background":
            self.counts["background"] += 1
            base = dict(final, background=True, output=[], usage=None, error=None,
                        incomplete_details=None)
            if "completed_at" in base:
                base["completed_at"] = None
            self.out.json("responses.jsonl", dict(base, status="queued"))
            polls = r.randint(0, 2)
            for _ in range(polls):
                self.out.json("responses.jsonl", dict(base, status="in_progress"))
            self.counts["polls"] += 1 + polls
            fate = r.choices(["done", "cancelled", "unfinished"], [80, 10, 10])[0]
            if fate == "done":
                self.out.json("responses.jsonl", dict(final, background=True))
                return final["status"], types
            if fate == "cancelled":
                self.out.json("responses.jsonl", dict(base, status="cancelled"))
                return "cancelled", []
            return ("in_progress" if polls else "queued"), []
        self.counts["streams"] += 1
        background = not old and r.random() < 0.15
        events = self.stream_events(final, old, background)
        self.counts["old_streams"] += old
        status = final["status"]
        if final["output"] and r.random() < 0.22:  # cut after in_progress, before the end
            start = 3 if background else 2
            events = events[:r.randint(start, len(events) - 2)]
            self.counts["cut_streams"] += 1
            types = [e["item"]["type"] for e in events if e["type"] ==
                     "response.output_item.added"]
            status = "in_progress"
            if r.random() < 0.3 or not self.counts["error_events"]:  # at least one
                err = {"type": "error", "code": "server_error", "param": None,
                       "message": "The server had an error while processing your request."}
                if not old:
                    err["sequence_number"] = events[-1]["sequence_number"] + 1
                events.append(err)
                self.counts["error_events"] += 1
                self.stream_error = err["code"]
            if r.random() < 0.3:  # ... but the response was also exported whole later
                self.out.json("responses.jsonl", final)
                status, types = final["status"], [i["type"] for i in final["output"]]
        if r.random() < 0.3:
            self.out.sse(events)
            self.counts["sse_streams"] += 1
        else:
            for e in events:
                self.out.json("streams.jsonl", e)
            if r.random() < 0.15:  # the same stream saved twice
                self.out.sse(events)
                self.counts["twin_streams"] += 1
        self.counts["stream_events"] += len(events)
        return status, types

    # ------------------------------------------------------------------ units

    def unit(self, left: int) -> int:
        r = self.rng
        t = r.randint(FIRST, LAST)
        model, _, reasoning = r.choice([m for m in MODELS if m[1] <= t])
        mode = r.choices(["chain", "conversation", "history", "single"], [4, 2, 2, 2])[0]
        turns = 1 if mode == "single" else min(left, r.randint(1, 3))
        prompt = ({"id": self.hex_id("pmpt_", 48), "version": str(r.randint(1, 4))}
                  if r.random() < 0.2 else None)
        conv = self.hex_id("conv_", 48) if mode == "conversation" else None
        if conv:
            self.out.json("responses.jsonl", {"id": conv, "object": "conversation",
                                              "created_at": t, "metadata": {}})
            self.skipped["conversation"] += 1
        history, answers, conv_items, root, prev = [], [], [], None, None
        made = 0
        for turn in range(turns):
            rid = self.hex_id("resp_")
            root = root or rid
            user = {"role": "user", "content": r.choice(USER_SAYS)}
            new_input = answers or [user]
            history += new_input
            body = {"model": model, "input": history if mode == "history" else new_input}
            if mode == "chain" and prev:
                body["previous_response_id"] = prev
            if conv:
                body["conversation"] = conv
            if r.random() < 0.1 and not answers:
                body["input"] = user["content"]  # a plain string input
            self.out.json("requests.jsonl", body)
            if not any(i.get("type", "").endswith("_output") for i in body["input"]
                       if isinstance(i, dict)):
                self.skipped["request"] += 1
            self.counts["requests"] += 1
            if mode == "chain" and prev and r.random() < 0.4:  # its input items, paged
                self.input_items_page(rid, body["input"])
            conv_items += [dict(i, id=self.hex_id("msg_" if "role" in i else "fco_"),
                                status="completed", **self.typed(i)) for i in new_input]

            last = turn == turns - 1
            items = [{"id": self.hex_id("rs_"), "type": "reasoning", "summary": []}] if (
                reasoning) else []
            status, extra = "completed", {}
            if not last:
                items += [self.client_call() for _ in range(r.choice([1, 1, 2]))]
            elif r.random() < 0.5:
                items += self.hosted() + [self.message()]
            else:
                items.append(self.message())
            fate = r.random()
            if fate < 0.05:
                status, extra = "incomplete", {
                    "incomplete_details": {"reason": "max_output_tokens"}}
                items[-1] = dict(items[-1], status="incomplete")
            elif fate < 0.09:
                status, items = "failed", []
                extra = {"error": {"code": "server_error",
                                   "message": "The server had an error."}}
            usage = self.usage(t, reasoning, turn) if status != "failed" else None
            fields = dict(extra, previous_response_id=body.get("previous_response_id"))
            if conv:
                fields["conversation"] = {"id": conv}
            if prompt:
                fields["prompt"] = prompt
            final = self.response(rid, t, model, status, items, usage, **fields)
            shown_status, shown_types = self.export(final, turn)
            made += 1
            self.status[rid] = shown_status
            self.errors[rid] = ((final["error"] or {}).get("code") if shown_status == final[
                "status"] else self.stream_error if shown_status == "in_progress" else None)
            self.items[rid] = shown_types
            self.threads[rid] = conv or (root if mode == "chain" else rid)
            shown = final["output"][:len(shown_types)] if shown_status not in (
                "cancelled", "queued") else []
            if shown_status == final["status"] and usage:  # the whole response was exported
                for k, v in self.usage_columns(usage).items():
                    self.tokens[k] += v
            conv_items += [dict(i) for i in shown]
            calls = [i for i in shown if i["type"] in (
                "function_call", "custom_tool_call", "computer_call")]
            for c in calls:
                self.outputs[c["call_id"]] = None
            if shown_status != "completed" or last:
                break
            answers = [self.answer(c) for c in calls]
            for c, a in zip(calls, answers, strict=True):
                self.outputs[c["call_id"]] = a["output"]
            history += [dict(c) for c in calls]
            prev = rid
            t += r.randint(2, 60)
        if conv and conv_items:
            self.conversation_pages(conv, conv_items)
        return made

    def typed(self, item: dict) -> dict:
        if "role" in item:  # an easy input message, as a conversation item
            return {"type": "message",
                    "content": [{"type": "input_text", "text": item["content"]}]}
        return {}

    def usage_columns(self, u: dict) -> dict:
        return {"prompt_tokens": u["input_tokens"], "completion_tokens": u["output_tokens"],
                "total_tokens": u["total_tokens"],
                "cached_tokens": u["input_tokens_details"]["cached_tokens"],
                "reasoning_tokens": u["output_tokens_details"]["reasoning_tokens"]}

    def conversation_pages(self, conv: str, items: list[dict]) -> None:
        """`GET /v1/conversations/{id}/items` pages of 3, each overlapping the last by one."""
        start = 0
        while start < len(items):
            page = items[start:start + 3]
            more = start + 3 < len(items)
            self.out.json("items.jsonl", {"object": "list", "data": page,
                                          "first_id": page[0]["id"], "last_id": page[-1]["id"],
                                          "has_more": more})
            self.counts["pages"] += 1
            for item in page:
                if not item["type"].endswith("_output"):
                    self.skipped[f"item:{item['type']}"] += 1
            start += 2 if more else 3

    def input_items_page(self, rid: str, items: list) -> None:
        data = []
        for i in items if isinstance(items, list) else []:
            if "role" in i:
                data.append({"id": self.hex_id("msg_"), "status": "completed", "role": "user",
                             **self.typed(i)})
            else:
                data.append(dict(i, id=self.hex_id("fco_"), status="completed"))
        if not data:
            return
        self.out.json("items.jsonl", {"object": "list", "data": data, "first_id": data[0]["id"],
                                      "last_id": data[-1]["id"], "has_more": False})
        self.counts["pages"] += 1
        for item in data:
            if not item["type"].endswith("_output"):
                self.skipped[f"item:{item['type']}"] += 1

    # ------------------------------------------------------------------ bad lines

    def bad_lines(self, out: Path) -> list[tuple[str, int, str]]:
        """Write bad_lines.jsonl and bad_stream.sse; return the expected rejects."""
        good = self.response("resp_bad", FIRST, "gpt-4o-2024-08-06", "completed",
                             [self.message()], None)
        lines: list[tuple[bytes, str | None, str | None]] = [  # (line, reject, skip)
            (orjson.dumps({"type": "error", "code": "server_error", "message": "boom",
                           "param": None, "sequence_number": 0}), None, "error"),
            (orjson.dumps({"type": "response.output_text.delta", "item_id": "msg_x",
                           "output_index": 0, "content_index": 0, "delta": "orphan",
                           "sequence_number": 1, "logprobs": []}),
             None, "response.output_text.delta"),
            (orjson.dumps(dict(good, created_at="2025-03-11T00:00:00Z")),
             "created_at: expected number Unix seconds, got string", None),
            (orjson.dumps({k: v for k, v in good.items() if k != "id"}),
             "id: expected string, got null", None),
            (orjson.dumps(dict(good, usage={"input_tokens": "12", "output_tokens": 1,
                                            "total_tokens": 13})),
             "usage.input_tokens: expected integer, got string", None),
            (orjson.dumps(dict(good, output=["hello"])),
             "output[0]: expected object, got string", None),
            (orjson.dumps({"type": "response.created", "sequence_number": 0,
                           "response": "resp_bad"}),
             "response: expected object, got string", None),
            (orjson.dumps({"type": "response.output_item.added", "sequence_number": 1,
                           "output_index": 0, "item": ["msg"]}),
             "item: expected object, got array", None),
            (orjson.dumps({"model": "gpt-4.1", "input": 42}),
             "input: expected string or array, got integer", None),
            (orjson.dumps({"model": "gpt-4.1", "input": [
                {"type": "function_call_output", "call_id": 5, "output": "x"}]}),
             "input[0].call_id: expected string, got integer", None),
            (orjson.dumps({"object": "list", "data": [
                {"type": "function_call_output", "call_id": 1, "output": "x", "id": "fco_1"},
                {"type": "message", "id": "msg_1", "role": "user", "content": []}]}),
             "data[0]: call_id: expected string, got integer", "item:message"),
            (b'{"id": "resp_cut", "object": "response", "status": "compl', "invalid JSON",
             None),
            (b"[1, 2, 3]", "not a JSON object", None),
            (b"", None, None),  # blank: skipped on the Assistants side
            (orjson.dumps({"id": "conv_x", "object": "conversation.deleted", "deleted": True}),
             None, None),
            (b'{"type": "response.completed", "response": {"id": "resp_tr', "invalid JSON",
             None),
        ]
        rejects = []
        with open(out / "bad_lines.jsonl", "wb") as f:
            for n, (line, reject, skip) in enumerate(lines, start=1):
                f.write(line + (b"\n" if n < len(lines) else b""))  # the last one truncated
                if reject:
                    rejects.append(("bad_lines.jsonl", n, reject))
                if skip:
                    self.skipped[skip] += 1
        sse = (b"event: response.created\ndata: {\"type\": \"response.created\", \"resp\n\n"
               b"event: response.created\ndata: " + orjson.dumps({
                   "type": "response.created", "sequence_number": 0,
                   "response": dict(good, id="resp_badsse", model=4)}) + b"\n\n"
               b"event: response.output_item.added\ndata: " + orjson.dumps({
                   "type": "response.output_item.added", "sequence_number": 1,
                   "output_index": 0, "item": self.message()}) + b"\n\n")
        (out / "bad_stream.sse").write_bytes(sse)
        rejects += [("bad_stream.sse", 2, "invalid JSON"),
                    ("bad_stream.sse", 5, "response.model: expected string, got integer")]
        self.skipped["response.output_item.added"] += 1  # its lifecycle event was rejected
        self.counts["bad_lines"] = len(lines) + 3
        return rejects


def generate_mixed_export(out_dir: Path, *, responses: int = 120, seed: int = 11,
                          assistants_runs: int = 40, bad_lines: bool = True) -> dict:
    """Write a deterministic mixed export into `out_dir` (see the module docstring) and
    return its counts and `truth`."""
    out = Path(out_dir)
    (out / "responses").mkdir(parents=True, exist_ok=True)
    gen = _Generator(seed)
    made = 0
    while made < responses:
        made += gen.unit(responses - made)
    gen.rng.shuffle(gen.out.lines["responses.jsonl"])
    for name, lines in gen.out.lines.items():
        sep = b"\n" if name == "streams.sse" else b""
        (out / "responses" / name).write_bytes(b"".join(x + b"\n" + sep for x in lines))
    rejects = gen.bad_lines(out / "responses") if bad_lines else []
    assistants = (generate_export(out / "assistants", runs=assistants_runs, seed=seed)
                  if assistants_runs else None)
    truth = {
        "status": gen.status, "items": gen.items, "threads": gen.threads, "errors": gen.errors,
        "outputs": gen.outputs, "tokens": dict(gen.tokens), "rejects": rejects,
        "skipped": dict(gen.skipped),
    }
    return dict(gen.counts, responses=len(gen.status), truth=truth, assistants=assistants)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m tests.support.generate_responses",
        description="Write a deterministic synthetic Responses API export (with an "
                    "Assistants one beside it when --assistants-runs > 0).")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--responses", type=int, default=120)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--assistants-runs", type=int, default=0)
    parser.add_argument("--no-bad-lines", action="store_true")
    args = parser.parse_args(argv)
    made = generate_mixed_export(args.out_dir, responses=args.responses, seed=args.seed,
                                 assistants_runs=args.assistants_runs,
                                 bad_lines=not args.no_bad_lines)
    made.pop("truth")
    made.pop("assistants")
    sys.stdout.write(orjson.dumps(made, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
