"""What the capture removes before a byte reaches the disk (docs/capture.md, "Redaction").

Two things, applied in the writer thread to every recorded JSON value:

- **secrets, always**: request headers are never recorded at all; inside bodies, the
  values of keys that carry credentials (an MCP tool's `authorization` and `headers`,
  `api_key`, ...) are replaced by `"<scrubbed>"`, whatever the redaction mode;
- **content, on request**: the modes of `steplens ingest --redact` (transforms/redact.py):
  `content` makes each value null, `hash` the same keyed HMAC digest the ingest writes
  (`transforms.redact.digest`, the key from `key=` or `$STEPLENS_REDACT_KEY`, else the
  key the ingest would generate for this directory: flows/store/redaction.py), for the
  ingest's field names (`--redact-fields`) plus `messages`, the text the ingest never
  stores (prompts, answers, instructions, reasoning) but a raw capture would.

Streamed pieces (`*.delta` events) are null in both modes, as at ingest: a hash of a
piece groups nothing. Unlike an ingest-time redaction, the original length of a value
cannot be kept (it never reaches the disk), so a warehouse built from a redacted capture
has NULL (`content`) or the 32-character digest (`hash`) in those columns and their
`*_chars` describe that, not the original.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

SCRUBBED = "<scrubbed>"
# Keys whose values are credentials wherever they occur in a body (case-insensitive).
SECRET_KEYS = frozenset(("authorization", "headers", "api_key", "apikey", "x-api-key",
                         "access_token", "client_secret", "password"))
_SECRET_HINT = re.compile(b'"(?:' + b"|".join(re.escape(k.encode()) for k in SECRET_KEYS)
                          + b')"')
# The capture-only field: text content the ingest never stores.
MESSAGES = "messages"
_SORT = orjson.OPT_SORT_KEYS

ARGS = "tool_calls.function_arguments"
OUTPUT = "tool_calls.function_output"
CODE = "tool_calls.code_input"
LOGS = "tool_calls.code_logs"
META = "runs.metadata"

# `response.<x>.delta` event -> the field its pieces belong to; `.done` -> (field, key).
_DELTA_FIELD = {
    "response.function_call_arguments": (ARGS, "arguments"),
    "response.mcp_call_arguments": (ARGS, "arguments"),
    "response.custom_tool_call_input": (ARGS, "input"),
    "response.code_interpreter_call_code": (CODE, "code"),
    "response.output_text": (MESSAGES, "text"),
    "response.refusal": (MESSAGES, "refusal"),
    "response.reasoning_summary_text": (MESSAGES, "text"),
    "response.reasoning_text": (MESSAGES, "text"),
    "response.audio.transcript": (MESSAGES, "transcript"),
}
_PART_KEEP = frozenset(("type", "id", "file_id", "detail", "status", "format"))


def has_secret_key(raw: bytes) -> bool:
    """Whether a body may hold a credential key (a cheap test before any walk: one
    search of a lowered copy, several times faster than a case-blind regex)."""
    return _SECRET_HINT.search(raw.lower()) is not None


def scrub_secrets(value: Any) -> Any:
    """`value` with every credential-carrying key's value replaced (in place)."""
    if type(value) is dict:
        for k, v in value.items():
            if v is not None and k.lower() in SECRET_KEYS:
                value[k] = SCRUBBED
            else:
                scrub_secrets(v)
    elif type(value) is list:
        for v in value:
            scrub_secrets(v)
    return value


def _text(v: Any) -> str:
    """A value as the ingest hashes it: a string as sent, other JSON as sorted JSON text."""
    return v if type(v) is str else orjson.dumps(v, option=_SORT).decode()


