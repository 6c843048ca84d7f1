"""Benchmark steplens ingest against a DuckDB-only pipeline and an orjson parse bound.

One run, on the same files (README in this folder for what is measured and how):

1. a seeded mixed export of `--size-mb` MiB (`tests.support.generate.generate_export`), or `--data`;
2. Prefect's fixed start-up (a trivial flow in a fresh process, cold and warm), then the
   steplens ingest end to end as the `steplens ingest` command runs it
   (`flows.orchestration.launch.run_ingest` in its own process: preflight, Prefect's server started
   early, the flow): wall seconds, MB/s, steps/s, CPU seconds and peak memory of its
   whole process tree;
3. (a) a DuckDB-alone pipeline (lines as VARCHAR, SQL json functions, de-duplicated
   steps and their tool calls written as Parquet) and (b) a parse bound (orjson over
   every line of every file, one process per core);
4. the metric views over the warehouse just built, and with `--steps-millions N` over a
   synthetic warehouse of N million steps;
5. an incremental no-op re-run, against Prefect's start-up plus the manifest check
   (which hashes every input whole: its cost is printed on its own, `--hash-only`);
6. the fixed cost of the command itself on `data/sample`: `steplens ingest` into a new
   warehouse and a no-op re-run, with no Prefect server running and with one left
   running by `steplens server start` (`--fixed-cost-only` runs just this and step 2).

The last line printed is exactly
`ratio_vs_duckdb=X ratio_vs_parse_bound=Y peak_rss_mb=Z`.

    /work/venv/bin/python benchmarks/bench_ingest.py --size-mb 1000

Every measured phase runs in a child process of this script, so that its memory and CPU
are its own: wall time is taken here around the whole child (interpreter start to exit),
CPU time and the largest single-process RSS come from `wait4()` (the child plus the
descendants it reaped), and the tree's memory is sampled every 0.1 s from /proc (sum of
VmRSS, and of PSS, over the child and all its live descendants).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")
STEP_EVENTS = ("thread.run.step.created", "thread.run.step.in_progress",
               "thread.run.step.completed", "thread.run.step.failed",
               "thread.run.step.cancelled", "thread.run.step.expired")
VIEWS = ("step_latency", "failure_rate", "token_usage", "tool_stats")


# ---- measuring a child process --------------------------------------------------------

def _tree(root: int) -> list[int]:
    """`root` and all its live descendants (from the ppid field of /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _rss_pss(pid: int) -> tuple[int, int]:
    """(VmRSS, PSS) of one process in bytes; (0, 0) once it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * PAGE
        pss = 0
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                    break
        return rss, pss
    except (OSError, ValueError, IndexError):
        return 0, 0


class TreeSampler(threading.Thread):
    """Peak of the summed RSS (and PSS) of a process tree, sampled every `interval` s."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = 0
        self.peak_procs = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            rss = pss = 0
            pids = _tree(self.pid)
            for pid in pids:
                r, p = _rss_pss(pid)
                rss += r
                pss += p
            if rss > self.peak_rss:
                self.peak_rss, self.peak_procs = rss, len(pids)
            self.peak_pss = max(self.peak_pss, pss)
            self.stop.wait(self.interval)


def measure(argv: list[str], env: dict[str, str], log_dir: Path, name: str) -> dict:
    """Run `argv` as a child, return wall/CPU/memory figures and its last stdout line."""
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    load = os.getloadavg()[0]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        env = {**env, "BENCH_T0": repr(time.time())}
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=REPO)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = out_path.read_text(errors="replace").strip().splitlines()
    if proc.returncode != 0:
        tail = err_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{name} failed with exit code {proc.returncode}:\n{tail}")
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        # ru_maxrss of wait4(): the largest RSS of any single process in the subtree
        "max_single_rss_mb": usage.ru_maxrss / 1024,
        "peak_tree_rss_mb": sampler.peak_rss / MiB,
        "peak_tree_pss_mb": sampler.peak_pss / MiB,
        "peak_tree_procs": sampler.peak_procs,
        "loadavg_before": load,
        "result": result,
    }


