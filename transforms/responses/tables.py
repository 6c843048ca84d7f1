"""From Responses record frames to the shared tables, with `api = 'responses'`.

The contract is docs/responses.md, "Responses API and Conversations" (R10-R18). Everything here is
per response id, except two things that cross ids and are passed in: the winning copy
of each tool output (per call id, `output_copies`), and the thread of a response's
`previous_response_id` when that response is not among the ids being built
(`thread_ids`). So the rows of any set of response ids can be recomputed from all the
records of those ids, as the Assistants rows are (flows/store/rebuild.py).

The common case is vectorised: a terminal winner's own items become the steps. A
response whose winner is not terminal and has item events (a stream cut before its end)
is replayed in Python, event by event: a few per export.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import orjson
import polars as pl

from steplens.transforms import schemas
from steplens.transforms.responses import spec
from steplens.transforms.statuses import (
    RESPONSE_STATE_RANK,
    RESPONSE_TERMINAL,
    RESPONSE_TERMINAL_RANK,
)
from steplens.transforms.steps import json_valid

API = "responses"
PROVENANCE = list(schemas.PROVENANCE)
ITEM_COLUMNS = ["item_id", "type", "status", "call_id", "name", "arguments",
                "arguments_is_text", "input", "code", "code_log_chars", "code_image_count",
                "results_count", "results_max_score", "output", "error_present", "error_code",
                "error_message", "phase",
                # lengths and validity kept of redacted content (transforms/redact.py)
                *schemas.companions("response_items")]
ANSWERS = pl.Schema({"call_key": pl.String, "output": pl.String, "failed": pl.Boolean,
                     "output_chars": pl.Int64})
THREADS = pl.Schema({"run_id": pl.String, "thread_id": pl.String})
# An item's columns and where it came from: the record whose `output` held it, or the
# `output_item` event that brought it (a replayed stream); a row's provenance.
_ITEM_KEPT = [*ITEM_COLUMNS, *PROVENANCE]
HEADS = pl.Schema({"run_id": pl.String, "conversation_id": pl.String,
                   "previous_response_id": pl.String})


@dataclass
class ResponsesTables:
    """The Responses rows of the shared tables, and how their records were counted."""

    runs: pl.DataFrame
    steps: pl.DataFrame
    tool_calls: pl.DataFrame
    usage: pl.DataFrame
    sources: pl.DataFrame


# ---- tool outputs (R13) -------------------------------------------------------------------

def _output_text(canon: bytes | None) -> str | None:
    """The `function_output` text of an output's canonical bytes: a string as sent,
    other JSON as sorted JSON text (which the canonical bytes already are)."""
    if canon is None or canon in (b"null", b""):  # b"": redacted (transforms/redact.py)
        return None
    if canon[:1] == b'"':
        return orjson.loads(canon)
    return canon.decode()


def output_copies(copies: pl.DataFrame) -> pl.DataFrame:
    """`_response_outputs` rows for every call key in `copies` (which must hold all the
    copies of those keys): per key the winner is the copy whose `output` has the larger
    canonical size, then crc32, then bytes; every copy equal to it `is_winner`, and the
    first of those by provenance is `chosen`."""
    if copies.height == 0:
        return schemas.empty(schemas.RESPONSE_OUTPUT_COPIES)
    copies = schemas.with_companions(copies, "response_outputs")
    ranked = (
        copies.with_columns(
            _size=pl.col("output_canon").bin.size(),
            _crc=pl.Series([zlib.crc32(b) for b in copies["output_canon"]], dtype=pl.Int64))
        .sort(["call_key", "_size", "_crc", "output_canon", *PROVENANCE, "copy_index"],
              descending=[False, True, True, True, False, False, False, False])
    )
    first = pl.col("call_key").is_first_distinct()
    best = pl.col("output_canon").first().over("call_key")
    out = ranked.with_columns(is_winner=pl.col("output_canon") == best, chosen=first)
    return (
        out.with_columns(
            output=pl.when(first).then(pl.col("output_canon").map_elements(
                _output_text, return_dtype=pl.String)),
            failed=pl.when(first).then("failed"),
            day=pl.lit(None, dtype=pl.Date))
        .with_columns(output_chars=pl.when(first).then(pl.coalesce(
            "output_canon_chars", pl.col("output").str.len_chars().cast(pl.Int64))))
        .select(schemas.RESPONSE_OUTPUT_COPIES.names())
        .cast(dict(schemas.RESPONSE_OUTPUT_COPIES))
        .sort("call_key", *PROVENANCE, "copy_index")
    )


def answers(copy_rows: pl.DataFrame) -> pl.DataFrame:
    """(call key, output text, failed) of the chosen copy of every key."""
    return copy_rows.filter(pl.col("chosen")).select(ANSWERS.names()).cast(dict(ANSWERS))


def output_accounting(copy_rows: pl.DataFrame) -> tuple[int, int]:
    """(kept, superseded) records holding copies: kept when one of its copies wins."""
    per_record = copy_rows.group_by(PROVENANCE).agg(kept=pl.col("is_winner").any())
    kept = int(per_record["kept"].sum())
    return kept, per_record.height - kept


# ---- winners (R10-R12) --------------------------------------------------------------------

def _state_rank() -> pl.Expr:
    return (pl.when(pl.col("status").is_in(RESPONSE_TERMINAL)).then(RESPONSE_TERMINAL_RANK)
            .otherwise(pl.col("status").replace_strict(RESPONSE_STATE_RANK, default=-1,
                                                       return_dtype=pl.Int64))
            .fill_null(-1))


def _unique_events(records: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """Every stream event (lifecycle ones from `records`) with `first`: the first of its
    key by provenance (R10). Key: `sequence_number`, else the position in its file."""
    cols = [*PROVENANCE, "response_id", "seq", "pos"]
    life = records.filter(pl.col("is_event")).select(*cols, lifecycle=pl.lit(True))
    items = events.select(*cols, lifecycle=pl.lit(False))
    both = pl.concat([life, items]).with_columns(
        key_null=pl.col("seq").is_null(), key=pl.coalesce("seq", "pos"))
    ordered = both.sort("response_id", "key_null", "key", *PROVENANCE)
    return ordered.with_columns(
        first=pl.struct("response_id", "key_null", "key").is_first_distinct())


def winners(records: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """One row per response id: its winning record, whether its item events are replayed
    on it (`replay`), and the accounting of its records (`n_records`, `kept`,
    `superseded`)."""
    keyed = _unique_events(records, events)
    unique_life = keyed.filter(pl.col("lifecycle") & pl.col("first")).select(PROVENANCE)
    candidates = pl.concat([records.filter(~pl.col("is_event")),
                            records.join(unique_life, on=PROVENANCE, how="semi")])
    ranked = (
        candidates.with_columns(
            _rank=_state_rank(),
            _latest=pl.max_horizontal("created_us", "completed_us").fill_null(-1),
            _usage=pl.col("usage_present").fill_null(False))
        .sort(["response_id", "_rank", "_latest", "_usage", "canon_size", "canon_crc",
               *PROVENANCE],
              descending=[False, True, True, True, True, True, False, False, False])
    )
    best = (ranked.with_columns(n_candidates=pl.len().over("response_id"))
            .filter(pl.col("response_id").is_first_distinct())
            .drop("_rank", "_latest", "_usage"))
    counts = keyed.group_by("response_id").agg(
        n_events=pl.len(),
        n_dupes=(~pl.col("first")).sum(),
        n_items=(pl.col("first") & ~pl.col("lifecycle")).sum())
    n_bare = records.filter(~pl.col("is_event")).group_by("response_id").agg(n_bare=pl.len())
    out = (best.join(counts, on="response_id", how="full", coalesce=True)
           .join(n_bare, on="response_id", how="left")
           .with_columns(pl.col("n_candidates", "n_events", "n_dupes", "n_items", "n_bare")
                         .fill_null(0).cast(pl.Int64)))
    has_winner = pl.col("rec_file").is_not_null()
    replay = has_winner & ~pl.col("status").is_in(RESPONSE_TERMINAL).fill_null(False) & (
        pl.col("n_items") > 0)
    return out.with_columns(
        replay=replay,
        n_records=pl.col("n_bare") + pl.col("n_events"),
        kept=pl.when(has_winner).then(1 + pl.when(replay).then("n_items").otherwise(0))
        .otherwise(0),
    ).with_columns(superseded=pl.col("n_records") - pl.col("kept"))


def heads(winning: pl.DataFrame) -> pl.DataFrame:
    """What threads are made of: (run id, conversation id, previous response id)."""
    return (winning.filter(pl.col("rec_file").is_not_null())
            .select(run_id="response_id", conversation_id="conversation_id",
                    previous_response_id="previous_response_id").cast(dict(HEADS)))


def thread_ids(heads: pl.DataFrame, known: pl.DataFrame | None = None) -> pl.DataFrame:
    """R15: per response of `heads`, its conversation, else the thread of its
    `previous_response_id` when that response is in the data (recursively), else that
    id itself, else its own id; a cycle takes its smallest id. `known`: (run id, thread
    id) of responses in the data but not in `heads` (their threads are settled)."""
    recs = {r: (c, p) for r, c, p in heads.iter_rows()}
    settled = dict(known.iter_rows()) if known is not None else {}
    out: dict[str, str] = {}
    for rid in recs:
        path: list[str] = []
        cur = rid
        while True:
            if cur in out:
                thread = out[cur]
                break
            if cur not in recs:
                thread = settled.get(cur, cur)
                break
            conv, prev = recs[cur]
            if conv is not None:
                thread = conv
                break
            if prev is None:
                thread = cur
                break
            if prev in path or prev == cur:
                cycle = path[path.index(prev):] + [cur] if prev in path else [cur]
                thread = min(cycle)
                break
            path.append(cur)
            cur = prev
        out[rid] = thread
    return pl.DataFrame({"run_id": list(out), "thread_id": list(out.values())},
                        schema=THREADS)


# ---- items (R11, R16) ---------------------------------------------------------------------

def _replay(output: list[dict], events: list[dict], event_items: dict[tuple, dict]
            ) -> tuple[list[dict], tuple | None]:
    """R11: the items of a non-terminal response after its item events (in key order),
    and the latest `error` event's (code, message)."""
    items: dict = {}  # item key -> [index, order, item]
    for i, item in enumerate(output):
        key = item["item_id"] if item["item_id"] is not None else ("index", i)
        items[key] = [i, len(items), dict(item)]
    error = None
    for ev in events:
        t = ev["type"]
        if t in spec.ITEM_EVENTS:
            item = dict(event_items[ev["where"]])
            index = ev["output_index"]
            key = item["item_id"] if item["item_id"] is not None else ("index", index)
            if index is None:
                index = items[key][0] if key in items else len(items)
            order = items[key][1] if key in items else len(items)
            items[key] = [index, order, item]
            continue
        if t == "error":
            error = (ev["error_code"], ev["error_message"])
            continue
        entry = items.get(ev["item_id"])
        if entry is None:
            continue
        item = entry[2]
        if t in spec.DELTA_FIELD and (ev["delta"] is not None
                                      or ev.get("delta_chars") is not None):
            name = spec.DELTA_FIELD[t]
            before = _chars(item, name)
            if ev["delta"] is None:  # a redacted piece: the value is no longer known
                item[name] = None
                item[f"{name}_chars"] = (before or 0) + ev["delta_chars"]
            else:
                item[name] = ((item[name] or "") + ev["delta"]
                              if item[name] is not None or before is None else None)
                item[f"{name}_chars"] = (before or 0) + len(ev["delta"])
            if name == "arguments":
                item["arguments_is_text"] = True
                item["arguments_valid"] = None
        elif t in spec.DONE_FIELD and (ev["done_value"] is not None
                                       or ev.get("done_value_chars") is not None):
            name = spec.DONE_FIELD[t]
            item[name] = ev["done_value"]
            item[f"{name}_chars"] = ev.get("done_value_chars")
            if name == "arguments":
                item["arguments_is_text"] = True
                item["arguments_valid"] = ev.get("done_value_valid")
        elif (p := spec.progress(t)) is not None and item["type"] == p[0]:
            item["status"] = p[1]
    return [e[2] for e in sorted(items.values(), key=lambda e: (e[0], e[1]))], error