@dataclass(frozen=True)
class Redactor:
    """Applies one redaction (mode and fields) to recorded JSON values, in place."""

    mode: str = "none"
    fields: frozenset[str] = frozenset()
    key: bytes | None = field(default=None, repr=False)
    digest: Callable[[bytes, str], str] | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return self.mode != "none" and bool(self.fields)

    # ---- values ------------------------------------------------------------------------
    def _value(self, fld: str, v: Any) -> Any:
        if v is None or fld not in self.fields:
            return v
        if self.mode == "content":
            return None
        return self.digest(self.key, _text(v))  # type: ignore[misc]

    def _fragment(self, fld: str, v: Any) -> Any:
        return None if fld in self.fields and v is not None else v

    def _set(self, obj: dict, key: str, fld: str) -> None:
        if key in obj:
            obj[key] = self._value(fld, obj[key])

    def _metadata(self, obj: dict) -> None:
        meta = obj.get("metadata")
        if type(meta) is dict and META in self.fields:
            obj["metadata"] = {k: self._value(META, v) for k, v in meta.items()}

    # ---- shapes ------------------------------------------------------------------------
    def part(self, p: Any) -> Any:
        """A content part (input_text, output_text, input_image, ...)."""
        if type(p) is not dict:
            return self._value(MESSAGES, p)
        if MESSAGES in self.fields:
            for k in list(p):
                if k not in _PART_KEEP and p[k] is not None:
                    p[k] = self._value(MESSAGES, p[k])
        return p

    def _content(self, obj: dict, key: str) -> None:
        c = obj.get(key)
        if type(c) is list:
            obj[key] = [self.part(p) for p in c]
        elif c is not None:
            obj[key] = self._value(MESSAGES, c)

    def _instructions(self, obj: dict) -> None:
        """`instructions`: a string, or (a prompt template's) a list of input items."""
        ins = obj.get("instructions")
        if type(ins) is list:
            obj["instructions"] = [self.item(i) for i in ins]
        else:
            self._set(obj, "instructions", MESSAGES)

    def item(self, it: Any) -> Any:
        """An input or output item (message, reasoning, tool call, tool output, ...)."""
        if type(it) is not dict:
            return self._value(MESSAGES, it)
        t = it.get("type")
        t = t if type(t) is str else ""
        if t == "message" or (not t and "role" in it):
            self._content(it, "content")
        elif t == "reasoning":
            self._content(it, "summary")
            self._content(it, "content")
            self._set(it, "encrypted_content", MESSAGES)
        elif t.endswith("_output"):
            self._set(it, "output", OUTPUT)
        else:
            self._set(it, "arguments", ARGS)
            if t == "custom_tool_call":
                self._set(it, "input", ARGS)
            self._set(it, "code", CODE)
            outputs = it.get("outputs")
            if type(outputs) is list and LOGS in self.fields:
                for o in outputs:
                    if type(o) is dict:
                        self._set(o, "logs", LOGS)
            if t == "mcp_call":
                self._set(it, "output", OUTPUT)
            for k in ("result", "queries"):  # image data, search queries
                self._set(it, k, MESSAGES)
            results = it.get("results")  # file search: the scores stay (the ingest reads them)
            if type(results) is list:
                for res in results:
                    if type(res) is dict:
                        self._set(res, "text", MESSAGES)
            action = it.get("action")
            if type(action) is dict:
                for k in ("query", "queries"):
                    self._set(action, k, MESSAGES)
        return it

    def _prompt_variables(self, r: dict) -> None:
        """A reusable prompt's `variables` (in a response or a request) are content."""
        prompt = r.get("prompt")
        if type(prompt) is dict and type(prompt.get("variables")) is dict:
            prompt["variables"] = {k: self._value(MESSAGES, v)
                                   for k, v in prompt["variables"].items()}

    def response(self, r: Any) -> Any:
        if type(r) is not dict:
            return r
        self._metadata(r)
        self._instructions(r)
        out = r.get("output")
        if type(out) is list:
            r["output"] = [self.item(i) for i in out]
        self._set(r, "output_text", MESSAGES)
        self._prompt_variables(r)
        return r

    def request(self, body: dict) -> dict:
        """A `POST /v1/responses` body."""
        self._metadata(body)
        inp = body.get("input")
        if type(inp) is list:
            body["input"] = [self.item(i) for i in inp]
        elif inp is not None:
            body["input"] = self._value(MESSAGES, inp)
        self._instructions(body)
        self._prompt_variables(body)
        return body

    def event(self, ev: dict) -> dict:
        """A stream event (the data of an SSE block)."""
        t = ev.get("type")
        t = t if type(t) is str else ""
        if type(ev.get("response")) is dict:
            self.response(ev["response"])
        if type(ev.get("item")) is dict:
            self.item(ev["item"])
        if type(ev.get("part")) is dict:
            self.part(ev["part"])
        base, _, last = t.rpartition(".")
        spec = _DELTA_FIELD.get(base)
        if spec is not None:
            fld, done_key = spec
            if last == "delta":
                ev["delta"] = self._fragment(fld, ev.get("delta"))
            elif last == "done":
                self._set(ev, done_key, fld)
            if fld == MESSAGES and "logprobs" in ev and MESSAGES in self.fields:
                ev["logprobs"] = None
        if t == "response.output_text.annotation.added":
            self._set(ev, "annotation", MESSAGES)
        if t.startswith("response.image_generation_call.partial_image"):
            self._set(ev, "partial_image_b64", MESSAGES)
        return ev

    def record(self, value: Any) -> Any:
        """Any recorded body: a response, a list page, a conversation, an item."""
        if type(value) is not dict:
            return value
        obj = value.get("object")
        if obj == "response":
            return self.response(value)
        if obj == "list":
            data = value.get("data")
            if type(data) is list:
                value["data"] = [self.item(i) for i in data]
            return value
        if obj == "conversation":
            self._metadata(value)
            return value
        if obj is None and type(value.get("type")) is str:
            t = value["type"]
            return self.event(value) if t.startswith("response.") or t == "error" \
                else self.item(value)
        if obj is None and "input" in value:
            return self.request(value)
        return value


def field_names() -> tuple[str, ...]:
    """Every field a capture can redact: the ingest's (`--redact-fields`) and `messages`."""
    from steplens.transforms.schemas import CONTENT  # lazy: Polars, only when redacting

    return (*sorted(CONTENT), MESSAGES)


def make_redactor(mode: str, fields: str | tuple[str, ...] | list[str] | None,
                  key: bytes | str | None, directory: Path) -> Redactor:
    """The capture's redaction: `mode` one of the ingest's modes, `fields` a
    comma-separated list or sequence (None: every field). A wrong mode or field is a
    ValueError at construction, never at call time."""
    if mode in (None, "none"):
        return Redactor()
    from steplens.transforms.redact import MODES, digest  # lazy: Polars, only when redacting

    if mode not in MODES:
        raise ValueError(f"redact: unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    valid = field_names()
    if fields is None:
        chosen = frozenset(valid)
    else:
        names = [f.strip() for f in (fields.split(",") if isinstance(fields, str) else fields)
                 if f.strip()]
        for name in names:
            if name not in valid:
                raise ValueError(f"redact_fields: unknown field {name!r}; valid fields: "
                                 f"{', '.join(valid)}")
        chosen = frozenset(names)
    raw_key: bytes | None = None
    if mode == "hash":
        if key is not None:
            raw_key = key.encode() if isinstance(key, str) else key
        else:
            from steplens.flows.store.redaction import _key  # the ingest's key handling

            raw_key = _key(directory)
    return Redactor(mode, chosen, raw_key, digest)