def _phase_argv(phase: str, **kwargs: object) -> list[str]:
    """The command of a child phase; its arguments travel in a JSON file (file lists can
    be longer than one command-line argument may be)."""
    fd, path = tempfile.mkstemp(prefix=f"bench-{phase}-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(kwargs, f)
    return [sys.executable, str(Path(__file__).resolve()), "_phase", phase, path]


def _elapsed_since_spawn() -> float:
    return time.time() - float(os.environ.get("BENCH_T0", time.time()))


# ---- child phases ---------------------------------------------------------------------

def phase_prefect_noop() -> dict:
    """Prefect's fixed cost: import, temporary API server, one trivial flow, shutdown."""
    t_import = time.perf_counter()
    from prefect import flow

    imported = time.perf_counter() - t_import

    @flow(name="bench-noop")
    def noop() -> int:
        return 1

    t = time.perf_counter()
    noop()
    return {"import_s": imported, "flow_call_s": time.perf_counter() - t,
            "ready_at_s": _elapsed_since_spawn()}


def phase_ingest(paths: list[str], warehouse: str, workers: int) -> dict:
    """The steplens ingest as the command runs it (`flows/orchestration/launch.py`), in a
    fresh process: preflight (a no-op returns there), Prefect's API started early, then the flow."""
    t = time.perf_counter()
    from steplens.flows.orchestration.launch import quiet_prefect_console, run_ingest
    from steplens.flows.settings import Settings

    imported = time.perf_counter() - t
    quiet_prefect_console()
    t = time.perf_counter()
    settings = Settings.from_env(warehouse=warehouse, workers=workers).resolved()
    summary = run_ingest(paths, settings, workers=workers)
    flow_call = time.perf_counter() - t
    return {"import_s": imported, "flow_call_s": flow_call,
            "flow_done_at_s": _elapsed_since_spawn(),
            "seconds": summary.get("seconds"), "no_op": summary.get("no_op"),
            "tables": summary.get("tables"), "batch": summary.get("batch"),
            "records_read": summary.get("records_read"), "balanced": summary.get("balanced"),
            "files": summary.get("files"), "files_unchanged": summary.get("files_unchanged")}


def phase_coverage(paths: list[str]) -> dict:
    """The field-coverage pass (transforms/coverage.py) alone, over the input read as the
    ingest reads it: what it adds to an ingest. Reading and decompressing are shared with
    the parse, so only the coverage calls are timed (wall and CPU, this process)."""
    from steplens.flows.io import inputs
    from steplens.flows.store.manifest import file_kind
    from steplens.transforms import coverage
    from steplens.transforms.sse import sse_events_of_pieces

    wall = cpu = 0.0
    rows = 0

    def timed(fn, *args) -> None:
        nonlocal wall, cpu, rows
        w, c = time.perf_counter(), time.process_time()
        rows += fn(*args).height
        wall += time.perf_counter() - w
        cpu += time.process_time() - c

    for f in inputs.discover(paths):
        _, gz, sse, doc = file_kind(f)
        reader = inputs._Reader(inputs.Chunk(f, 0, -1, compressed=gz, sse=sse, document=doc))
        if doc:
            timed(coverage.of_document, f, b"".join(inputs._pieces(reader, None)))
        elif sse:
            # the blocks are the parse's (it splits them for its own decode): not timed
            timed(coverage.of_events, f,
                  list(sse_events_of_pieces(inputs._pieces(reader, None))))
        else:
            first = 1
            for data in inputs._pieces(reader, 32 * MiB):
                timed(coverage.of_block, f, first, data)
                first += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return {"seconds": wall, "cpu_s": cpu, "rows": rows}


SAMPLE = REPO / "data" / "sample"


FIXED_MODES = (  # (key, Prefect API, STEPLENS_ORCHESTRATION)
    ("no_server", "none running: a temporary server (the default)", "prefect"),
    ("steplens_server", "`steplens server start` left running", "prefect"),
    ("direct", "--orchestration direct: no Prefect", "direct"),
)


def fixed_costs(env: dict[str, str], logs: Path, work: Path) -> dict:
    """`steplens ingest data/sample` (new warehouse, then a no-op re-run), process wall:
    a flow run with no Prefect server (a temporary one), with one left running by
    `steplens server start`, and the same steps without Prefect (`direct`)."""
    cli = [sys.executable, "-m", "steplens.flows.cli"]
    bare = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    out: dict = {}
    for key, label, orchestration in FIXED_MODES:
        run_env = {**bare, "STEPLENS_ORCHESTRATION": orchestration}
        if key == "steplens_server":
            subprocess.run([*cli, "server", "start", "--port", str(_free_port())], env=bare,
                           check=True, capture_output=True, cwd=REPO, timeout=180)
        try:
            wh = work / f"fixed-{key}"
            for run in ("new", "noop"):
                log(f"fixed cost, {label}: steplens ingest data/sample ({run})")
                out[f"{key}_{run}"] = measure([*cli, "ingest", str(SAMPLE), "-w", str(wh)],
                                              run_env, logs, f"fixed_{key}_{run}")
        finally:
            if key == "steplens_server":
                subprocess.run([*cli, "server", "stop"], env=bare, capture_output=True,
                               cwd=REPO, timeout=60)
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def print_fixed_costs(fig: dict) -> None:
    fc, warm = fig["fixed"], fig["prefect"]["warm"]["wall_s"]
    print_table("fixed cost of the command: steplens ingest data/sample, process wall "
                "(targets: new <= 3 s, no-op <= 1.5 s)",
                ["Prefect API", "new warehouse s", "no-op re-run s", "tree RSS MB (new)"], [
        *([label, fc[f"{key}_new"]["wall_s"], fc[f"{key}_noop"]["wall_s"],
           fc[f"{key}_new"]["peak_tree_rss_mb"]] for key, label, _ in FIXED_MODES),
        ["(trivial Prefect flow, temporary server, warm)", warm, None, None],
    ])


def input_files(data: Path) -> list[Path]:
    from steplens.flows.io.inputs import discover

    return [Path(f) for f in discover([data])]


def _chunks(files: list[str], chunk_bytes: int) -> list[tuple[str, int, int, bool]]:
    """(path, start, end, gzip) pieces cut at newlines; gzip files stay whole."""
    out = []
    for path in files:
        with open(path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
            size = os.path.getsize(path)
            if gz:
                out.append((path, 0, size, True))
                continue
            start = 0
            while start < size:
                f.seek(min(start + chunk_bytes, size))
                f.readline()
                end = min(f.tell(), size) if start + chunk_bytes < size else size
                out.append((path, start, end, False))
                start = end
    # biggest (and gzip, costlier per byte) first, so the tail of the pool is balanced
    return sorted(out, key=lambda c: (not c[3], -(c[2] - c[1])))


def _parse_piece(piece: tuple[str, int, int, bool]) -> tuple[int, int, int, int]:
    """orjson.loads every line: (lines, values, errors, bytes).

    Raw SSE: the `data:` lines of one block are joined and loaded once (`[DONE]` skipped);
    `event:` and comment lines are not JSON and are only counted as lines. Chunks are cut
    at line ends, so an SSE block spanning a chunk boundary counts as two errors (at
    most one per boundary; the parsing work is the same).
    """
    import gzip

    import orjson

    path, start, end, gz = piece
    lines = values = errors = nbytes = 0
    loads, decode_error = orjson.loads, orjson.JSONDecodeError

    def blocks():
        if gz:
            with gzip.open(path, "rb") as f:
                while block := f.read(8 * MiB):
                    yield block
            return
        with open(path, "rb") as f:
            f.seek(start)
            left = end - start
            while left > 0 and (block := f.read(min(8 * MiB, left))):
                left -= len(block)
                yield block

    data: list[bytes] = []  # the `data:` lines of the current SSE block

    def flush() -> None:
        nonlocal values, errors
        payload = b"\n".join(data)
        data.clear()
        if payload.strip() == b"[DONE]":
            return
        try:
            loads(payload)
            values += 1
        except decode_error:
            errors += 1

    def run(parts: list[bytes]) -> None:
        nonlocal values, errors
        v = e = 0
        for line in parts:  # the hot loop: no function call per line
            if line.startswith(b"data:"):
                data.append(line[5:])
                continue
            if data:
                flush()
            if not line.startswith(b"{") and (not line.strip()
                                              or line.startswith((b"event:", b":"))):
                continue
            try:
                loads(line)
                v += 1
            except decode_error:
                e += 1
        values += v
        errors += e

    tail = b""
    for block in blocks():
        nbytes += len(block)
        parts = (tail + block).split(b"\n")
        tail = parts.pop()
        lines += len(parts)
        run(parts)
    if tail:
        lines += 1
        run([tail])
    if data:
        flush()
    return lines, values, errors, nbytes


def phase_parse_bound(files: list[str], workers: int, chunk_mb: int = 16) -> dict:
    """orjson over every line of every file, one process per core."""
    import multiprocessing

    t = time.perf_counter()
    pieces = _chunks(files, chunk_mb * MiB)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        totals = [0, 0, 0, 0]
        for r in pool.imap_unordered(_parse_piece, pieces, chunksize=1):
            totals = [a + b for a, b in zip(totals, r, strict=True)]
    seconds = time.perf_counter() - t
    lines, values, errors, nbytes = totals
    return {"seconds": seconds, "lines": lines, "values": values, "errors": errors,
            "uncompressed_bytes": nbytes, "pieces": len(pieces), "workers": workers}


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# The fields of a run step the baseline keeps, as a json_transform type: one parse per
# step gives a typed STRUCT (wrong-typed fields become NULL, never an error).
STEP_TYPE = json.dumps({
    "id": "VARCHAR", "object": "VARCHAR", "run_id": "VARCHAR", "thread_id": "VARCHAR",
    "assistant_id": "VARCHAR", "type": "VARCHAR", "status": "VARCHAR",
    "created_at": "BIGINT", "completed_at": "BIGINT", "failed_at": "BIGINT",
    "cancelled_at": "BIGINT", "expired_at": "BIGINT",
    "last_error": {"code": "VARCHAR", "message": "VARCHAR"},
    "step_details": {
        "type": "VARCHAR", "message_creation": {"message_id": "VARCHAR"},
        "tool_calls": [{
            "id": "VARCHAR", "type": "VARCHAR",
            "function": {"name": "VARCHAR", "arguments": "VARCHAR", "output": "VARCHAR"},
            "code_interpreter": {"input": "VARCHAR",
                                 "outputs": [{"type": "VARCHAR", "logs": "VARCHAR"}]},
            "file_search": {"results": ["JSON"]},
        }],
    },
    "usage": {"prompt_tokens": "BIGINT", "completion_tokens": "BIGINT",
              "total_tokens": "BIGINT",
              "prompt_token_details": {"cached_tokens": "BIGINT"},
              "prompt_tokens_details": {"cached_tokens": "BIGINT"},
              "completion_tokens_details": {"reasoning_tokens": "BIGINT"}},
    "metadata": "JSON",
}, separators=(",", ":"))


def _is_sse(path: str) -> bool:
    """Raw SSE text: by extension, or by a first non-blank line `event:` / `data:`."""
    import gzip

    name = path.lower().removesuffix(".gz")
    if name.endswith((".sse", ".txt")):
        return True
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gz else open(path, "rb") as f:  # noqa: SIM115
        for line in f:
            if line.strip():
                return line.startswith((b"event:", b"data:"))
    return False


def _read_lines(files: list[str]) -> str:
    """Every line as one VARCHAR: a delimiter that valid JSON text never holds raw (0x1F
    must be escaped inside JSON strings), no quoting; gzip by extension; blank lines are
    NULL."""
    flist = "[" + ", ".join(_sql_str(f) for f in files) + "]"
    return (f"read_csv({flist}, columns = {{'line': 'VARCHAR'}}, delim = '\x1f', "
            "quote = '', escape = '', header = false, auto_detect = false, "
            "filename = true, max_line_size = 1073741824, strict_mode = false)")


def duckdb_baseline_sql(files: list[str], out_dir: str,
                        sse_blocks: bool = False) -> list[tuple[str, str]]:
    """The DuckDB-alone pipeline: (name, statement) in order.

    Raw SSE: by default every `data:` line is a record of its own (prefix stripped, all
    files in one parallel scan); a block whose JSON is spread over several `data:` lines
    then fails `json_valid` and is skipped like any bad line. With `sse_blocks`, SSE
    files are cut into blocks first (exact, but an ordered single-threaded pass).
    """
    sse = [f for f in files if _is_sse(f)] if sse_blocks else []
    plain = [f for f in files if f not in sse]
    statements = []
    if sse:
        # One SSE block (`event:` line, `data:` lines, blank line) is one record: number
        # the lines (insertion order is kept for this statement only), cut blocks at
        # blank and `event:` lines, join each block's data lines.
        statements += [("sse_order_on", "set preserve_insertion_order = true"),
                       ("sse_blocks", f"""
create temp table sse_text as
with numbered as (
    select filename, line, row_number() over () as rn from {_read_lines(sse)}
),
cut as (
    select filename, rn, line,
           sum((line is null or starts_with(line, 'event:'))::int)
               over (partition by filename order by rn rows unbounded preceding) as block
    from numbered
)
select filename, string_agg(ltrim(substr(line, 6)), chr(10) order by rn) as t
from cut
where starts_with(line, 'data:')
group by filename, block
having contains(t, '"thread.run.step"')
""")]
    statements.append(("order_off", "set preserve_insertion_order = false"))
    plain_lines = (
        "select filename, case when starts_with(line, 'data:') then ltrim(substr(line, 6)) "
        f"else line end as t from {_read_lines(plain)}" if plain
        else "select null::varchar as filename, null::varchar as t where false")
    sse_lines = "union all select filename, t from sse_text" if sse else ""
    events = ", ".join(_sql_str(e) for e in STEP_EVENTS)
    terminal = "('completed', 'failed', 'cancelled', 'expired')"
    pick = f"""
create temp table winners as
with lines as (
    {plain_lines}
    {sse_lines}
),
candidates as (   -- cheap substring test first; only then validate: bad lines are skipped
    select filename, t, json_extract_string(t, ['$.object', '$.event']) as oe
    from lines
    where t is not null and contains(t, '"thread.run.step"') and json_valid(t)
),
items as (        -- bare steps, items of list pages, `data` of stream envelopes
    select filename, oe[2] as event,
           unnest(case when oe[1] = 'list' then json_extract(t, '$.data[*]')
                       when oe[1] = 'thread.run.step' then [t::json]
                       when oe[1] is null and oe[2] like 'thread.run.step.%'
                           then [json_extract(t, '$.data')]
                  end) as s
    from candidates
),
typed as (
    select json_transform(s, {_sql_str(STEP_TYPE)}) as st, length(s::varchar) as size,
           hash(s) as h, event
    from items
    where json_type(s) = 'OBJECT'
)
select st from typed
where st.id is not null
  and (st.object = 'thread.run.step' or (st.object is null and event in ({events})))
qualify row_number() over (
    partition by st.id
    order by (st.status in {terminal}) desc,
             greatest(st.created_at, st.completed_at, st.failed_at, st.cancelled_at,
                      st.expired_at) desc nulls last,
             (st.usage is not null) desc, size desc, h desc) = 1
"""
    steps = f"""
copy (
    select st.id as step_id, st.run_id, st.thread_id, st.assistant_id, st.type, st.status,
           make_timestamp(st.created_at * 1000000) as created_at,
           make_timestamp(st.completed_at * 1000000) as completed_at,
           make_timestamp(st.failed_at * 1000000) as failed_at,
           make_timestamp(st.cancelled_at * 1000000) as cancelled_at,
           make_timestamp(st.expired_at * 1000000) as expired_at,
           (case st.status when 'completed' then st.completed_at when 'failed' then st.failed_at
                           when 'cancelled' then st.cancelled_at
                           when 'expired' then st.expired_at end - st.created_at)::double
               as latency_s,
           st.last_error.code as last_error_code, st.last_error.message as last_error_message,
           st.step_details.message_creation.message_id as message_id,
           coalesce(len(st.step_details.tool_calls), 0) as tool_call_count,
           st.usage.prompt_tokens, st.usage.completion_tokens, st.usage.total_tokens,
           coalesce(st.usage.prompt_token_details.cached_tokens,
                    st.usage.prompt_tokens_details.cached_tokens) as cached_tokens,
           st.usage.completion_tokens_details.reasoning_tokens as reasoning_tokens,
           st.metadata::varchar as metadata,
           make_timestamp(st.created_at * 1000000)::date as day
    from winners
) to {_sql_str(out_dir + '/steps.parquet')} (format parquet, compression zstd)
"""
    calls = f"""
copy (
    select st.id as step_id, st.run_id, st.thread_id, st.assistant_id, i - 1 as call_index,
           c.id as tool_call_id, c.type, c.function.name as function_name,
           c.function.arguments as function_arguments, c.function.output as function_output,
           json_valid(c.function.arguments) as arguments_valid_json,
           c.code_interpreter.input as code_input,
           list_sum(list_transform(c.code_interpreter.outputs, lambda o:
               case when o.type = 'logs' then length(o.logs) else 0 end)) as code_log_chars,
           len(list_filter(c.code_interpreter.outputs, lambda o: o.type = 'image'))
               as code_image_count,
           len(c.file_search.results) as file_search_result_count,
           st.status as step_status, st.type as step_type,
           make_timestamp(st.created_at * 1000000) as created_at
    from (select st, unnest(st.step_details.tool_calls) as c,
                 generate_subscripts(st.step_details.tool_calls, 1) as i
          from winners)
) to {_sql_str(out_dir + '/tool_calls.parquet')} (format parquet, compression zstd)
"""
    return statements + [("pick_and_dedup", pick), ("write_steps", steps),
                         ("write_tool_calls", calls)]


def phase_duckdb(files: list[str], out_dir: str, threads: int,
                 sse_blocks: bool = False) -> dict:
    import duckdb

    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"set threads = {int(threads)}")
    con.execute("set enable_progress_bar = false")
    con.execute(f"set temp_directory = {_sql_str(out_dir + '/.tmp')}")
    stages = {}
    t = time.perf_counter()
    statements = duckdb_baseline_sql(files, out_dir, sse_blocks)
    stages["plan"] = time.perf_counter() - t
    for name, sql in statements:
        t = time.perf_counter()
        con.execute(sql)
        stages[name] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    steps = con.sql(f"select count(*) from {_sql_str(out_dir + '/steps.parquet')}").fetchall()
    calls = con.sql(f"select count(*) from {_sql_str(out_dir + '/tool_calls.parquet')}"
                    ).fetchall()
    return {"seconds": seconds, "stages": stages, "steps": steps[0][0],
            "tool_calls": calls[0][0], "threads": threads, "sse_blocks": sse_blocks}


# ---- issue 23: the same job in DuckDB, the floor, the three ways to run steplens -------
# (kept apart from the phases above so that other changes to this file merge easily)

def phase_same_job(files: list[str], out_dir: str, threads: int,
                   memory_limit: str | None = None) -> dict:
    """benchmarks/duckdb_same_job.py: steplens' five tables by DuckDB SQL alone. Its own
    `seconds` (connect .. last Parquet file) leave out the interpreter start.
    `memory_limit`: DuckDB's (it spills to its temp directory beyond)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import duckdb_same_job

    return duckdb_same_job.run(files, out_dir, threads=threads, memory_limit=memory_limit)


def phase_floor(files: list[str], threads: int) -> dict:
    """The physical floor on these bytes: DuckDB reading every line as one VARCHAR
    (`read_csv`, the same options as the baselines) into memory, then `json_valid` over
    every line; each timed on its own."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"set threads = {int(threads)}")
    con.execute("set enable_progress_bar = false")
    t = time.perf_counter()
    con.execute(f"create temp table l as select line from {_read_lines(files)}")
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    valid = con.sql("select count(*) filter (where json_valid(line)) from l").fetchall()[0][0]
    valid_s = time.perf_counter() - t
    lines = con.sql("select count(*) from l").fetchall()[0][0]
    return {"read_s": read_s, "json_valid_s": valid_s, "lines": lines, "valid": valid,
            "threads": threads}


def steplens_modes(env: dict[str, str], logs: Path, work: Path, data: Path) -> dict:
    """`steplens ingest DATA` into a new warehouse, process wall, two more ways: as a flow
    run of the warm runner of a standing server (`steplens server start`, started before
    and stopped after, not timed) and with `--orchestration direct` (no Prefect). Each
    result gains the flow body's `seconds` from the warehouse's summary."""
    cli = [sys.executable, "-m", "steplens.flows.cli"]
    bare = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    out: dict = {}
    for key, orchestration in (("standing", "prefect"), ("direct", "direct")):
        wh = work / f"warehouse-{key}"
        if key == "standing":
            log("starting a standing server (steplens server start)")
            subprocess.run([*cli, "server", "start", "--port", str(_free_port())], env=bare,
                           check=True, capture_output=True, cwd=REPO, timeout=300)
        try:
            log(f"steplens ingest, {key}")
            out[key] = measure([*cli, "ingest", str(data), "-w", str(wh)],
                               {**bare, "STEPLENS_ORCHESTRATION": orchestration}, logs,
                               f"ingest_{key}")
        finally:
            if key == "standing":
                subprocess.run([*cli, "server", "stop"], env=bare, capture_output=True,
                               cwd=REPO, timeout=120)
        summary = json.loads((wh / "current" / "summary.json").read_text())
        out[key]["body_s"] = summary.get("seconds")
        out[key]["steps"] = summary.get("steps")
        shutil.rmtree(wh, ignore_errors=True)
    return out


def print_same_job(fig: dict, size: int) -> None:
    """The issue-23 figures: steplens three ways against the same-job script, the flow
    body's MB/s beside the floor on every line, and the start-up check."""
    mb = _mb(size)
    sj, floor = fig["same_job"], fig["floor"]["result"]
    failed = sj.get("failed")  # the script did not finish (its error): no ratios
    sj_s = None if failed else sj["result"]["seconds"]

    def ratio(wall: float) -> float | None:
        return wall / sj_s if sj_s else None

    read_mbs = mb / floor["read_s"]
    valid_mbs = mb / floor["json_valid_s"]
    ing = fig["ingest"]
    modes = [
        ("flow run on a standing server", fig["modes"]["standing"],
         fig["modes"]["standing"]["body_s"]),
        ("direct (no Prefect)", fig["modes"]["direct"], fig["modes"]["direct"]["body_s"]),
        ("temporary Prefect server", ing, ing["result"].get("seconds")),
    ]
    rows = []
    for label, m, body in modes:
        rows.append([f"steplens, {label}", m["wall_s"], mb / m["wall_s"], ratio(m["wall_s"]),
                     body, mb / body if body else None, read_mbs, valid_mbs, m["cpu_s"],
                     m["peak_tree_rss_mb"], m["loadavg_before"]])
    if failed:
        rows.append(["same-job DuckDB script: FAILED", None, None, None, None, None, read_mbs,
                     valid_mbs, None, None, None])
    else:
        rows.append(["same-job DuckDB script (its own seconds)", sj_s, mb / sj_s, 1.0, None,
                     None, read_mbs, valid_mbs, sj["cpu_s"], sj["peak_tree_rss_mb"],
                     sj["loadavg_before"]])
    print_table(f"steplens vs the same job in DuckDB ({mb:,.1f} MiB; wall ratio = steplens "
                "wall / same-job wall, target <= 0.5 for the standing server; floor = DuckDB "
                "line read, json_valid)",
                ["run", "wall s", "MB/s", "/ same-job", "body s", "body MB/s",
                 "floor read MB/s", "floor valid MB/s", "cpu s", "tree RSS MB", "load"], rows)
    print("  (standing server: cpu s and RSS are the client's only, the flow runs in the "
          "server's warm runner; load = 1-minute load average when the run started)")
    if failed:
        print(f"  same-job script failed: {failed}")
    elif sj["result"].get("responses_records_not_done"):
        print(f"  warning: {sj['result']['responses_records_not_done']:,} Responses API records "
              "in the input: steplens tables them, the same-job script does not (its job is "
              "smaller than steplens' here)")
    if not failed:
        rows_sj = sj["result"]["rows"]
        print("same-job rows: " + ", ".join(f"{k} {v:,}" for k, v in rows_sj.items())
              + f"; steplens steps {fig['modes']['direct'].get('steps')}")
    trivial = fig["prefect"]["warm"]["wall_s"]
    body = ing["result"].get("seconds") or float("nan")
    bound = trivial + body
    verdict = "met" if ing["wall_s"] <= bound else "MISSED"
    print(f"temporary server: end to end {ing['wall_s']:.2f} s <= trivial Prefect flow "
          f"{trivial:.2f} s + flow body {body:.2f} s = {bound:.2f} s: {verdict} "
          f"(excess {ing['wall_s'] - bound:+.2f} s; load {ing['loadavg_before']:.2f})")
    def shown(r: float | None) -> str:
        return "-" if r is None else f"{r:.3f}"

    print(f"same_job: size_mib={mb:.1f} "
          f"ratio_standing={shown(ratio(fig['modes']['standing']['wall_s']))} "
          f"ratio_direct={shown(ratio(fig['modes']['direct']['wall_s']))} "
          f"ratio_temporary={shown(ratio(ing['wall_s']))} "
          f"body_mb_s={mb / body:.1f} floor_read_mb_s={read_mbs:.1f} "
          f"floor_json_valid_mb_s={valid_mbs:.1f} startup_check={verdict.lower()} "
          f"load={os.getloadavg()[0]:.2f}")


def run_phase(name: str, kwargs: dict) -> None:
    fn = {"prefect_noop": phase_prefect_noop, "ingest": phase_ingest,
          "parse_bound": phase_parse_bound, "duckdb": phase_duckdb,
          "same_job": phase_same_job, "floor": phase_floor,
          "coverage": phase_coverage}[name]
    result = fn(**kwargs)
    sys.stdout.flush()
    print(json.dumps(result, default=str), flush=True)


# ---- in-process measurements ----------------------------------------------------------

def manifest_check(paths: list[str], warehouse: Path) -> tuple[float, int]:
    """What a no-op must do at least: discover the files, read the manifest, plan."""
    from steplens.flows.io.inputs import discover
    from steplens.flows.store import snapshots
    from steplens.flows.store.manifest import Manifest, plan

    t = time.perf_counter()
    files = discover(paths)
    prev = snapshots.current_snapshot(warehouse.resolve())
    manifest = Manifest.from_json(snapshots.read_json(prev, snapshots.MANIFEST))
    plans = plan(files, manifest)
    seconds = time.perf_counter() - t
    return seconds, sum(p.action != "unchanged" for p in plans)


def time_views(duckdb_path: Path, repeat: int = 3) -> dict[str, dict[str, float]]:
    """Each metric view: first query (cold) and best of `repeat` more, in seconds."""
    import duckdb

    out = {}
    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        for view in VIEWS:
            t = time.perf_counter()
            rows = len(con.sql(f"from {view}").fetchall())
            first = time.perf_counter() - t
            best = float("inf")
            for _ in range(repeat):
                t = time.perf_counter()
                con.sql(f"from {view}").fetchall()
                best = min(best, time.perf_counter() - t)
            out[view] = {"first_s": first, "best_s": best, "rows": rows}
    finally:
        con.close()
    return out


def build_synthetic_warehouse(root: Path, n_steps: int, seed: int = 7) -> dict[str, int]:
    """A warehouse of `n_steps` steps written directly as partitioned Parquet.

    Layout as steplens writes it (`current -> snapshots/<id>/<table>/month=YYYY-MM/
    part-0.parquet`), schemas from `transforms.schemas`; one month at a time so memory
    stays bounded. Then `flows.warehouse.build_duckdb` creates the views.
    """
    from datetime import UTC, datetime

    import polars as pl

    from steplens.flows.store.views import build_duckdb
    from steplens.transforms import schemas

    months = [(y, m) for y in (2024, 2025) for m in range(1, 13)][:21]  # 2024-01..2025-09
    snap = root / "snapshots" / f"{time.time_ns():020d}"
    counts = {"steps": 0, "tool_calls": 0, "usage": 0, "runs": 0}
    assistants = [f"asst_{k:024d}" for k in range(8)]
    models = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4-turbo", "o3-mini",
              "gpt-3.5-turbo", "gpt-4o-2024-08-06", "gpt-4-turbo-preview"]
    functions = ["get_weather", "get_forecast", "run_sql", "lookup_order", "refund",
                 "fetch_url", "search_kb"]
    per_month = -(-n_steps // len(months))

    def pick(values: list[str], h: pl.Expr) -> pl.Expr:
        return (h % len(values)).replace_strict(dict(enumerate(values)), return_dtype=pl.String)

    def conform(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
        """The table's columns in order; a column this generator does not know is NULL."""
        missing = [pl.lit(None, dtype=t).alias(c) for c, t in schema.items()
                   if c not in frame.columns]
        return frame.with_columns(missing).select(schema.names()).cast(dict(schema))

    def write(table: str, part: str, frame: pl.DataFrame, key: str) -> None:
        path = snap / table / part / "part-0.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.sort(key).write_parquet(path, compression="zstd", statistics=True)

    for mi, (y, m) in enumerate(months):
        lo, hi = mi * per_month, min(n_steps, (mi + 1) * per_month)
        if lo >= hi:
            break
        start = int(datetime(y, m, 1, tzinfo=UTC).timestamp())
        end = int(datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC).timestamp())
        i = pl.col("i")
        h1, h2, h3, h4 = (i.hash(seed + k) for k in range(4))
        u = (h2 % 1_000_000 + 1).cast(pl.Float64) / 1_000_001
        ts = lambda col: pl.from_epoch(col, time_unit="s").cast(schemas.TS)  # noqa: E731
        base = pl.DataFrame({"i": pl.int_range(lo, hi, eager=True, dtype=pl.Int64)}).with_columns(
            step_id=pl.format("step_{}", i), run_id=pl.format("run_{}", i // 3),
            thread_id=pl.format("thread_{}", i // 6),
            assistant_id=pick(assistants, (i // 3).hash(seed + 10)),
            model=pick(models, (i // 3).hash(seed)),
            type=pl.when(h1 % 10 < 6).then(pl.lit("tool_calls")).otherwise(
                pl.lit("message_creation")),
            status=pl.when(h3 % 1000 < 860).then(pl.lit("completed"))
            .when(h3 % 1000 < 930).then(pl.lit("failed"))
            .when(h3 % 1000 < 960).then(pl.lit("cancelled"))
            .when(h3 % 1000 < 975).then(pl.lit("expired")).otherwise(pl.lit("in_progress")),
            created=(start + (h4 % (end - start))).cast(pl.Int64),
            latency=(-(u.log()) * 6.0).round(0).cast(pl.Int64) + 1,
        ).with_columns(ended=pl.col("created") + pl.col("latency"))
        st = pl.col("status")
        steps = base.with_columns(
            created_at=ts(pl.col("created")),
            completed_at=ts(pl.when(st == "completed").then(pl.col("ended"))),
            failed_at=ts(pl.when(st == "failed").then(pl.col("ended"))),
            cancelled_at=ts(pl.when(st == "cancelled").then(pl.col("ended"))),
            expired_at=ts(pl.when(st == "expired").then(pl.col("ended"))),
            ended_at=ts(pl.when(st != "in_progress").then(pl.col("ended"))),
            latency_s=pl.when(st != "in_progress").then(pl.col("latency").cast(pl.Float64)),
            last_error_code=pl.when(st == "failed").then(pl.lit("server_error")),
            last_error_message=pl.when(st == "failed").then(pl.lit("Something went wrong.")),
            message_id=pl.when(pl.col("type") == "message_creation")
            .then(pl.format("msg_{}", i)),
            tool_call_count=pl.when(pl.col("type") == "tool_calls")
            .then(1 + h2 % 2).otherwise(0).cast(pl.Int64),
            prompt_tokens=pl.when(h4 % 10 > 0).then(200 + h1 % 4000).cast(pl.Int64),
            completion_tokens=pl.when(h4 % 10 > 0).then(10 + h2 % 800).cast(pl.Int64),
            cached_tokens=pl.when(h4 % 10 > 0).then(h3 % 200).cast(pl.Int64),
            reasoning_tokens=pl.lit(None, dtype=pl.Int64),
            metadata=pl.format('{{"tenant":"t{}"}}', h2 % 5),
        ).with_columns(
            total_tokens=pl.col("prompt_tokens") + pl.col("completion_tokens"),
            day=pl.col("created_at").dt.date(),
        )
        part = f"month={y:04d}-{m:02d}"
        steps_out = conform(steps, schemas.STEPS)
        write("steps", part, steps_out, "step_id")
        usage = conform(steps_out.filter(pl.col("total_tokens").is_not_null()), schemas.USAGE)
        write("usage", part, usage, "step_id")
        kinds = ["function", "function", "function", "code_interpreter", "file_search"]
        calls = conform(
            steps_out.filter(pl.col("tool_call_count") > 0)
            .with_columns(call_index=pl.int_ranges(0, "tool_call_count"))
            .explode("call_index")
            .with_columns(h=pl.struct("step_id", "call_index").hash(seed))
            .with_columns(
                tool_call_id=pl.format("call_{}_{}", "step_id", "call_index"),
                type=pick(kinds, pl.col("h")),
                step_status=pl.col("status"), step_type=pl.lit("tool_calls"),
            )
            .with_columns(
                function_name=pl.when(pl.col("type") == "function")
                .then(pick(functions, pl.col("h") // 7)),
                function_arguments=pl.when(pl.col("type") == "function")
                .then(pl.lit('{"city":"Paris"}')),
                function_output=pl.when(pl.col("type") == "function").then(pl.lit("18C")),
                arguments_valid_json=pl.when(pl.col("type") == "function").then(True),
                code_input=pl.when(pl.col("type") == "code_interpreter")
                .then(pl.lit("print(1)")),
                code_log_chars=pl.when(pl.col("type") == "code_interpreter").then(2),
                code_image_count=pl.when(pl.col("type") == "code_interpreter").then(0),
                file_search_result_count=pl.when(pl.col("type") == "file_search")
                .then(pl.col("h") % 5),
            ),
            schemas.TOOL_CALLS,
        )
        calls_path = snap / "tool_calls" / part / "part-0.parquet"
        calls_path.parent.mkdir(parents=True, exist_ok=True)
        calls.sort("step_id", "call_index").write_parquet(calls_path, compression="zstd",
                                                         statistics=True)
        runs = conform(
            steps.filter(i % 3 == 0)
            .with_columns(
                started_at=ts(pl.col("created") + 1), expires_at=ts(pl.col("created") + 600),
                incomplete_reason=pl.lit(None, dtype=pl.String),
                queue_s=pl.lit(1.0), duration_s=(pl.col("latency") * 3).cast(pl.Float64),
            ),
            schemas.RUNS,
        )
        write("runs", part, runs, "run_id")
        for k, f in (("steps", steps_out), ("tool_calls", calls), ("usage", usage),
                     ("runs", runs)):
            counts[k] += f.height
    for table, spec in schemas.TABLES.items():  # rejects, and any table added later
        if not (snap / table).exists():
            empty = snap / table / "_empty" / "part-0.parquet"
            empty.parent.mkdir(parents=True, exist_ok=True)
            pl.DataFrame(schema=spec.schema).write_parquet(empty)
    link = root / f".current.{os.getpid()}"
    os.symlink(Path("snapshots") / snap.name, link)
    os.replace(link, root / "current")
    build_duckdb(root.resolve())
    return counts


# ---- the run ----------------------------------------------------------------------------

def code_version() -> str:
    """The commit benchmarked, and whether flows/ or transforms/ differ from it."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--",
                                "flows", "transforms"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"{REPO} (not a git checkout)"
    return f"{commit}" + (" with uncommitted changes in flows/ or transforms/" if dirty else "")


def _dir_bytes(files: list[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def _read_all(files: list[Path]) -> float:
    """Read every byte once (warms the page cache); seconds taken."""
    t = time.perf_counter()
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(16 * MiB):
                pass
    return time.perf_counter() - t


def content_hash_cost(files: list[Path], repeat: int = 3) -> dict[str, float]:
    """Seconds to hash every input whole (flows/store/manifest.py content_hashes): what
    an incremental run pays per held file to prove it unchanged; best of `repeat`."""
    from steplens.flows.store.manifest import content_hash

    size = _dir_bytes(files)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for f in files:
            content_hash(f, f.stat().st_size)
        best = min(best, time.perf_counter() - t)
    return {"seconds": best, "bytes": size,
            "mb_per_s": _mb(size) / best if best > 0 else float("inf")}


def _mb(n: int) -> float:
    return n / MiB


def _fmt(v: object, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[k]) for r in cells)) for k, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) if k == 0 else h.rjust(w)
                    for k, (h, w) in enumerate(zip(header, widths, strict=True))))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) if k == 0 else c.rjust(w)
                        for k, (c, w) in enumerate(zip(r, widths, strict=True))))


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1000,
                        help="size of the generated export in MiB (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="steplens parse processes, parse-bound processes and DuckDB "
                             "threads (default: cores)")
    parser.add_argument("--data", type=Path, default=None,
                        help="export directory to reuse (generated there if empty)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated export, warehouse and logs")
    parser.add_argument("--steps-millions", type=float, default=0,
                        help="also time the views over a synthetic warehouse of N million "
                             "steps (off by default)")
    parser.add_argument("--duckdb-sse-blocks", action="store_true",
                        help="DuckDB baseline: reassemble multi-line SSE blocks (exact, "
                             "slower) instead of reading each data: line on its own")
    parser.add_argument("--json", type=Path, default=None, help="also write all figures here")
    parser.add_argument("--same-job-memory-limit", default=None,
                        help="DuckDB memory_limit of the same-job script (e.g. 12GB): it holds "
                             "every line in memory (15 GB of RSS at 1 GB), so beyond about "
                             "1.3 GB of input it must spill to fit this machine")
    parser.add_argument("--hash-only", action="store_true",
                        help="only the export and the cost of the content hash that "
                             "change detection reads every input with (no ingest)")
    parser.add_argument("--fixed-cost-only", action="store_true",
                        help="only Prefect's start-up and the command's fixed cost on "
                             "data/sample (no export, no baselines)")
    parser.add_argument("--no-fixed-cost", action="store_true",
                        help="skip the command's fixed cost on data/sample (6 runs)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="steplens-bench-"))
    logs = work / "logs"
    logs.mkdir()
    prefect_home = work / "prefect-home"
    env = {**os.environ, "PREFECT_HOME": str(prefect_home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
           "PREFECT_LOGGING_LEVEL": "WARNING",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                       os.environ.get("PYTHONPATH")]))}
    os.environ.update({k: env[k] for k in ("PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED")})
    sys.path.insert(0, str(REPO))
    fig: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "code": code_version(),
                 "machine": {"cores": os.cpu_count(), "python": sys.version.split()[0],
                             "prefect_api_url": os.environ.get("PREFECT_API_URL")}}
    try:
        if args.fixed_cost_only:
            log("Prefect start-up: trivial flow on a fresh PREFECT_HOME, then twice warm")
            cold = measure(_phase_argv("prefect_noop"), env, logs, "prefect_cold")
            warm = [measure(_phase_argv("prefect_noop"), env, logs, f"prefect_warm{k}")
                    for k in range(2)]
            fig["prefect"] = {"cold": cold, "warm": min(warm, key=lambda r: r["wall_s"])}
            fig["fixed"] = fixed_costs(env, logs, work)
            print(f"Prefect start-up, trivial flow: fresh PREFECT_HOME {cold['wall_s']:.2f} s, "
                  f"warm {fig['prefect']['warm']['wall_s']:.2f} s")
            print_fixed_costs(fig)
            if args.json:
                args.json.write_text(json.dumps(fig, indent=2, default=str))
            return 0
        # 1. the export ---------------------------------------------------------------------
        data = args.data or work / "export"
        data.mkdir(parents=True, exist_ok=True)
        if not any(data.iterdir()):
            from tests.support.generate import generate_export

            log(f"generating {args.size_mb:g} MiB into {data} (seed {args.seed})")
            t = time.perf_counter()
            gen = generate_export(data, seed=args.seed, target_bytes=int(args.size_mb * MiB))
            fig["generate"] = {"seconds": time.perf_counter() - t,
                               **{k: v for k, v in gen.items() if k != "files"}}
        else:
            log(f"reusing the export in {data}")
        files = input_files(data)
        names = [str(f) for f in files]
        size = _dir_bytes(files)
        fig["input"] = {"files": len(files), "bytes": size, "read_s": _read_all(files)}
        log(f"{len(files)} files, {_mb(size):,.1f} MiB on disk; page cache warmed in "
            f"{fig['input']['read_s']:.2f} s")
        fig["hash"] = content_hash_cost(files)
        print(f"change detection: xxh3_128 of every input file (page cache warm) "
              f"{fig['hash']['seconds']:.3f} s, {fig['hash']['mb_per_s']:,.0f} MiB/s; "
              f"reading the same bytes {fig['input']['read_s']:.3f} s", flush=True)
        if args.hash_only:
            if args.json:
                args.json.write_text(json.dumps(fig, indent=2, default=str))
            return 0
        load = os.getloadavg()[0]
        if load > 0.5:
            log(f"warning: load average {load:.2f} before measuring: other processes "
                "share the cores, figures will be noisy")

        # 2. Prefect's fixed start-up ----------------------------------------------------
        log("Prefect start-up: trivial flow on a fresh PREFECT_HOME, then twice warm")
        cold = measure(_phase_argv("prefect_noop"), env, logs, "prefect_cold")
        warm = [measure(_phase_argv("prefect_noop"), env, logs, f"prefect_warm{k}")
                for k in range(2)]
        fig["prefect"] = {"cold": cold, "warm": min(warm, key=lambda r: r["wall_s"])}

        # 3b. parse bound, 3a. DuckDB --------------------------------------------------
        log(f"parse bound: orjson over every line, {args.workers} processes")
        fig["parse_bound"] = measure(_phase_argv("parse_bound", files=names,
                                                 workers=args.workers), env, logs,
                                     "parse_bound")
        log(f"DuckDB baseline, {args.workers} threads")
        fig["duckdb"] = measure(_phase_argv("duckdb", files=names, out_dir=str(work / "duckdb"),
                                            threads=args.workers,
                                            sse_blocks=args.duckdb_sse_blocks),
                                env, logs, "duckdb")
        shutil.rmtree(work / "duckdb", ignore_errors=True)
        log(f"same-job DuckDB script, {args.workers} threads")
        try:
            fig["same_job"] = measure(_phase_argv("same_job", files=names,
                                                  out_dir=str(work / "same_job"),
                                                  threads=args.workers,
                                                  memory_limit=args.same_job_memory_limit),
                                      env, logs, "same_job")
        except RuntimeError as e:  # e.g. out of memory at 4 GB: steplens is measured still
            lines = str(e).strip().splitlines()
            fig["same_job"] = {"failed": next((x for x in reversed(lines) if "Error" in x),
                                              lines[-1])[:300]}
            log(f"same-job script failed: {fig['same_job']['failed']}")
        shutil.rmtree(work / "same_job", ignore_errors=True)
        log("floor: DuckDB line read, json_valid")
        fig["floor"] = measure(_phase_argv("floor", files=names, threads=args.workers), env,
                               logs, "floor")
        fig["modes"] = steplens_modes(env, logs, work, data)

        # 2. steplens ingest ---------------------------------------------------------------
        wh = work / "warehouse"
        log(f"steplens ingest ({args.workers} workers) into {wh}")
        fig["ingest"] = measure(_phase_argv("ingest", paths=[str(data)], warehouse=str(wh),
                                            workers=args.workers), env, logs, "ingest")
        log("field coverage pass alone (part of the ingest above)")
        fig["coverage"] = measure(_phase_argv("coverage", paths=[str(data)]), env, logs,
                                  "coverage")

        # 5. incremental no-op -----------------------------------------------------------
        checks = [manifest_check([str(data)], wh) for _ in range(3)]
        fig["manifest_check"] = {"seconds": min(c[0] for c in checks),
                                 "changed_files": checks[0][1]}
        log("incremental no-op re-run")
        fig["noop"] = measure(_phase_argv("ingest", paths=[str(data)], warehouse=str(wh),
                                          workers=args.workers), env, logs, "noop")

        # 6. the command's fixed cost on data/sample -------------------------------------
        if not args.no_fixed_cost:
            fig["fixed"] = fixed_costs(env, logs, work)

        # 4. metric views ------------------------------------------------------------------
        log("metric views over the warehouse")
        fig["views"] = time_views(wh / "steplens.duckdb")
        if args.steps_millions > 0:
            n = int(args.steps_millions * 1_000_000)
            syn = work / "synthetic"
            log(f"synthetic warehouse of {n:,} steps")
            t = time.perf_counter()
            counts = build_synthetic_warehouse(syn, n, args.seed)
            fig["synthetic"] = {"build_s": time.perf_counter() - t, "rows": counts,
                                "views": time_views(syn / "steplens.duckdb")}
            if not args.keep:
                shutil.rmtree(syn, ignore_errors=True)

        report(fig, size)
        print_same_job(fig, size)
        print_coverage_cost(fig)
        if args.json:
            args.json.write_text(json.dumps(fig, indent=2, default=str))
        ing, duck, pb = fig["ingest"], fig["duckdb"], fig["parse_bound"]
        print(f"ratio_vs_duckdb={duck['result']['seconds'] / ing['wall_s']:.3f} "
              f"ratio_vs_parse_bound={pb['result']['seconds'] / ing['wall_s']:.3f} "
              f"peak_rss_mb={ing['peak_tree_rss_mb']:.0f}")
        return 0
    finally:
        if args.keep:
            log(f"kept: {work}" + (f" (export in {args.data})" if args.data else ""))
        else:
            shutil.rmtree(work, ignore_errors=True)


def print_coverage_cost(fig: dict) -> None:
    """The field-coverage pass's share of the ingest (docs/fidelity.md: target < 10 %).

    Also against the direct ingest (`--orchestration direct`) of the same input: the
    temporary server's start-up (about 8 CPU-s, whatever the input) dilutes the share on
    a small input; the direct run is the ingest's own work, the share that holds at scale.
    """
    cov, ing = fig["coverage"]["result"], fig["ingest"]
    direct = (fig.get("modes") or {}).get("direct")
    print(f"field coverage pass (inside the ingest): {cov['seconds']:.2f} s wall, "
          f"{cov['cpu_s']:.2f} CPU-s, {cov['rows']:,} rows = "
          f"{100 * cov['cpu_s'] / ing['cpu_s']:.1f} % of the ingest's {ing['cpu_s']:.1f} CPU-s, "
          f"{100 * cov['seconds'] / ing['wall_s']:.1f} % of its {ing['wall_s']:.1f} s wall"
          + (f"; {100 * cov['cpu_s'] / direct['cpu_s']:.1f} % of the direct ingest's "
             f"{direct['cpu_s']:.1f} CPU-s" if direct else ""))


def report(fig: dict, size: int) -> None:
    mb = _mb(size)
    ing, noop, duck, pb = fig["ingest"], fig["noop"], fig["duckdb"], fig["parse_bound"]
    warm, cold = fig["prefect"]["warm"], fig["prefect"]["cold"]
    res = ing["result"]
    steps = (res.get("tables") or {}).get("steps", 0)
    records = res.get("records_read") or 0
    startup = warm["wall_s"]
    ing_net = max(ing["wall_s"] - startup, 1e-9)
    core = res.get("seconds") or float("nan")
    uncompressed = pb["result"]["uncompressed_bytes"]

    print(f"\nsteplens ingest benchmark: {fig['input']['files']} files, {mb:,.1f} MiB on disk "
          f"({_mb(uncompressed):,.1f} MiB uncompressed), {os.cpu_count()} cores; "
          "MB = MiB (2^20 bytes); MB/s = on-disk input bytes / seconds")
    print(f"code: {fig.get('code')}; Python {fig['machine']['python']}; PREFECT_API_URL "
          f"{fig['machine']['prefect_api_url'] or 'unset (temporary server per process)'}")
    if "generate" in fig:
        g = fig["generate"]
        print(f"generated in {g['seconds']:.1f} s: {g.get('runs', 0):,} runs, "
              f"{g.get('steps', 0):,} steps, {g.get('tool_calls', 0):,} tool calls, "
              f"{g.get('stream_events', 0):,} stream events")

    rows = [
        ["steplens ingest, end to end (process wall)", ing["wall_s"], mb / ing["wall_s"],
         steps / ing["wall_s"], ing["cpu_s"], ing["peak_tree_rss_mb"], ing["peak_tree_pss_mb"],
         ing["max_single_rss_mb"]],
        ["steplens ingest minus Prefect start-up", ing_net, mb / ing_net, steps / ing_net,
         None, None, None, None],
        ["steplens flow body (summary 'seconds')", core, mb / core, steps / core,
         None, None, None, None],
        ["(a) DuckDB alone (read -> Parquet)", duck["result"]["seconds"],
         mb / duck["result"]["seconds"], duck["result"]["steps"] / duck["result"]["seconds"],
         duck["cpu_s"], duck["peak_tree_rss_mb"], duck["peak_tree_pss_mb"],
         duck["max_single_rss_mb"]],
        ["(b) parse bound: orjson, all cores", pb["result"]["seconds"],
         mb / pb["result"]["seconds"], None, pb["cpu_s"], pb["peak_tree_rss_mb"],
         pb["peak_tree_pss_mb"], pb["max_single_rss_mb"]],
        ["Prefect start-up, trivial flow (warm)", startup, None, None, warm["cpu_s"],
         warm["peak_tree_rss_mb"], warm["peak_tree_pss_mb"], warm["max_single_rss_mb"]],
        ["Prefect start-up, fresh PREFECT_HOME", cold["wall_s"], None, None, cold["cpu_s"],
         cold["peak_tree_rss_mb"], cold["peak_tree_pss_mb"], cold["max_single_rss_mb"]],
        ["incremental no-op re-run (process wall)", noop["wall_s"], None, None, noop["cpu_s"],
         noop["peak_tree_rss_mb"], noop["peak_tree_pss_mb"], noop["max_single_rss_mb"]],
    ]
    print_table("throughput and memory", ["measure", "seconds", "MB/s", "steps/s", "cpu s",
                                          "tree RSS MB", "tree PSS MB", "max proc MB"], rows)

    batch = res.get("batch") or {}
    print_table("counts", ["what", "steplens", "DuckDB alone", "parse bound"], [
        ["lines", batch.get("lines_read"), None, pb["result"]["lines"]],
        ["records / JSON values parsed", records, None, pb["result"]["values"]],
        ["rejected / invalid", batch.get("rejected"), None, pb["result"]["errors"]],
        ["steps (rows)", steps, duck["result"]["steps"], None],
        ["tool_calls (rows)", (res.get("tables") or {}).get("tool_calls"),
         duck["result"]["tool_calls"], None],
        ["records/s (end to end)", records / ing["wall_s"], None,
         pb["result"]["values"] / pb["result"]["seconds"]],
    ])

    print_table("ratios (steplens throughput / baseline throughput; target >= 1.0 and >= 0.5)",
                ["steplens measured as", "vs DuckDB", "vs parse bound"], [
        ["end to end (used in the last line)", duck["result"]["seconds"] / ing["wall_s"],
         pb["result"]["seconds"] / ing["wall_s"]],
        ["minus Prefect start-up", duck["result"]["seconds"] / ing_net,
         pb["result"]["seconds"] / ing_net],
        ["flow body only", duck["result"]["seconds"] / core, pb["result"]["seconds"] / core],
        ["CPU seconds (baseline cpu / ingest cpu, load-insensitive)",
         duck["cpu_s"] / ing["cpu_s"], pb["cpu_s"] / ing["cpu_s"]],
    ])

    t_imp, t_done = res.get("import_s", 0), res.get("flow_done_at_s", 0)
    print_table("where the ingest process's wall time went", ["part", "seconds"], [
        ["interpreter start + imports (flows.orchestration.launch: Prefect comes later)", t_done
         - res.get("flow_call_s", 0)],
        ["  of which importing flows.launch", t_imp],
        ["run_ingest (preflight; Prefect imported while its server starts; flow + tasks + "
         "artifacts)", res.get("flow_call_s")],
        ["  of which the flow body's 'seconds' (discover .. build views)", core],
        ["exit (Prefect server shutdown, log flush)", ing["wall_s"] - t_done],
    ])
    print_table("DuckDB baseline stages", ["statement", "seconds"],
                [[k, v] for k, v in duck["result"]["stages"].items() if v >= 0.005]
                + [["total (connect .. last COPY)", duck["result"]["seconds"]]])

    mc = fig["manifest_check"]["seconds"]
    nres = noop["result"]
    print_table("incremental no-op re-run", ["measure", "seconds"], [
        ["no-op re-run, process wall", noop["wall_s"]],
        ["  interpreter start + imports", nres.get("flow_done_at_s", 0)
         - nres.get("flow_call_s", 0)],
        ["  flow call", nres.get("flow_call_s")],
        ["    of which the flow body's 'seconds'", nres.get("seconds")],
        ["  exit", noop["wall_s"] - nres.get("flow_done_at_s", 0)],
        ["Prefect start-up (trivial flow, warm)", startup],
        ["manifest check (discover + read manifest + plan, in process)", mc],
        ["  of which hashing every file whole (xxh3_128, page cache warm)",
         fig["hash"]["seconds"]],
        ["start-up + manifest check", startup + mc],
        ["no-op excess over start-up + manifest check", noop["wall_s"] - startup - mc],
        ["ratio no-op / (start-up + manifest check)", noop["wall_s"] / (startup + mc)],
    ])
    if not nres.get("no_op"):
        print("  warning: the re-run was not reported as a no-op")

    view_rows = [[f"{v} (warehouse above)", r["first_s"], r["best_s"], r["rows"]]
                 for v, r in fig["views"].items()]
    if "synthetic" in fig:
        syn = fig["synthetic"]
        n = syn["rows"]["steps"]
        view_rows += [[f"{v} ({n / 1e6:g} M steps)", r["first_s"], r["best_s"], r["rows"]]
                      for v, r in syn["views"].items()]
    print_table("metric views (first query, best of 3 more; target < 1 s at 5 M steps)",
                ["view", "first s", "best s", "rows"], view_rows)
    if "synthetic" in fig:
        syn = fig["synthetic"]
        print("synthetic warehouse: " + ", ".join(f"{k} {v:,}" for k, v in syn["rows"].items())
              + f"; built in {syn['build_s']:.1f} s")
    print(f"\npeak RSS: sum of VmRSS over the ingest process and all its live descendants "
          f"(spawned parse workers, Prefect's temporary server), sampled every 0.1 s: "
          f"{ing['peak_tree_rss_mb']:,.0f} MB over {ing['peak_tree_procs']} processes "
          f"(PSS {ing['peak_tree_pss_mb']:,.0f} MB; largest single process "
          f"{ing['max_single_rss_mb']:,.0f} MB by wait4 ru_maxrss)")
    if "fixed" in fig:
        print_fixed_costs(fig)
    loads = {k: fig[k]["loadavg_before"] for k in ("parse_bound", "duckdb", "ingest", "noop")}
    print("load average before each phase: " + ", ".join(f"{k} {v:.2f}"
                                                          for k, v in loads.items()))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_phase":
        args_file = Path(sys.argv[3])
        kwargs = json.loads(args_file.read_text())
        args_file.unlink()
        run_phase(sys.argv[2], kwargs)
    else:
        raise SystemExit(main())
