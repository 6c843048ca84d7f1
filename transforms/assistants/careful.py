"""The careful path of the Assistants records: a parsed step, run or delta, checked by
the rulebook against its spec (`spec.py`) and extracted into the rows of the record
frames.

It reads what the fast path (`fast.py`) declines, and everything with `careful=True`;
it is the only place that decides an Assistants reject and its reason (the dispatch by
shape, list pages and envelopes are `transforms/parse.py`'s, for both APIs). Both paths
give identical frames (tests/transforms/test_decode.py).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from steplens.transforms import config, rulebook
from steplens.transforms.assistants import spec

_SORT = orjson.OPT_SORT_KEYS
_EMPTY: dict = {}

SPECS = {"thread.run.step": spec.STEP, "thread.run": spec.RUN,
         "thread.run.step.delta": spec.DELTA}


class ExtractorBug(RuntimeError):
    """An extractor failed on a record its spec accepted: a bug in steplens, not bad
    input, so it is raised (tests fail; the command shows a bug), never a reject."""


class BadRecord(ValueError):
    """A record that cannot be kept; the message is the reason shown in `rejects`."""


# ---- extraction (after `rulebook.check`; a surprise raises) -------------------------

def _dict(v: object) -> dict:
    """`v` if it is an object, {} for null; anything else raises (-> careful check)."""
    if v is None:
        return _EMPTY
    if v.__class__ is not dict:
        raise BadRecord
    return v


def _array(v: object) -> list | tuple:
    if v is None:
        return ()
    if v.__class__ is not list:
        raise BadRecord
    return v


def _metadata(o: dict) -> str | None:
    m = o.get("metadata")
    if m is None:
        return None
    if m.__class__ is not dict:
        raise BadRecord
    return orjson.dumps(m, option=_SORT).decode()


def _usage(o: dict) -> tuple:
    """(usage_present, prompt, completion, total, cached, reasoning)."""
    u = o.get("usage")
    if u is None:
        return (False, None, None, None, None, None)
    if u.__class__ is not dict:
        raise BadRecord
    spelled = _dict(u.get("prompt_token_details"))  # how the API spells it
    other = _dict(u.get("prompt_tokens_details"))
    cached = spelled.get("cached_tokens")
    if cached is None:
        cached = other.get("cached_tokens")
    return (True, u.get("prompt_tokens"), u.get("completion_tokens"), u.get("total_tokens"),
            cached, _dict(u.get("completion_tokens_details")).get("reasoning_tokens"))


def _call(call: dict) -> tuple:
    """(id, type, name, arguments, output, code input, outputs, file_search result count,
    best file_search score)"""
    fn = _dict(call.get("function"))
    ci = _dict(call.get("code_interpreter"))
    results = _dict(call.get("file_search")).get("results")
    count = best = None
    if results is not None:
        if results.__class__ is not list:
            raise BadRecord
        count = len(results)
        scores = [s for s in (r.get("score") for r in results) if s is not None]
        if scores:
            best = float(max(scores))
    return (call.get("id"), call.get("type"), fn.get("name"), fn.get("arguments"),
            fn.get("output"), ci.get("input"), _array(ci.get("outputs")), count, best)


def _code_outputs(outputs: list | tuple) -> tuple[int, int]:
    """(log characters, image count) of code-interpreter outputs."""
    chars = images = 0
    for out in outputs:
        kind = out.get("type")
        if kind == "logs":
            logs = out.get("logs")
            if logs is not None:
                chars += len(logs)
        elif kind == "image":
            images += 1
    return chars, images


def _step(o: dict) -> list[tuple[str, list[tuple]]]:
    g = o.get
    details = _dict(g("step_details"))
    creation = _dict(details.get("message_creation"))
    calls = []
    for i, call in enumerate(_array(details.get("tool_calls"))):
        call_id, kind, name, args, output, code, outputs, results, score = _call(call)
        chars, images = _code_outputs(outputs)
        calls.append((o["id"], i, call_id, kind, name, args, output, code, chars, images,
                      results, score))
    error = _dict(g("last_error"))
    step = (
        g("id"), g("run_id"), g("thread_id"), g("assistant_id"), g("type"), g("status"),
        g("created_at"), g("completed_at"), g("failed_at"), g("cancelled_at"),
        g("expired_at"), error.get("code"), error.get("message"), creation.get("message_id"),
        *_usage(o), _metadata(o),
    )
    return [("step_records", [step]), ("tool_call_records", calls)]


def _run(o: dict) -> list[tuple[str, list[tuple]]]:
    g = o.get
    error = _dict(g("last_error"))
    run = (
        g("id"), g("thread_id"), g("assistant_id"), g("model"), g("status"),
        g("created_at"), g("started_at"), g("completed_at"), g("failed_at"),
        g("cancelled_at"), g("expires_at"), error.get("code"), error.get("message"),
        _dict(g("incomplete_details")).get("reason"),
        *_usage(o), _metadata(o), *config.assistants(g),
    )
    return [("run_records", [run])]


def _delta(o: dict) -> list[tuple[str, list[tuple]]]:
    step_id = o["id"]
    details = _dict(_dict(o.get("delta")).get("step_details"))
    calls, outputs = [], []
    for pos, call in enumerate(_array(details.get("tool_calls"))):
        index = call.get("index")
        index = pos if index is None else index
        call_id, kind, name, args, output, code, outs, results, score = _call(call)
        for opos, out in enumerate(outs):
            oindex = out.get("index")
            outputs.append((opos, step_id, index, opos if oindex is None else oindex,
                            out.get("type"), out.get("logs"),
                            _dict(out.get("image")).get("file_id")))
        calls.append((pos, step_id, index, call_id, kind, name, args, output, code, results,
                      score))
    event = (step_id, details.get("type"),
             _dict(details.get("message_creation")).get("message_id"))
    return [("delta_events", [event]), ("delta_calls", calls), ("delta_outputs", outputs)]


EXTRACTORS: dict[str, Callable] = {
    "thread.run.step": _step,
    "thread.run": _run,
    "thread.run.step.delta": _delta,
}


def records(kind: str, o: dict, prefix: str, where: str) -> list[tuple[str, list[tuple]]]:
    """The rows of a `kind` record `o` (a key of `EXTRACTORS`), by frame name.

    Raises `BadRecord` (its message the reason, `prefix` before it) when the record
    breaks its spec or its extraction finds bad input, and `ExtractorBug` (naming
    `where`, the file and line) when an extractor fails on a record the rulebook accepted.
    """
    extract = EXTRACTORS[kind]
    reason = rulebook.check(o, SPECS[kind])
    if reason is not None:
        raise BadRecord(f"{prefix}{reason}")
    try:
        return extract(o)
    except BadRecord as e:  # a judgement of the input, made while extracting
        raise BadRecord(f"{prefix}{e or 'unexpected shape'}") from None
    except orjson.JSONEncodeError:  # a value kept as JSON text: orjson writes 255 levels
        raise BadRecord(f"{prefix}nested too deep to store (over 255 levels)") from None
    except Exception as e:
        # The rulebook accepted the record, so the extractor must read it: this is a
        # bug of ours, never bad input (not a reject): it stops the parse, naming the
        # record, and the command reports it as a bug.
        raise ExtractorBug(f"{where}: the {kind} extractor failed on a record the "
                           f"rulebook accepted ({type(e).__name__}: {e})") from e
