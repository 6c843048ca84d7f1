"""An independent, plain-Python reading of the assistant-versions contract (issue 13, part 3).

Standard library and orjson only; it imports nothing from `steplens` (it reuses the
Assistants and Responses oracles of `tests.support` for reading files and picking each
run's winning record). Value types are those of `tests.support.oracle`: naive UTC
datetimes, floats, None for NULL; list columns are Python lists.

What an assistant's configuration is
 V1. A run's configuration is seven values, taken from the run's *winning record* (V9),
     the same record its `runs` row comes from. They become new columns of `runs`:

     ==================  ===============================  =============================
     column              Assistants run (`thread.run`)    Responses (`response`)
     ==================  ===============================  =============================
     model               `model`                          `model`
     instructions_hash   hash of `instructions` (V2)      hash of `instructions` (V2)
     tools               tool set of `tools` (V3)         tool set of `tools` (V3)
     temperature         `temperature` (V4)               `temperature` (V4)
     top_p               `top_p` (V4)                     `top_p` (V4)
     response_format     `response_format` (V5)           `text.format` (V5)
     reasoning_effort    `reasoning_effort`               `reasoning.effort`
     ==================  ===============================  =============================

     The assistant is `runs.assistant_id`: the run's `assistant_id`, the response's
     `prompt.id` (a stored prompt is the Responses API's assistant; responses without one
     have no assistant and no version). `reasoning_effort` is in the list although the issue
     does not name it: for o-series and gpt-5 models it moves cost and latency more than
     temperature does. Left out on purpose, as per-request flow controls rather than the
     assistant's setup: `tool_choice`, `parallel_tool_calls`, `max_*_tokens`,
     `truncation(_strategy)`, `metadata`, `prompt.version` (a new prompt version that
     renders the same instructions and tools is not a new configuration).
 V2. `instructions_hash`: the first 16 hex digits of SHA-256 over the UTF-8 bytes of
     `instructions` when it is a string (`""` hashes like any string); when it is a list
     (Responses: the input items a stored prompt renders into), over its canonical JSON
     (orjson, sorted keys, compact). NULL when absent, null or any other type. Only the
     hash is stored: the text can be long and private.
 V3. `tools`: the sorted, de-duplicated list of tool keys of the `tools` list: `function:`
     + name for function tools (Assistants `function.name`, Responses `name`), `custom:` +
     `name` for custom tools, `mcp:` + `server_label` for MCP servers, else the bare
     `type` (`code_interpreter`, `file_search`, `retrieval`, `web_search`, ...); a function,
     custom or MCP tool without a string name/label keys as its bare type. Items that are
     not objects or have no string `type` are ignored. Tool parameters, descriptions and
     file-search options are not part of the key (a changed JSON schema of a function is
     not detected). `[]` for an empty list; NULL when `tools` is absent, null or not a list.
 V4. `temperature`, `top_p`: DOUBLE. A number (int or float, never bool) as sent; absent
     or null is the API default 1.0 (Assistants runs recorded before June 2024 carry no
     sampling fields, yet ran at the default: without this, every assistant would show a
     spurious change the day the API started reporting them); any other type is NULL.
 V5. `response_format`: VARCHAR. Assistants: a string as sent (`auto`); an object: its
     `type`, or `json_schema:<json_schema.name>` for a named JSON schema; absent or null is
     `auto` (the default, as in V4). Responses: `text.format` the same way (its schema name
     is `format.name`); `text` or `format` absent or null is `text` (the Responses default).
     Anything else is NULL. As for tools, a schema's body is not compared, its name is.
 V6. Two configurations are equal when all seven values are equal, NULL equal to NULL
     (`IS NOT DISTINCT FROM`), lists compared element-wise, 1 equal to 1.0.

Versions (table `assistant_versions`; a view over `runs`, so it never disagrees with it)
 V7. Per assistant (runs with `assistant_id` NULL have no version), runs are ordered by
     (`created_at` NULLS LAST, `run_id`). **A version is a distinct configuration**: its
     number is the rank of the configuration's first run in that order (1, 2, ...). A run
     back on an older configuration (a rollback, an A/B split, one run pinned to another
     model) belongs to that older version; no new number is made. *Why not a new number at
     every switch?* Interleaved configurations, which the Assistants API invites (`model`
     and `instructions` can be overridden per run), would then make a version per switch:
     hundreds of one-run "versions" that compare nothing. A configuration has one identity
     and one set of metrics wherever its runs fall; `first_seen`/`last_seen` that overlap
     another version show the interleaving.
 V8. Columns: `api, assistant_id, version, first_run_id, first_seen, last_seen, runs,
     model, instructions_hash, tools, temperature, top_p, response_format,
     reasoning_effort, previous_version, changed`. `first_seen`/`last_seen` are the min and
     max `created_at` of its runs (NULL when none has one), `runs` their count.
     `previous_version` is the version of the run just before its first run in the V7
     order (the configuration it replaced; always a smaller number); NULL for version 1.
     `changed` lists the fields, in the V1 order (`model`, `instructions_hash`, `tools`,
     `temperature`, `top_p`, `response_format`, `reasoning_effort`), whose value differs
     (V6) from `previous_version`'s; NULL for version 1, never empty otherwise.
 V9. The winning record: one run id, several records (polls, list pages, stream events).
     The configuration comes from the record that wins the README de-duplication (for
     runs: state, latest timestamp, usage present, canonical content size, crc32; for
     responses: R12). Records that tie on all of that (the same content, so the same row)
     but differ in configuration are broken by the canonical bytes (orjson, sorted keys)
     of the seven V1 values: larger size, then larger crc32. That tie-break comes last, so
     adding the configuration never changes which record wins a `runs` row; the API never
     changes a run's configuration between its snapshots, so in real data it never decides.

Comparison (view `version_comparison`)
V10. One row per version with a `previous_version` (every change): `api, assistant_id,
     version, previous_version, changed, changed_at` (= the version's `first_seen`), and
     for `before` (= `previous_version`) and `after` (= `version`) each metric of V11 as
     `<metric>_before` / `<metric>_after`. Metrics are over *all* runs of each version
     (V7: a version is one configuration wherever its runs fall), so a version's figures
     are the same in every row that names it.
V11. Metrics of a set of runs: `runs`; `p50_duration_s`, `p95_duration_s` (continuous
     percentiles of `duration_s` over the runs that have one); `failure_rate` = runs whose
     status is `failed` / runs in a terminal state (`completed`, `incomplete`, `failed`,
     `cancelled`, `expired`), NULL without terminal runs; `failed_or_expired_rate` = runs
     whose status is a failure (`failed`, `expired`: the macro `is_failure`) / the same;
     `tokens_per_run` = mean `total_tokens` over the runs that have it;
     `cost_per_run_usd` = mean `cost_usd` over the priced runs; `tool_calls`;
     `tool_failure_rate` = failed calls / calls with an outcome, over the `tool_calls` rows
     of those runs, where a call failed when `call_failed` is true, or (`call_failed` NULL,
     Assistants) its `step_status` is `failed` (as `tool_stats`); it has an outcome when it
     failed or its `step_status` is terminal (`completed`, `failed`, `cancelled`,
     `expired`, `incomplete`); NULL without such calls. Every mean/rate/percentile is NULL
     over no rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.support import oracle, responses_oracle

CONFIG_FIELDS = ("model", "instructions_hash", "tools", "temperature", "top_p",
                 "response_format", "reasoning_effort")
RUN_TERMINAL = ("completed", "incomplete", "failed", "cancelled", "expired")
FAILURE = ("failed", "expired")
CALL_TERMINAL = ("completed", "failed", "cancelled", "expired", "incomplete")
METRICS = ("runs", "p50_duration_s", "p95_duration_s", "failure_rate",
           "failed_or_expired_rate", "tokens_per_run",
           "cost_per_run_usd", "tool_calls", "tool_failure_rate")
VERSION_COLUMNS = ("api", "assistant_id", "version", "first_run_id", "first_seen",
                   "last_seen", "runs", *CONFIG_FIELDS, "previous_version", "changed")
NAMED_TOOLS = {"function": "name", "custom": "name", "mcp": "server_label"}


# --------------------------------------------------------------------------- V1-V5


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def instructions_hash(value: Any) -> str | None:
    """V2."""
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, list):
        data = _canonical(value)
    else:
        return None
    return hashlib.sha256(data).hexdigest()[:16]


def tool_key(tool: Any) -> str | None:
    """V3: one tool's key, None for an item that is ignored."""
    if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
        return None
    kind = tool["type"]
    if kind not in NAMED_TOOLS:
        return kind
    holder = tool.get("function") if kind == "function" and isinstance(
        tool.get("function"), dict) else tool
    name = holder.get(NAMED_TOOLS[kind])
    if kind == "function" and not isinstance(name, str):
        name = tool.get("name")  # the Responses shape
    return f"{kind}:{name}" if isinstance(name, str) else kind


