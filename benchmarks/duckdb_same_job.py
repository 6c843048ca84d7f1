"""The same job as `steplens ingest`, done by DuckDB alone: the honest baseline (issue 23).

Same inputs (Assistants API exports: JSON lines, gzip, raw SSE text, list pages, stream
envelopes, bare deltas), same winner rules (docs/ingest.md "De-duplication", "Streams and
deltas", "Input"), same public tables with the same columns as `transforms/schemas.py`:
`runs`, `steps`, `tool_calls`, `usage`, `rejects`, written as Parquet (zstd).

All record work is DuckDB SQL: reading and numbering the lines, cutting SSE blocks,
validating JSON, the type checks that decide a reject and its reason, unwrapping list
pages and envelopes, the typed decode (`json_transform`), de-duplication by the five
stages, delta reassembly with duplicate-stream detection, and the tables. Python only
lists the files, sorts them into the four kinds DuckDB must read differently (JSON
lines or raw SSE, gzip or not, judged per file by its first bytes) and sends the SQL.

It is written from the README contract, not from steplens' code, and it is held equal to
steplens on small generated exports by `tests/test_duckdb_same_job.py`; the few places
where it differs on purpose are listed in `DIFFERENCES` (and in benchmarks/README.md).

    .venv/bin/python benchmarks/duckdb_same_job.py OUT_DIR INPUT... [--threads N]

prints one JSON line: seconds, per-statement wall and CPU seconds, row counts, and how
many Responses-shaped values it left out.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

# Where this script's tables legitimately differ from steplens' (kept as short as it can
# be; tests/test_duckdb_same_job.py compares everything else exactly).
DIFFERENCES = {
    "rejects.reason": "for invalid JSON only the prefix `invalid JSON` (`invalid JSON in "
                      "SSE data` for SSE) is the same: the rest of steplens' reason is "
                      "orjson's error message (position, what was expected), which "
                      "DuckDB's json_valid does not give",
}
# Rules this script does not implement (none occurs in the generated Assistants exports
# the benchmark and the test use; each would change rows if it did):
NOT_COVERED = (
    "Responses API and billing records (read as skipped here)",
    "a `.json` file holding one pretty-printed document",
    "list pages nested in list pages (one level of pages only)",
    "JSON that DuckDB and orjson read differently beyond trailing commas and NaN/Infinity "
    "(handled): duplicate keys, numbers that overflow to infinity (1e999), integers "
    "beyond 64 bits, invalid UTF-8, nesting deeper than 255 levels",
    "an instructions value that is a list (hashed from orjson's canonical bytes)",
)

MAX_TS = 253402300799
TERMINAL_STEP = ("completed", "failed", "cancelled", "expired", "incomplete")
TERMINAL_RUN = ("completed", "incomplete", "failed", "cancelled", "expired")
RUN_RANK = {"queued": 0, "in_progress": 1, "requires_action": 2, "cancelling": 3}
STEP_EVENTS = ("thread.run.step.created", "thread.run.step.in_progress",
               "thread.run.step.completed", "thread.run.step.failed",
               "thread.run.step.cancelled", "thread.run.step.expired")

# ---- the type rules (docs/ingest.md "Input": known fields), as nested literals ----------------
# "id" a required string; "str", "int", "ts" (integer 0..MAX_TS), "num", "obj" leaves;
# a dict is "an object or null with these fields"; a one-item list "an array or null of
# such objects". Order matters: the first field that breaks names the reject.
_TS = {k: "ts" for k in ("created_at", "started_at", "completed_at", "failed_at",
                         "cancelled_at", "expired_at", "expires_at")}
_USAGE = {"prompt_tokens": "int", "completion_tokens": "int", "total_tokens": "int",
          "prompt_token_details": {"cached_tokens": "int"},
          "prompt_tokens_details": {"cached_tokens": "int"},
          "completion_tokens_details": {"reasoning_tokens": "int"}}
_ERROR = {"code": "str", "message": "str"}
_OUTPUT = {"type": "str", "logs": "str", "image": {"file_id": "str"}}
_CALL = {"id": "str", "type": "str",
         "function": {"name": "str", "arguments": "str", "output": "str"},
         "code_interpreter": {"input": "str", "outputs": [_OUTPUT]},
         "file_search": {"results": [{"score": "num"}]}}
_DELTA_CALL = {"id": "str", "type": "str",
               "function": {"name": "str", "arguments": "str", "output": "str"},
               "code_interpreter": {"input": "str", "outputs": [{**_OUTPUT, "index": "int"}]},
               "file_search": {"results": [{"score": "num"}]}, "index": "int"}
SPECS = {
    "step": {"id": "id", "run_id": "str", "thread_id": "str", "assistant_id": "str",
             "type": "str", "status": "str", **_TS, "last_error": _ERROR, "usage": _USAGE,
             "metadata": "obj",
             "step_details": {"type": "str", "message_creation": {"message_id": "str"},
                              "tool_calls": [_CALL]}},
    "run": {"id": "id", "thread_id": "str", "assistant_id": "str", "model": "str",
            "status": "str", **_TS, "last_error": _ERROR,
            "incomplete_details": {"reason": "str"}, "usage": _USAGE, "metadata": "obj"},
    "delta": {"id": "id", "delta": {"step_details": {
        "type": "str", "message_creation": {"message_id": "str"},
        "tool_calls": [_DELTA_CALL]}}},
}


def _crc_table() -> list[int]:
    """The 256 constants of CRC-32 (zlib's polynomial): stage 5 of the ranking is the
    crc32 of the canonical bytes, and DuckDB has no crc32 function, so a macro computes
    it from this table (only for records tied on stages 1 to 4: a few per thousand)."""
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (0xEDB88320 ^ (c >> 1)) if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def q(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _paths(spec: dict, base: str = "$") -> list[tuple[str, object]]:
    """(json path, rule) of every field reachable without entering an array, in order."""
    out = []
    for key, sub in spec.items():
        path = f"{base}.{key}"
        out.append((path, sub))
        if isinstance(sub, dict):
            out.extend(_paths(sub, path))
    return out


def check_sql(spec: dict, x: str, where: str, depth: int = 0,
              arrays: dict[str, str] | None = None) -> str:
    """An SQL expression: the first field of JSON value `x` that breaks `spec`, as
    `path: reason` (the path prefixed by the SQL string expression `where`), or NULL.

    One `json_type` call with every fixed path parses `x` once; arrays of objects are
    checked item by item with a lambda (each item parsed once more). `arrays`: SQL
    expressions that already hold the items of an array path (from the typed decode),
    so that `x` is not parsed again to find them."""
    paths = _paths(spec)
    d = depth
    index = {p: k + 1 for k, (p, _) in enumerate(paths)}
    jt = f"json_type({x}, [{', '.join(q(p) for p, _ in paths)}])"

    def node(spec: dict, base: str) -> str:
        parts = []
        for key, sub in spec.items():
            path = f"{base}.{key}"
            name = path[2:]
            t = f"_s{d}.jt[{index[path]}]"
            at = f"{where} || {q(name)}"
            absent = f"{t} is null or {t} = 'NULL'"
            got = f"{at} || ': expected {{}}, got ' || tn({t})"
            if sub == "id":
                parts.append(f"case when {absent} then {at} || ': expected string, got null' "
                             f"when {t} <> 'VARCHAR' then {got.format('string')} end")
            elif sub == "str":
                parts.append(f"case when {absent} then null when {t} <> 'VARCHAR' "
                             f"then {got.format('string')} end")
            elif sub == "int":  # json_type says UBIGINT for any integer >= 0
                v = f"json_extract_string(_s{d}.x, {q(path)})"
                parts.append(f"case when {absent} or {t} = 'BIGINT' then null "
                             f"when {t} = 'UBIGINT' then case when {v}::hugeint < {1 << 63} "
                             f"then null else {at} || ': integer out of range (' || {v} "
                             "|| '; must be -2^63..2^63-1)' end "
                             f"else {got.format('integer')} end")
            elif sub == "num":
                parts.append(f"case when {absent} or {t} in ('BIGINT', 'UBIGINT', 'DOUBLE') "
                             f"then null else {got.format('number')} end")
            elif sub == "obj":
                parts.append(f"case when {absent} or {t} = 'OBJECT' then null "
                             f"else {got.format('object')} end")
            elif sub == "ts":
                v = f"json_extract_string(_s{d}.x, {q(path)})"
                parts.append(
                    f"case when {absent} then null "
                    f"when {t} in ('BIGINT', 'UBIGINT') then "
                    f"case when {v}::hugeint between 0 and {MAX_TS} then null "
                    f"else {at} || ': timestamp out of range (' || {v} "
                    f"|| '; must be 0..{MAX_TS})' end "
                    f"else {got.format('integer Unix seconds')} end")
            elif isinstance(sub, dict):
                parts.append(f"case when {absent} then null when {t} <> 'OBJECT' "
                             f"then {got.format('object')} else {node(sub, path)} end")
            elif isinstance(sub, list):
                items = (arrays or {}).get(path) or f"json_extract(_s{d}.x, {q(path + '[*]')})"
                i, k = f"_i{d}", f"_k{d}"
                inner = check_sql(sub[0], i, "''", d + 1)
                item_reason = (f"case when json_type({i}) <> 'OBJECT' then "
                               f"'[' || ({k} - 1) || ']: expected object, got ' "
                               f"|| tn(json_type({i})) "
                               f"else '[' || ({k} - 1) || '].' || ({inner}) end")
                first = (f"list_filter(list_transform({items}, lambda {i}, {k}: "
                         f"{item_reason}), lambda _r{d}: _r{d} is not null)[1]")
                parts.append(f"case when {absent} then null when {t} <> 'ARRAY' "
                             f"then {got.format('array')} else {at} || ({first}) end")
            else:
                raise AssertionError(sub)
        return f"coalesce({', '.join(parts)})"

    body = node(spec, "$")
    if depth == 0:  # the caller binds `_s0` as a column: check_bind(spec, x)
        return body
    # bind an item and its types once: a one-element list through a lambda
    return (f"list_transform([{{'x': {x}, 'jt': {jt}}}], lambda _s{d}: {body})[1]")


def check_bind(spec: dict, x: str) -> str:
    """The `_s0` column `check_sql(spec, ..., depth=0)` reads: `x` and its JSON types."""
    paths = _paths(spec)
    return f"{{'x': {x}, 'jt': json_type({x}, [{', '.join(q(p) for p, _ in paths)}])}}"


# ---- typed decode (after the checks: every value is of its declared type) -------------
def _ty(d: dict) -> str:
    return json.dumps(d, separators=(",", ":"))


_USAGE_T = {"prompt_tokens": "BIGINT", "completion_tokens": "BIGINT",
            "total_tokens": "BIGINT",
            "prompt_token_details": {"cached_tokens": "BIGINT"},
            "prompt_tokens_details": {"cached_tokens": "BIGINT"},
            "completion_tokens_details": {"reasoning_tokens": "BIGINT"}}
_TS_T = dict.fromkeys(_TS, "BIGINT")
STEP_T = _ty({"id": "VARCHAR", "run_id": "VARCHAR", "thread_id": "VARCHAR",
              "assistant_id": "VARCHAR", "type": "VARCHAR", "status": "VARCHAR", **_TS_T,
              "last_error": {"code": "VARCHAR", "message": "VARCHAR"}, "usage": _USAGE_T,
              "metadata": "JSON",
              "step_details": {"message_creation": {"message_id": "VARCHAR"},
                               "tool_calls": ["JSON"]}})
RUN_T = _ty({"id": "VARCHAR", "thread_id": "VARCHAR", "assistant_id": "VARCHAR",
             "model": "VARCHAR", "status": "VARCHAR", **_TS_T,
             "last_error": {"code": "VARCHAR", "message": "VARCHAR"},
             "incomplete_details": {"reason": "VARCHAR"}, "usage": _USAGE_T,
             "metadata": "JSON", "instructions": "JSON", "tools": "JSON",
             "temperature": "JSON", "top_p": "JSON", "response_format": "JSON",
             "reasoning_effort": "JSON"})
DELTA_T = _ty({"id": "VARCHAR", "delta": {"step_details": {
    "type": "VARCHAR", "message_creation": {"message_id": "VARCHAR"},
    "tool_calls": ["JSON"]}}})
CALL_T = _ty({"id": "VARCHAR", "type": "VARCHAR", "index": "BIGINT",
              "function": {"name": "VARCHAR", "arguments": "VARCHAR", "output": "VARCHAR"},
              "code_interpreter": {"input": "VARCHAR", "outputs": [
                  {"type": "VARCHAR", "logs": "VARCHAR", "index": "BIGINT",
                   "image": {"file_id": "VARCHAR"}}]},
              "file_search": {"results": "JSON"}})


# ---- files ---------------------------------------------------------------------------
def classify(files: list[str]) -> dict[str, list[str]]:
    """The four kinds DuckDB reads differently: {json,sse} x {plain,gzip}, judged per file
    (gzip by its magic bytes, raw SSE by a `.sse` name or a first non-blank line that
    starts `event:`, `data:` or `:`)."""
    out: dict[str, list[str]] = {"json": [], "json_gz": [], "sse": [], "sse_gz": []}
    for path in files:
        with open(path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
        sse = path.lower().removesuffix(".gz").endswith(".sse")
        if not sse:
            with gzip.open(path, "rb") if gz else open(path, "rb") as f:  # noqa: SIM115
                for line in f:
                    if line.strip():
                        sse = line.removeprefix(b"\xef\xbb\xbf").startswith(
                            (b"event:", b"data:", b":"))
                        break
        out[("sse" if sse else "json") + ("_gz" if gz else "")].append(path)
    return out


def _read(files: list[str], gz: bool) -> str:
    """Every line of `files` as one VARCHAR `t`, with its file `f` and line number `n`
    (one scan in file order; insertion order is kept, so row_number() follows it)."""
    flist = "[" + ", ".join(q(f) for f in files) + "]"
    scan = (f"read_csv({flist}, columns = {{'t': 'VARCHAR'}}, delim = '\x1f', quote = '', "
            "escape = '', header = false, auto_detect = false, filename = true, "
            f"compression = '{'gzip' if gz else 'none'}', max_line_size = 1073741824, "
            "strict_mode = false, null_padding = false)")
    return (f"select filename as f, t, row_number() over () as rn from {scan}")


def statements(groups: dict[str, list[str]], out_dir: str) -> list[tuple[str, str]]:
    """The whole job: (name, SQL) in order."""
    s: list[tuple[str, str]] = []
    ws = q(" \t\n\r\x0b\x0c")
    s.append(("macros", f"""
create or replace temp macro tn(t) as case t when 'VARCHAR' then 'string'
    when 'BIGINT' then 'integer' when 'UBIGINT' then 'integer' when 'DOUBLE' then 'number'
    when 'BOOLEAN' then 'boolean' when 'OBJECT' then 'object' when 'ARRAY' then 'array'
    when 'NULL' then 'null' else lower(t) end;
create or replace temp macro strip(t) as trim(t, {ws});
create or replace temp macro ts(v) as make_timestamp(v * 1000000);
create or replace temp macro sj(j) as to_json(j)::varchar;
create or replace temp macro crc32_hex(h) as xor(list_reduce(
    list_transform(range(0, strlen(h) // 2),
                   lambda i: ('0x' || substr(h, 2 * i + 1, 2))::bigint),
    lambda c, b: xor(c >> 8, {_CRC_TABLE}[(xor(c, b) & 255) + 1]),
    4294967295::bigint), 4294967295::bigint);
create or replace temp macro crc32(s) as crc32_hex(hex(s));
"""))
    # 1. lines, numbered per file --------------------------------------------------------
    s.append(("order_on", "set preserve_insertion_order = true"))
    for kind in ("json", "json_gz", "sse", "sse_gz"):
        files = groups.get(kind) or []
        body = (_read(files, kind.endswith("_gz")) if files
                else "select null::varchar f, null::varchar t, null::bigint rn where false")
        s.append((f"lines_{kind}", f"create temp table raw_{kind} as {body}"))
    s.append(("number", """
create temp table jl as
select f, rn - min(rn) over (partition by f) + 1 as n, t from raw_json
union all
select f, rn - min(rn) over (partition by f) + 1 as n, t from raw_json_gz;
create temp table sl as
select f, rn - min(rn) over (partition by f) + 1 as n, t from raw_sse
union all
select f, rn - min(rn) over (partition by f) + 1 as n, t from raw_sse_gz;
drop table raw_json; drop table raw_json_gz; drop table raw_sse; drop table raw_sse_gz
"""))
    s.append(("order_off", "set preserve_insertion_order = false"))
    # 2. SSE blocks: blank lines end a block; data: lines joined; [DONE] dropped -------
    s.append(("sse_blocks", """
create temp table sse as
with l as (
    select f, n, case when n = 1 then regexp_replace(rtrim(coalesce(t, ''), chr(13)),
                                                    '^\\x{FEFF}', '')
                      else rtrim(coalesce(t, ''), chr(13)) end as line
    from sl
),
c as (
    select f, n, line,
           sum((strip(line) = '')::int) over (partition by f order by n
                                              rows unbounded preceding) as blk
    from l
),
d as (
    select f, n, blk,
           case when starts_with(line, 'data:') then
               case when substr(line, 6, 1) = ' ' then substr(line, 7) else substr(line, 6) end
           end as v,
           case when starts_with(line, 'event:') then
               strip(case when substr(line, 7, 1) = ' ' then substr(line, 8)
                          else substr(line, 7) end)
           end as ev
    from c where strip(line) <> ''
),
b as (
    select f, blk, min(n) filter (where v is not null) as n,
           last(ev order by n) filter (where ev is not null) as event,
           string_agg(v, chr(10) order by n) filter (
               where v is not null and not (left(v, 1) <> '{' and strip(v) = '[DONE]'))
               as data,
           bool_or(v is not null) as any_data
    from d group by f, blk
)
select f, n, event, coalesce(data, '[DONE]') as data from b where any_data
"""))
    # 3. records: a line, a list-page item or an SSE block, as a JSON object or a reject -
    # DuckDB's json_valid also takes trailing commas and NaN/Infinity, which JSON (and
    # steplens) refuse: lines that hold such a token outside strings are invalid too (a
    # cheap pattern first, the string-aware one only on the lines it flags).
    bad = r",\s*[\]}]|[:\[,]\s*-?(?i:nan|inf)"
    outside = r'^(?:[^"]|"(?:[^"\\]|\\.)*")*?'  # any prefix that ends outside a string
    s.append(("valid", f"""
create temp table vals as
with l as (
    select f, n, case when n = 1 then regexp_replace(t, '^\\x{{FEFF}}', '') else t end as t
    from jl where t is not null
),
t as (   -- JSON takes the whitespace around a value: strip only the lines it refuses
    select f, n, case when json_valid(t) then t else strip(t) end as text,
           null::varchar as event, false as sse from l
    union all
    select f, n, strip(data) as text, event, true as sse from sse
)
select f, n, text, event, sse,
       json_valid(text) and not (
           regexp_matches(text, '{bad}')
           and regexp_matches(text, '{outside}(?:{bad})'))
           as ok
from t where case when sse then text <> '[DONE]' else text <> '' end
"""))
    # top-level values: bare (no event) or an SSE envelope built around its data. Every
    # shape question about a value is answered by one multi-path json_type call and one
    # json_extract_string call (each parses the value once).
    shape = ("json_type({x}, ['$', '$.object', '$.data', '$.event', '$.data.object']) as ty, "
             "json_extract_string({x}, ['$.object', '$.event', '$.data.object']) as sv")
    s.append(("values", f"""
create temp table v as
select f, n, -1::bigint as item, '' as prefix, raw, j, {shape.format(x='j')}
from (select f, n, text as raw,
             case when sse and event is not null
                  then json_object('event', event,
                                   'data', case when text = '' then null::json
                                                else text::json end)::varchar
                  else text end as j
      from vals where ok or (sse and event is not null and text = ''));
create temp table rejects_pre as
select f as source_file, n as line_no,
       case when sse and text = '' then 'expected object, got null'
            when sse then 'invalid JSON in SSE data' else 'invalid JSON' end as reason,
       text as raw
from vals where not ok and not (sse and event is not null and text = '')
"""))
    # list pages (`object` "list" with a `data` key): items read as if they were lines
    page = ("coalesce(ty[1] = 'OBJECT' and ty[2] = 'VARCHAR' and sv[1] = 'list' "
            "and ty[3] is not null, false)")
    s.append(("pages", f"""
create temp table recs0 as
select f, n, item, prefix, raw, j, ty, sv from v where not {page}
union all
select f, n, k - 1 as item, 'data[' || (k - 1) || ']: ' as prefix, x as raw, x as j,
       {shape.format(x='x')}
from (select f, n, unnest(l)::varchar as x, generate_subscripts(l, 1) as k
      from (select f, n, json_extract(j, '$.data[*]') as l from v
            where {page} and ty[3] = 'ARRAY'));
insert into rejects_pre
select f, n, 'data: expected array, got ' || tn(ty[3]), raw
from v where {page} and ty[3] <> 'ARRAY';
insert into rejects_pre
select f, n, prefix || 'expected object, got ' || tn(ty[1]), raw
from recs0 where ty[1] <> 'OBJECT'
"""))
    events = ", ".join(q(e) for e in STEP_EVENTS)
    kind_of = ("case {v} when 'thread.run.step' then 'step' when 'thread.run' then 'run' "
               "when 'thread.run.step.delta' then 'delta' end")
    # envelopes ({"event", "data"} without "object") unwrap to their data
    env = "(ty[1] = 'OBJECT' and ty[4] is not null and ty[2] is null)"
    s.append(("dispatch", f"""
create temp table recs as
select f, n, item, prefix, raw, j as r,
       case when ty[2] = 'VARCHAR' then {kind_of.format(v='sv[1]')} end as kind
from recs0 where ty[1] = 'OBJECT' and not {env}
union all
select f, n, item, prefix || 'data.', raw, json_extract(j, '$.data')::varchar,
       case when ty[5] is null or ty[5] = 'NULL' then
                case when sv[2] = 'thread.run.step.delta' then 'delta'
                     when sv[2] in ({events}) then 'step'
                     when starts_with(sv[2], 'thread.run.') then 'run' end
            when ty[5] = 'VARCHAR' then {kind_of.format(v='sv[3]')}
       end
from recs0 where {env} and ty[4] = 'VARCHAR' and ty[3] = 'OBJECT';
insert into rejects_pre
select f, n, prefix || 'event: expected string, got ' || tn(ty[4]), raw
from recs0 where {env} and ty[4] <> 'VARCHAR';
insert into rejects_pre
select f, n, prefix || 'data: expected object, got ' || tn(coalesce(ty[3], 'NULL')), raw
from recs0
where {env} and ty[4] = 'VARCHAR' and coalesce(ty[3], 'NULL') <> 'OBJECT'
  and starts_with(sv[2], 'thread.run.')
"""))
    # 4. checks and typed decode per kind -------------------------------------------------
    for kind, ty in (("step", STEP_T), ("run", RUN_T), ("delta", DELTA_T)):
        arrays = {"step": {"$.step_details.tool_calls": "o.step_details.tool_calls"},
                  "delta": {"$.delta.step_details.tool_calls":
                            "o.delta.step_details.tool_calls"}}.get(kind)
        check = check_sql(SPECS[kind], "r", "prefix", arrays=arrays)
        usage_at = ([p for p, _ in _paths(SPECS[kind])].index("$.usage") + 1
                    if "usage" in SPECS[kind] else "null")
        s.append((f"check_{kind}", f"""
create temp table c_{kind} as
select f, n, item, raw, {check} as reason, o,
       _s0.jt[{usage_at}] = 'OBJECT' as usage_present
from (select *, {check_bind(SPECS[kind], "r")} as _s0, json_transform(r, {q(ty)}) as o
      from recs where kind = '{kind}');
insert into rejects_pre select f, n, reason, raw from c_{kind} where reason is not null;
delete from c_{kind} where reason is not null
"""))
    s.append(("rejects", f"""
copy (select source_file, line_no, reason, substr(strip(raw), 1, 4096) as raw from rejects_pre
      order by source_file, line_no, reason)
to {q(out_dir + '/rejects.parquet')} (format parquet, compression zstd)
"""))
    # 5. record frames ---------------------------------------------------------------------
    usage = """
usage_present, o.usage.prompt_tokens, o.usage.completion_tokens, o.usage.total_tokens,
coalesce(o.usage.prompt_token_details.cached_tokens,
         o.usage.prompt_tokens_details.cached_tokens) as cached_tokens,
o.usage.completion_tokens_details.reasoning_tokens as reasoning_tokens,
case when o.metadata is null or json_type(o.metadata) = 'NULL' then null
     else sj(map_from_entries(list_sort(map_entries(
              json_transform(o.metadata, '"MAP(VARCHAR, JSON)"'))))) end as metadata"""
    s.append(("step_records", f"""
create temp table step_rec as
select f, n, item, o.id as step_id, o.run_id, o.thread_id, o.assistant_id, o.type, o.status,
       o.created_at, o.completed_at, o.failed_at, o.cancelled_at, o.expired_at,
       o.last_error.code as last_error_code, o.last_error.message as last_error_message,
       o.step_details.message_creation.message_id as message_id,
       {usage},
       o.step_details.tool_calls as calls
from c_step
"""))
    call_cols = """
c.id as tool_call_id, c.type, c.function.name as function_name,
c.function.arguments as function_arguments, c.function.output as function_output,
c.code_interpreter.input as code_input,
coalesce(list_sum(list_transform(c.code_interpreter.outputs, lambda o:
    case when o.type = 'logs' then coalesce(length(o.logs), 0) else 0 end)), 0)
    as code_log_chars,
len(list_filter(c.code_interpreter.outputs, lambda o: o.type = 'image')) as code_image_count,
case when json_type(c.file_search.results) = 'ARRAY'
     then json_array_length(c.file_search.results) end as file_search_result_count,
list_max(list_transform(json_extract(c.file_search.results, '$[*].score'),
                        lambda s: s::double)) as file_search_max_score"""
    s.append(("tool_call_records", f"""
create temp table call_rec as
select f, n, item, step_id, k - 1 as call_index, {call_cols}
from (select f, n, item, step_id, json_transform(x, {q(CALL_T)}) as c, k
      from (select f, n, item, step_id, unnest(calls) as x,
                   generate_subscripts(calls, 1) as k from step_rec))
"""))
    s.append(("run_records", f"""
create temp table run_rec as
select f, n, item, o.id as run_id, o.thread_id, o.assistant_id, o.model, o.status,
       o.created_at, o.started_at, o.completed_at, o.failed_at, o.cancelled_at, o.expires_at,
       o.last_error.code as last_error_code, o.last_error.message as last_error_message,
       o.incomplete_details.reason as incomplete_reason,
       {usage},
       case when json_type(o.instructions) = 'VARCHAR'
            then left(sha256(json_extract_string(o.instructions, '$')), 16) end
           as instructions_hash,
       case when json_type(o.tools) = 'ARRAY' then list_sort(list_distinct(list_transform(
           json_extract(o.tools, '$[*]'), lambda t:
           case when json_type(t) <> 'OBJECT' or json_type(t, '$.type') is distinct from 'VARCHAR'
                then null
                when json_extract_string(t, '$.type') = 'function' then 'function' || coalesce(
                    ':' || case when json_type(t, '$.function.name') = 'VARCHAR'
                                then json_extract_string(t, '$.function.name')
                                when json_type(t, '$.name') = 'VARCHAR'
                                then json_extract_string(t, '$.name') end, '')
                when json_extract_string(t, '$.type') = 'custom' then 'custom' || coalesce(
                    ':' || case when json_type(t, '$.name') = 'VARCHAR'
                                then json_extract_string(t, '$.name') end, '')
                when json_extract_string(t, '$.type') = 'mcp' then 'mcp' || coalesce(
                    ':' || case when json_type(t, '$.server_label') = 'VARCHAR'
                                then json_extract_string(t, '$.server_label') end, '')
                else json_extract_string(t, '$.type') end))) end as tools,
       case when o.temperature is null or json_type(o.temperature) = 'NULL' then 1.0
            when json_type(o.temperature) in ('BIGINT', 'UBIGINT', 'DOUBLE')
            then json_extract_string(o.temperature, '$')::double end as temperature,
       case when o.top_p is null or json_type(o.top_p) = 'NULL' then 1.0
            when json_type(o.top_p) in ('BIGINT', 'UBIGINT', 'DOUBLE')
            then json_extract_string(o.top_p, '$')::double end as top_p,
       case when o.response_format is null or json_type(o.response_format) = 'NULL' then 'auto'
            when json_type(o.response_format) = 'VARCHAR'
            then json_extract_string(o.response_format, '$')
            when json_type(o.response_format) = 'OBJECT'
                 and json_type(o.response_format, '$.type') = 'VARCHAR' then
                case when json_extract_string(o.response_format, '$.type') = 'json_schema'
                          and json_type(o.response_format, '$.json_schema.name') = 'VARCHAR'
                     then 'json_schema:'
                          || json_extract_string(o.response_format, '$.json_schema.name')
                     else json_extract_string(o.response_format, '$.type') end
       end as response_format,
       case when json_type(o.reasoning_effort) = 'VARCHAR'
            then json_extract_string(o.reasoning_effort, '$') end as reasoning_effort
from c_run
"""))
    s.append(("delta_records", f"""
create temp table delta_ev as
select f, n, item, o.id as step_id, o.delta.step_details.type as step_type,
       o.delta.step_details.message_creation.message_id as message_id,
       o.delta.step_details.tool_calls as calls
from c_delta;
create temp table delta_call as
select f, n, item, step_id, k - 1 as pos, coalesce(c.index, k - 1) as call_index,
       c.id as tool_call_id, c.type, c.function.name as function_name,
       c.function.arguments as function_arguments, c.function.output as function_output,
       c.code_interpreter.input as code_input,
       case when json_type(c.file_search.results) = 'ARRAY'
            then json_array_length(c.file_search.results) end as file_search_result_count,
       list_max(list_transform(json_extract(c.file_search.results, '$[*].score'),
                               lambda s: s::double)) as file_search_max_score,
       c.code_interpreter.outputs as outputs
from (select f, n, item, step_id, json_transform(x, {q(CALL_T)}) as c, k
      from (select f, n, item, step_id, unnest(calls) as x,
                   generate_subscripts(calls, 1) as k from delta_ev));
create temp table delta_out as
select f, n, item, pos, step_id, call_index, j - 1 as opos,
       coalesce(o.index, j - 1) as output_index, o.type as output_type, o.logs,
       o.image.file_id as image_file_id
from (select f, n, item, pos, step_id, call_index, unnest(outputs) as o,
             generate_subscripts(outputs, 1) as j from delta_call)
"""))
    # 6. de-duplication: five stages (docs/ingest.md "De-duplication") ----------------------------
    step_content = ["step_id", "run_id", "thread_id", "assistant_id", "type", "status",
                    "created_at", "completed_at", "failed_at", "cancelled_at",
                    "expired_at", "last_error_code", "last_error_message", "message_id",
                    "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
                    "reasoning_tokens", "metadata"]
    call_content = ["tool_call_id", "type", "function_name", "function_arguments",
                    "function_output", "code_input", "code_log_chars", "code_image_count",
                    "file_search_result_count", "file_search_max_score"]
    run_content = ["run_id", "thread_id", "assistant_id", "model", "status", "created_at",
                   "started_at", "completed_at", "failed_at", "cancelled_at", "expires_at",
                   "last_error_code", "last_error_message", "incomplete_reason",
                   "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens",
                   "reasoning_tokens", "metadata"]
    config = ["model", "instructions_hash", "tools", "temperature", "top_p",
              "response_format", "reasoning_effort"]

    def canon(cols: list[str], alias: str = "", extra: dict[str, str] | None = None) -> str:
        """JSON text with sorted keys (orjson OPT_SORT_KEYS, compact) of the columns."""
        fields = {c: f"{alias}{c}" for c in cols} | (extra or {})
        return "sj({" + ", ".join(f"{q(k)}: {fields[k]}" for k in sorted(fields)) + "})"

    by_type = """
case when type = 'function' then function_name end as function_name,
case when type = 'function' then function_arguments end as function_arguments,
case when type = 'function' then function_output end as function_output,
case when type = 'code_interpreter' then code_input end as code_input,
case when type = 'code_interpreter' then coalesce(code_log_chars, 0) end as code_log_chars,
case when type = 'code_interpreter' then coalesce(code_image_count, 0) end as code_image_count,
case when type = 'file_search' then file_search_result_count end as file_search_result_count,
case when type = 'file_search' then file_search_max_score end as file_search_max_score"""
    s.append(("typed_calls", f"""
create temp table call_typed as
select f, n, item, step_id, call_index, tool_call_id, type, {by_type}
from call_rec
"""))
    terminal = "(" + ", ".join(q(x) for x in TERMINAL_STEP) + ")"
    run_terminal = "(" + ", ".join(q(x) for x in TERMINAL_RUN) + ")"
    run_rank = ("case when status in " + run_terminal + " then 4 "
                + " ".join(f"when status = {q(k)} then {v}" for k, v in RUN_RANK.items())
                + " else -1 end")
    # stages 1 to 3 as one BIGINT, higher wins: (rank + 1) * 2^39 + (latest + 1) * 2 +
    # usage (a timestamp is at most MAX_TS < 2^38)
    step_stage = (f"(coalesce(status in {terminal}, false)::bigint + 1) * {1 << 39} "
                  "+ (coalesce(greatest(created_at, completed_at, failed_at, cancelled_at, "
                  "expired_at), -1) + 1) * 2 + coalesce(usage_present, false)::bigint")
    run_stage = (f"({run_rank} + 1) * {1 << 39} + (coalesce(greatest(created_at, "
                 "started_at, completed_at, failed_at, cancelled_at), -1) + 1) * 2 "
                 "+ coalesce(usage_present, false)::bigint")
    call_struct = "{" + ", ".join(f"{q(c)}: {c}" for c in sorted(call_content)) + "}"
    s.append(("step_winners", f"""
create temp table step_win as
with r as (
    select *, {step_stage} as st from step_rec
),
top as (   -- the records tied at the top on stages 1 to 3
    select *, count(*) over (partition by step_id, st) as tied,
           max(st) over (partition by step_id) as best,
           count(*) over (partition by step_id) as n_records
    from r
),
calls as (
    select f, n, item, list({call_struct} order by call_index) as tc
    from call_typed semi join (select f, n, item from top where st = best and tied > 1)
         using (f, n, item)
    group by f, n, item
),
scored as (
    select t.*, case when t.st = t.best and t.tied > 1 then
               {canon(step_content, 't.', {'tool_calls': 'coalesce(c.tc, [])'})} end as cj
    from top t left join calls c using (f, n, item)
),
differ as (   -- stages 4 and 5 only where the tied records differ (copies are common)
    select *, case when min(cj) over w <> max(cj) over w then cj end as dj
    from scored window w as (partition by step_id, st)
)
select * exclude (st, best, tied, cj, dj) from differ
qualify row_number() over (partition by step_id
    order by st desc, strlen(dj) desc nulls last, crc32(dj) desc nulls last,
             f, n, item) = 1
"""))
    s.append(("run_winners", f"""
create temp table run_win as
with r as (select *, {run_stage} as st from run_rec),
top as (
    select *, count(*) over (partition by run_id, st) as tied,
           max(st) over (partition by run_id) as best
    from r
),
scored as (
    select *, case when st = best and tied > 1 then {canon(run_content)} end as cj,
              case when st = best and tied > 1 then {canon(config)} end as tj
    from top
),
differ as (
    select *, min(cj || tj) over w <> max(cj || tj) over w as d
    from scored window w as (partition by run_id, st)
)
select * exclude (st, best, tied, cj, tj, d) from differ
qualify row_number() over (partition by run_id
    order by st desc, case when d then strlen(cj) end desc nulls last,
             case when d then crc32(cj) end desc nulls last,
             case when d then strlen(tj) end desc nulls last,
             case when d then crc32(tj) end desc nulls last, f, n, item) = 1
"""))
    # 7. streams: duplicate copies dropped, fragments reassembled -------------------------
    s.append(("duplicate_streams", """
create temp table ev_content as
with oc as (
    select f, n, item, pos, list({'oi': output_index, 'ty': output_type, 'lg': logs,
                                  'im': image_file_id} order by opos) as outs
    from delta_out group by f, n, item, pos
),
cc as (
    select c.f, c.n, c.item,
           list({'ci': c.call_index, 'id': c.tool_call_id, 'ty': c.type,
                 'fn': c.function_name, 'fa': c.function_arguments,
                 'fo': c.function_output, 'ip': c.code_input,
                 'rc': c.file_search_result_count, 'sc': c.file_search_max_score,
                 'o': o.outs} order by c.pos) as calls
    from delta_call c left join oc o using (f, n, item, pos)
    group by c.f, c.n, c.item
)
select e.f, e.n, e.item, e.step_id,
       md5(sj({'t': e.step_type, 'm': e.message_id, 'c': cc.calls})) as h
from delta_ev e left join cc using (f, n, item)
where e.step_id in (select step_id from delta_ev group by step_id
                    having count(distinct f) > 1);
create temp table dup as
with seqs as (
    select step_id, f, list(h order by n, item) as seq, count(*) as k
    from ev_content group by step_id, f
)
select distinct a.step_id, a.f
from seqs a join seqs b on a.step_id = b.step_id and a.f <> b.f and a.k <= b.k
where b.seq[1:a.k] = a.seq and (a.k < b.k or b.f < a.f);
create temp table dev as select * from delta_ev anti join dup using (step_id, f);
create temp table dcall as select * from delta_call anti join dup using (step_id, f);
create temp table dout as select * from delta_out anti join dup using (step_id, f)
"""))
    s.append(("reassemble", """
create temp table delta_steps as
select step_id, count(*) as n_deltas,
       last(step_type order by f, n, item) filter (where step_type is not null) as delta_type,
       last(message_id order by f, n, item) filter (where message_id is not null)
           as delta_message_id
from dev group by step_id;
create temp table rcall as
with outs as (
    select step_id, call_index, output_index,
           last(output_type order by f, n, item, pos, opos)
               filter (where output_type is not null) as output_type,
           sum(length(logs)) as logs_chars
    from dout group by step_id, call_index, output_index
),
per_call as (
    select step_id, call_index,
           coalesce(sum(logs_chars) filter (where output_type = 'logs'), 0) as code_log_chars,
           count(*) filter (where output_type = 'image') as code_image_count
    from outs group by step_id, call_index
)
select c.*, o.code_log_chars, o.code_image_count
from (
    select step_id, call_index,
           last(tool_call_id order by f, n, item, pos) filter (where tool_call_id is not null)
               as tool_call_id,
           last(type order by f, n, item, pos) filter (where type is not null) as type,
           last(function_name order by f, n, item, pos)
               filter (where function_name is not null) as function_name,
           string_agg(function_arguments, '' order by f, n, item, pos) as function_arguments,
           string_agg(function_output, '' order by f, n, item, pos) as function_output,
           string_agg(code_input, '' order by f, n, item, pos) as code_input,
           last(file_search_result_count order by f, n, item, pos)
               filter (where file_search_result_count is not null)
               as file_search_result_count,
           last(file_search_max_score order by f, n, item, pos)
               filter (where file_search_result_count is not null) as file_search_max_score
    from dcall group by step_id, call_index
) c left join per_call o using (step_id, call_index)
"""))
    # 8. the tables -------------------------------------------------------------------------
    s.append(("runs", f"""
create temp table runs_t as
select 'assistants' as api, run_id, thread_id, assistant_id, model, status,
       ts(created_at) as created_at, ts(started_at) as started_at,
       ts(completed_at) as completed_at, ts(failed_at) as failed_at,
       ts(cancelled_at) as cancelled_at, ts(expires_at) as expires_at,
       ts(ended) as ended_at, last_error_code, last_error_message, incomplete_reason,
       prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens,
       (started_at - created_at)::double as queue_s,
       (ended - started_at)::double as duration_s, metadata,
       ts(created_at)::date as day, null::varchar as previous_response_id,
       instructions_hash, tools, temperature, top_p, response_format, reasoning_effort
from (select *, case status when 'completed' then completed_at
                    when 'incomplete' then completed_at when 'failed' then failed_at
                    when 'cancelled' then cancelled_at when 'expired' then expires_at
                end as ended from run_win);
copy (select * from runs_t order by run_id)
to {q(out_dir + '/runs.parquet')} (format parquet, compression zstd)
"""))
    s.append(("step_rows", """
create temp table step_rows as
with j as (
    select coalesce(w.step_id, d.step_id) as sid, w.*, d.n_deltas, d.delta_type,
           d.delta_message_id,
           coalesce(d.n_deltas, 0) > 0 and (w.f is null
               or not coalesce(w.status in ('completed', 'failed', 'cancelled', 'expired',
                                            'incomplete'), false)) as use_deltas
    from step_win w full join delta_steps d on w.step_id = d.step_id
)
select * exclude (step_id, sid, status, type, message_id), sid as step_id,
       case when f is not null then status else 'in_progress' end as status,
       case when use_deltas then coalesce(type, delta_type) else type end as type,
       case when use_deltas then coalesce(message_id, delta_message_id) else message_id end
           as message_id
from j
"""))
    s.append(("tool_calls", f"""
create temp table calls_t as
with c as (
    select c.step_id, c.call_index, c.tool_call_id, c.type, c.function_name,
           c.function_arguments, c.function_output, c.code_input, c.code_log_chars,
           c.code_image_count, c.file_search_result_count, c.file_search_max_score
    from call_rec c join step_rows r on (c.f, c.n, c.item) = (r.f, r.n, r.item)
    where not r.use_deltas
    union all
    select c.step_id, c.call_index, c.tool_call_id, c.type, c.function_name,
           c.function_arguments, c.function_output, c.code_input, c.code_log_chars,
           c.code_image_count, c.file_search_result_count, c.file_search_max_score
    from rcall c semi join (select step_id from step_rows where use_deltas) u
         on c.step_id = u.step_id
),
t as (select step_id, call_index, tool_call_id, type, {by_type} from c)
select 'assistants' as api, t.tool_call_id, t.step_id, r.run_id, r.thread_id,
       r.assistant_id, ru.model, t.call_index, t.type, t.function_name,
       t.function_arguments, t.function_output, json_valid(t.function_arguments)
           as arguments_valid_json,
       t.code_input, t.code_log_chars, t.code_image_count, t.file_search_result_count,
       t.file_search_max_score, r.status as step_status, r.type as step_type,
       ts(r.created_at) as created_at, ts(r.created_at)::date as day,
       coalesce(r.status = 'failed', false) as call_failed,
       length(t.function_arguments)::bigint as function_arguments_chars,
       length(t.function_output)::bigint as function_output_chars,
       length(t.code_input)::bigint as code_input_chars
from t left join step_rows r on t.step_id = r.step_id
left join runs_t ru on r.run_id = ru.run_id;
copy (select * from calls_t order by step_id, call_index)
to {q(out_dir + '/tool_calls.parquet')} (format parquet, compression zstd)
"""))
    s.append(("steps", f"""
create temp table steps_t as
select 'assistants' as api, r.step_id, r.run_id, r.thread_id, r.assistant_id, ru.model,
       r.type, r.status, ts(r.created_at) as created_at, ts(r.completed_at) as completed_at,
       ts(r.failed_at) as failed_at, ts(r.cancelled_at) as cancelled_at,
       ts(r.expired_at) as expired_at, ts(r.ended) as ended_at,
       (r.ended - r.created_at)::double as latency_s, r.last_error_code,
       r.last_error_message, r.message_id, coalesce(k.cnt, 0) as tool_call_count,
       r.prompt_tokens, r.completion_tokens, r.total_tokens, r.cached_tokens,
       r.reasoning_tokens, r.metadata, ts(r.created_at)::date as day,
       coalesce(r.usage_present, false) as _usage
from (select *, case status when 'completed' then completed_at when 'failed' then failed_at
                     when 'cancelled' then cancelled_at when 'expired' then expired_at
                end as ended from step_rows) r
left join (select step_id, count(*) as cnt from calls_t group by step_id) k
     on r.step_id = k.step_id
left join runs_t ru on r.run_id = ru.run_id;
copy (select * exclude (_usage) from steps_t order by step_id)
to {q(out_dir + '/steps.parquet')} (format parquet, compression zstd);
copy (select api, step_id, run_id, assistant_id, model, type, day, prompt_tokens,
             completion_tokens, total_tokens, cached_tokens, reasoning_tokens
      from steps_t where _usage order by step_id)
to {q(out_dir + '/usage.parquet')} (format parquet, compression zstd)
"""))
    return s


TABLES = ("runs", "steps", "tool_calls", "usage", "rejects")
# Input files in a directory (docs/ingest.md "Input"); hidden files and directories are skipped.
SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz", ".sse",
            ".sse.gz", ".txt")


def run(files: list[str], out_dir: str, threads: int = 2,
        memory_limit: str | None = None) -> dict:
    """Do the whole job on `files` (absolute paths); Parquet tables into `out_dir`."""
    import duckdb

    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"set threads = {int(threads)}")
    con.execute("set enable_progress_bar = false")
    con.execute(f"set temp_directory = {q(out_dir + '/.tmp')}")
    if memory_limit:
        con.execute(f"set memory_limit = {q(memory_limit)}")
    stages: dict[str, float] = {}
    cpu: dict[str, float] = {}  # process CPU seconds per statement: steadier under load
    t = time.perf_counter()
    groups = classify(files)
    stages["classify"] = time.perf_counter() - t
    for name, sql in statements(groups, out_dir):
        t, c = time.perf_counter(), time.process_time()
        con.execute(sql)
        stages[name] = time.perf_counter() - t
        cpu[name] = time.process_time() - c
    seconds = time.perf_counter() - t0
    rows = {tb: con.sql(f"select count(*) from {q(out_dir + '/' + tb + '.parquet')}"
                        ).fetchall()[0][0] for tb in TABLES}
    # Bare values of the Responses API's shapes (docs/responses.md "Responses API and
    # Conversations"):
    # steplens tables them, this script does not, so its job is smaller when this is > 0.
    responses = con.sql("""
        select count(*) from recs0
        where ty[1] = 'OBJECT' and ((ty[2] = 'VARCHAR' and sv[1] in ('response', 'conversation'))
              or (ty[2] is null and ty[4] is null
                  and (json_type(j, '$.type') = 'VARCHAR' or json_exists(j, '$.input'))))
    """).fetchall()[0][0]
    con.close()
    return {"seconds": seconds, "stages": stages, "stages_cpu": cpu, "rows": rows,
            "responses_records_not_done": responses,
            "threads": threads, "cpu_s": time.process_time(),
            "files": {k: len(v) for k, v in groups.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("inputs", nargs="+", help="files or directories (recursively)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--memory-limit", default=None)
    args = parser.parse_args(argv)
    files: list[str] = []
    for raw in args.inputs:
        p = Path(raw).expanduser().resolve()
        if p.is_dir():
            files += [str(x) for x in p.rglob("*") if x.is_file()
                      and x.name.lower().endswith(SUFFIXES)
                      and not any(part.startswith(".") for part in x.relative_to(p).parts)]
        else:
            files.append(str(p))
    result = run(sorted(set(files)), args.out_dir, args.threads, args.memory_limit)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