def _chars(item: dict, name: str) -> int | None:
    """The length of an item's field: kept when it was redacted, else its value's."""
    if item.get(f"{name}_chars") is not None:
        return item[f"{name}_chars"]
    return None if item[name] is None else len(item[name])


def _item_schema() -> dict:
    stored = schemas.STORED_FRAMES["response_items"]
    return {"response_id": pl.String, "index": pl.Int64, **{c: stored[c] for c in _ITEM_KEPT}}


def final_items(winning: pl.DataFrame, items: pl.DataFrame, events: pl.DataFrame,
                records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(items of every response in their final order, replay errors per response).

    A response that is not replayed has its winner's own items; a replayed one has the
    winner's items after its unique item events (see `_replay`)."""
    items = schemas.with_companions(items, "response_items")
    events = schemas.with_companions(events, "response_events")
    plain = winning.filter(~pl.col("replay") & pl.col("rec_file").is_not_null())
    own = (items.filter(pl.col("item_index") >= 0)
           .join(plain.select(PROVENANCE), on=PROVENANCE, how="semi")
           .select("response_id", pl.col("item_index").alias("index"), *ITEM_COLUMNS,
                   *PROVENANCE))
    replayed = winning.filter(pl.col("replay"))
    rows: list[dict] = []
    errors: list[tuple] = []
    if replayed.height:
        ids = replayed["response_id"].implode()
        keyed = _unique_events(records.filter(pl.col("response_id").is_in(ids)),
                               events.filter(pl.col("response_id").is_in(ids)))
        chosen = (events.join(keyed.filter(pl.col("first") & ~pl.col("lifecycle"))
                              .select(*PROVENANCE, "key_null", "key"), on=PROVENANCE)
                  .sort("response_id", "key_null", "key"))
        event_items = {
            (r["rec_file"], r["rec_line"], r["rec_item"]): {c: r[c] for c in _ITEM_KEPT}
            for r in items.filter((pl.col("item_index") < 0)
                                  & pl.col("response_id").is_in(ids)).iter_rows(named=True)}
        winner_items: dict[str, list[dict]] = {}
        winner_of = {(r["rec_file"], r["rec_line"], r["rec_item"]): r["response_id"]
                     for r in replayed.iter_rows(named=True)}
        for r in (items.filter(pl.col("item_index") >= 0)
                  .join(replayed.select(PROVENANCE), on=PROVENANCE, how="semi")
                  .sort(*PROVENANCE, "item_index").iter_rows(named=True)):
            rid = winner_of[(r["rec_file"], r["rec_line"], r["rec_item"])]
            winner_items.setdefault(rid, []).append({c: r[c] for c in _ITEM_KEPT})
        by_response: dict[str, list[dict]] = {}
        for r in chosen.iter_rows(named=True):
            r["where"] = (r["rec_file"], r["rec_line"], r["rec_item"])
            by_response.setdefault(r["response_id"], []).append(r)
        for rid in replayed["response_id"]:
            final, error = _replay(winner_items.get(rid, []), by_response.get(rid, []),
                                   event_items)
            rows += [{"response_id": rid, "index": i, **item} for i, item in enumerate(final)]
            if error is not None:
                errors.append((rid, True, *error))
    schema = _item_schema()
    replayed_items = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return (pl.concat([own.cast(schema), replayed_items]),
            pl.DataFrame(errors, schema={"response_id": pl.String, "has_event_error": pl.Boolean,
                                         "event_error_code": pl.String,
                                         "event_error_message": pl.String}, orient="row"))


# ---- the tables (R15-R18) -----------------------------------------------------------------

def _timestamp(col: str) -> pl.Expr:
    return pl.from_epoch(pl.col(col), time_unit="us").cast(schemas.TS)


def run_rows(winning: pl.DataFrame, threads: pl.DataFrame, errors: pl.DataFrame
             ) -> pl.DataFrame:
    terminal = pl.col("status").is_in(RESPONSE_TERMINAL).fill_null(False)
    ended = pl.when(terminal).then(pl.col("completed_us"))
    # the latest `error` event of a cut stream, when the winner has no `error` of its own
    use_event_error = ~pl.col("error_present").fill_null(False) & pl.col(
        "has_event_error").fill_null(False)
    return (
        winning.filter(pl.col("rec_file").is_not_null())
        .join(threads, left_on="response_id", right_on="run_id", how="left")
        .join(errors, on="response_id", how="left")
        .with_columns(
            api=pl.lit(API), run_id="response_id", assistant_id="prompt_id",
            created_at=_timestamp("created_us"), completed_at=_timestamp("completed_us"),
            ended_at=pl.from_epoch(ended, time_unit="us").cast(schemas.TS),
            duration_s=(ended - pl.col("created_us")) / 1e6,
            last_error_code=pl.when(use_event_error).then("event_error_code")
            .otherwise("error_code"),
            last_error_message=pl.when(use_event_error).then("event_error_message")
            .otherwise("error_message"),
            day=_timestamp("created_us").dt.date(),
        )
        .with_columns(schemas.row_provenance())
        .with_columns(pl.lit(None).alias(c) for c in (
            "started_at", "failed_at", "cancelled_at", "expires_at", "queue_s"))
        .select(schemas.RUNS.names())
        .cast(dict(schemas.RUNS))
        .sort("run_id")
    )


def _step_ids() -> pl.Expr:
    return pl.coalesce("item_id", pl.col("response_id") + ":" + pl.col("index").cast(pl.String))


def step_rows(items: pl.DataFrame, runs: pl.DataFrame) -> pl.DataFrame:
    run = runs.select("run_id", "thread_id", "assistant_id", "model", "created_at", "day")
    return (
        items.join(run, left_on="response_id", right_on="run_id", how="inner")
        .with_columns(
            api=pl.lit(API), step_id=_step_ids(), run_id="response_id",
            last_error_code="error_code", last_error_message="error_message",
            message_id=pl.when(pl.col("type") == "message").then("item_id"),
            tool_call_count=pl.col("type").str.ends_with("_call").fill_null(False)
            .cast(pl.Int64))
        .with_columns(schemas.row_provenance())
        .with_columns(pl.lit(None).alias(c) for c in (
            "completed_at", "failed_at", "cancelled_at", "expired_at", "ended_at", "latency_s",
            "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
            "reasoning_tokens", "metadata"))
        .select(schemas.STEPS.names())
        .cast(dict(schemas.STEPS))
        .sort("run_id", "step_id")
    )


def tool_call_rows(items: pl.DataFrame, runs: pl.DataFrame, answer: pl.DataFrame
                   ) -> pl.DataFrame:
    """R17: one row per item whose type ends `_call`."""
    is_output = pl.col("type").str.ends_with("_output").fill_null(False)
    key = pl.coalesce("call_id", pl.when(pl.col("type") == "local_shell_call_output")
                      .then("item_id"))
    same = (items.filter(is_output).with_columns(call_key=key)
            .filter(pl.col("call_key").is_not_null())
            .sort("response_id", "index")
            .unique(["response_id", "call_key"], keep="first", maintain_order=True)
            .select("response_id", "call_key", same_output="output",
                    same_output_chars=schemas.content_chars("output"),
                    same_failed=pl.col("status") == "failed"))
    answered = answer.select("call_key", copy_output="output", copy_failed="failed",
                             copy_output_chars="output_chars", has_copy=pl.lit(True))
    kind = pl.col("type").str.strip_suffix("_call").str.strip_suffix("_tool")
    ci, fs, custom = kind == "code_interpreter", kind == "file_search", kind == "custom"
    args_valid = (pl.when(custom | (pl.col("arguments").is_null()
                                    & pl.col("arguments_chars").is_null())).then(None)
                  .when(~pl.col("arguments_is_text")).then(True)
                  .otherwise(pl.coalesce("arguments_valid", pl.col("arguments").map_batches(
                      json_valid, return_dtype=pl.Boolean))))
    # the item's own output when it has one (even redacted), else the call's answer
    own_output = pl.col("output").is_not_null() | pl.col("output_chars").is_not_null()
    has_copy = pl.col("has_copy").fill_null(False)
    answer_output = pl.when(has_copy).then("copy_output").otherwise("same_output")
    answer_failed = pl.when(has_copy).then("copy_failed").otherwise("same_failed")
    answer_chars = pl.when(has_copy).then("copy_output_chars").otherwise("same_output_chars")
    run = runs.select("run_id", "thread_id", "assistant_id", "model", "created_at", "day")
    calls = items.filter(pl.col("type").str.ends_with("_call").fill_null(False))
    return (
        calls.join(run, left_on="response_id", right_on="run_id", how="inner")
        .join(answered, left_on="call_id", right_on="call_key", how="left")
        .join(same, left_on=["response_id", "call_id"], right_on=["response_id", "call_key"],
              how="left")
        .with_columns(
            api=pl.lit(API), tool_call_id=pl.coalesce("call_id", "item_id"),
            step_id=_step_ids(), run_id="response_id", call_index="index", type=kind,
            function_name="name",
            function_arguments=pl.when(custom).then("input").otherwise("arguments"),
            function_output=pl.when(own_output).then("output").otherwise(answer_output),
            arguments_valid_json=args_valid,
            code_input=pl.when(ci).then("code"),
            function_arguments_chars=pl.when(custom).then(schemas.content_chars("input"))
            .otherwise(schemas.content_chars("arguments")),
            function_output_chars=pl.when(own_output).then(schemas.content_chars("output"))
            .otherwise(answer_chars),
            code_input_chars=pl.when(ci).then(schemas.content_chars("code")),
            code_log_chars=pl.when(ci).then("code_log_chars"),
            code_image_count=pl.when(ci).then("code_image_count"),
            file_search_result_count=pl.when(fs).then("results_count"),
            file_search_max_score=pl.when(fs).then("results_max_score"),
            step_status="status", step_type=pl.col("type"),
            call_failed=(pl.col("status") == "failed").fill_null(False)
            | pl.col("error_present").fill_null(False) | answer_failed.fill_null(False))
        .with_columns(schemas.row_provenance())
        .select(schemas.TOOL_CALLS.names())
        .cast(dict(schemas.TOOL_CALLS))
        .sort("run_id", "call_index")
    )


def usage_rows(winning: pl.DataFrame, runs: pl.DataFrame) -> pl.DataFrame:
    """R18: one row per response whose `usage` is an object."""
    reported = winning.filter(pl.col("usage_present").fill_null(False)).select(
        run_id="response_id")
    return (
        runs.join(reported, on="run_id", how="semi")
        .with_columns(step_id=pl.lit(None, dtype=pl.String), type=pl.lit("response"))
        .select(schemas.USAGE.names())
        .cast(dict(schemas.USAGE))
        .sort("run_id")
    )


def source_rows(winning: pl.DataFrame, runs: pl.DataFrame) -> pl.DataFrame:
    return (
        winning.select(run_id="response_id", n_records="n_records", kept="kept",
                       superseded="superseded")
        .join(runs.select("run_id", "day"), on="run_id", how="left")
        .select(schemas.RESPONSE_SOURCES.names())
        .cast(dict(schemas.RESPONSE_SOURCES))
        .sort("run_id")
    )


def build(records: pl.DataFrame, items: pl.DataFrame, events: pl.DataFrame,
          answer: pl.DataFrame, threads: pl.DataFrame | None = None) -> ResponsesTables:
    """Every Responses row of the response ids in `records`/`events` (all of their
    records must be there). `answer`: the chosen output copy per call key (`answers`);
    `threads`: thread ids per response (None: computed from these records alone)."""
    winning = winners(records, events)
    if threads is None:
        threads = thread_ids(heads(winning))
    final, errors = final_items(winning, items, events, records)
    runs = run_rows(winning, threads, errors)
    return ResponsesTables(
        runs=runs,
        steps=step_rows(final, runs),
        tool_calls=tool_call_rows(final, runs, answer),
        usage=usage_rows(winning, runs),
        sources=source_rows(winning, runs),
    )