def tool_set(tools: Any) -> list[str] | None:
    """V3."""
    if not isinstance(tools, list):
        return None
    return sorted({k for k in map(tool_key, tools) if k is not None})


def sampling(value: Any) -> float | None:
    """V4."""
    if value is None:
        return 1.0
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def format_name(fmt: Any, schema_name: Any, default: str) -> str | None:
    """V5: a response format (Assistants `response_format`, Responses `text.format`)."""
    if fmt is None:
        return default
    if isinstance(fmt, str):
        return fmt
    if isinstance(fmt, dict) and isinstance(fmt.get("type"), str):
        if fmt["type"] == "json_schema" and isinstance(schema_name, str):
            return f"json_schema:{schema_name}"
        return fmt["type"]
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def assistants_config(run: dict) -> dict:
    """V1 for an Assistants run record."""
    fmt = run.get("response_format")
    schema = (fmt.get("json_schema") or {}) if isinstance(fmt, dict) else {}
    return {
        "model": _str(run.get("model")),
        "instructions_hash": instructions_hash(run.get("instructions")),
        "tools": tool_set(run.get("tools")),
        "temperature": sampling(run.get("temperature")),
        "top_p": sampling(run.get("top_p")),
        "response_format": format_name(fmt, schema.get("name") if isinstance(schema, dict)
                                       else None, "auto"),
        "reasoning_effort": _str(run.get("reasoning_effort")),
    }


def responses_config(resp: dict) -> dict:
    """V1 for a Responses response record."""
    text = resp.get("text")
    if text is None:
        response_format = "text"
    elif isinstance(text, dict):
        fmt = text.get("format")
        response_format = format_name(fmt, fmt.get("name") if isinstance(fmt, dict) else None,
                                      "text")
    else:
        response_format = None
    reasoning = resp.get("reasoning")
    return {
        "model": _str(resp.get("model")),
        "instructions_hash": instructions_hash(resp.get("instructions")),
        "tools": tool_set(resp.get("tools")),
        "temperature": sampling(resp.get("temperature")),
        "top_p": sampling(resp.get("top_p")),
        "response_format": response_format,
        "reasoning_effort": _str(reasoning.get("effort")) if isinstance(reasoning, dict)
        else None,
    }


def config_key(cfg: dict) -> tuple:
    """V6: a hashable value equal exactly when the configurations are equal."""
    return tuple(tuple(cfg[f]) if f == "tools" and cfg[f] is not None else cfg[f]
                 for f in CONFIG_FIELDS)


# --------------------------------------------------------------------------- V9


def config_tiebreak(cfg: dict) -> tuple[int, int]:
    c = _canonical({f: cfg[f] for f in CONFIG_FIELDS})
    return len(c), zlib.crc32(c)


def winning_run(records: list[dict]) -> dict:
    """V9: the Assistants record a run's row and configuration come from."""
    return max(records, key=lambda r: (oracle.run_rank(r),
                                       config_tiebreak(assistants_config(r))))


def winning_responses(read: responses_oracle._Read) -> dict[str, dict]:
    """V9 for responses: R12 over the response records and lifecycle events' responses."""
    out = {}
    for rid in set(read.responses) | set(read.events):
        events, _ = responses_oracle.unique_events(read.events.get(rid, []))
        candidates = [rec for rec, _ in read.responses.get(rid, [])]
        candidates += [ev["response"] for ev in events
                       if ev["type"] in responses_oracle.LIFECYCLE]
        out[rid] = max(candidates, key=responses_oracle.response_rank)
    return out


# --------------------------------------------------------------------------- V7, V8


def _order(run: dict) -> tuple:
    created = run["created_at"]
    return (created is None, created or dt.datetime.min, run["run_id"])


def assistant_versions(runs: list[dict]) -> tuple[list[dict], dict[str, tuple[str, int]]]:
    """V7/V8 over run rows that carry `api, run_id, assistant_id, created_at` and the V1
    columns. Returns the version rows and run_id -> (assistant_id, version)."""
    by_assistant: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        if r["assistant_id"] is not None:
            by_assistant[r["assistant_id"]].append(r)
    rows, of_run = [], {}
    for assistant, rs in sorted(by_assistant.items()):
        rs.sort(key=_order)
        number: dict[tuple, int] = {}
        first: dict[int, int] = {}  # version -> index of its first run
        members: dict[int, list[dict]] = defaultdict(list)
        for i, r in enumerate(rs):
            key = config_key(r)
            if key not in number:
                number[key] = len(number) + 1
                first[number[key]] = i
            v = number[key]
            members[v].append(r)
            of_run[r["run_id"]] = (assistant, v)
        for v in sorted(members):
            head = rs[first[v]]
            stamps = [m["created_at"] for m in members[v] if m["created_at"] is not None]
            prev = None if first[v] == 0 else of_run[rs[first[v] - 1]["run_id"]][1]
            prev_head = None if prev is None else rs[first[prev]]
            rows.append({
                "api": head["api"], "assistant_id": assistant, "version": v,
                "first_run_id": head["run_id"], "first_seen": min(stamps, default=None),
                "last_seen": max(stamps, default=None), "runs": len(members[v]),
                **{f: head[f] for f in CONFIG_FIELDS},
                "previous_version": prev,
                "changed": None if prev_head is None else [
                    f for f in CONFIG_FIELDS if head[f] != prev_head[f]],
            })
    return rows, of_run


# --------------------------------------------------------------------------- V10, V11


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def _quantile(values: list[float], q: float) -> float | None:
    return oracle.quantile_cont(sorted(values), q) if values else None


def call_failed(call: dict) -> bool:
    flag = call.get("call_failed")
    return flag if flag is not None else call["step_status"] == "failed"


def metrics(runs: list[dict], calls: list[dict]) -> dict:
    """V11 over run rows (with `cost_usd`) and the tool_calls rows of those runs."""
    durations = [r["duration_s"] for r in runs if r["duration_s"] is not None]
    terminal = [r for r in runs if r["status"] in RUN_TERMINAL]
    failed = [c for c in calls if call_failed(c)]
    decided = [c for c in calls if call_failed(c) or c["step_status"] in CALL_TERMINAL]
    return {
        "runs": len(runs),
        "p50_duration_s": _quantile(durations, 0.5),
        "p95_duration_s": _quantile(durations, 0.95),
        "failure_rate": (sum(r["status"] == "failed" for r in terminal) / len(terminal)
                         if terminal else None),
        "failed_or_expired_rate": (sum(r["status"] in FAILURE for r in terminal)
                                   / len(terminal) if terminal else None),
        "tokens_per_run": _mean([r["total_tokens"] for r in runs
                                 if r["total_tokens"] is not None]),
        "cost_per_run_usd": _mean([r["cost_usd"] for r in runs if r["cost_usd"] is not None]),
        "tool_calls": len(calls),
        "tool_failure_rate": len(failed) / len(decided) if decided else None,
    }


def version_comparison(versions: list[dict], of_run: dict[str, tuple[str, int]],
                       runs: list[dict], tool_calls: list[dict]) -> list[dict]:
    """V10: one row per version with a previous version."""
    runs_of: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        if r["run_id"] in of_run:
            runs_of[of_run[r["run_id"]]].append(r)
    calls_of: dict[tuple, list[dict]] = defaultdict(list)
    for c in tool_calls:
        if c["run_id"] in of_run:
            calls_of[of_run[c["run_id"]]].append(c)
    out = []
    for v in versions:
        if v["previous_version"] is None:
            continue
        after = (v["assistant_id"], v["version"])
        before = (v["assistant_id"], v["previous_version"])
        row = {"api": v["api"], "assistant_id": v["assistant_id"], "version": v["version"],
               "previous_version": v["previous_version"], "changed": v["changed"],
               "changed_at": v["first_seen"]}
        for side, key in (("before", before), ("after", after)):
            for name, value in metrics(runs_of[key], calls_of[key]).items():
                row[f"{name}_{side}"] = value
        out.append(row)
    return out


# --------------------------------------------------------------------------- entry


@dataclass
class Result:
    versions: list[dict] = field(default_factory=list)
    comparison: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)  # run rows with the V1 columns, cost_usd
    version_of_run: dict[str, tuple[str, int]] = field(default_factory=dict)


def run_configs(paths) -> dict[str, dict]:
    """V1/V9: run id -> the seven configuration values of its winning record (both APIs)."""
    a_read, r_read = responses_oracle.read_inputs(paths)
    configs = {rid: assistants_config(winning_run(recs)) for rid, recs in a_read.runs.items()}
    configs.update({rid: responses_config(rec)
                    for rid, rec in winning_responses(r_read).items()})
    return configs


def with_configs(runs: list[dict], configs: dict[str, dict]) -> list[dict]:
    """Run rows of the other oracles with the V1 columns of `runs` (as the product has)."""
    return [dict(r, **configs[r["run_id"]]) for r in runs]


def compute(paths, cost: Callable[[dict], float | None] | None = None) -> Result:
    """Expected `assistant_versions` and `version_comparison` for the files under `paths`
    (both APIs). `cost(run_row)` gives a run's `cost_usd` (None: unpriced); without it
    every run is unpriced."""
    configs = run_configs(paths)
    tables = responses_oracle.compute(paths)
    runs = [dict(r, api="assistants") for r in tables.assistants.runs] + tables.runs
    calls = list(tables.assistants.tool_calls) + tables.tool_calls
    runs = [dict(r, **configs[r["run_id"]], cost_usd=cost(r) if cost else None) for r in runs]
    versions, of_run = assistant_versions(runs)
    return Result(versions=versions, comparison=version_comparison(versions, of_run, runs,
                                                                   calls),
                  runs=runs, version_of_run=of_run)
