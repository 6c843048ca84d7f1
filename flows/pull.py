"""`steplens pull`: fetch what is still stored on the server into a capture directory.

The Responses API has no endpoint that lists stored responses, so `pull` starts from
ids: given on the command line, in a file (one a line), or found in the files of a
capture (by default the output directory itself: everything the capture saw). For each
response id it fetches the stored response and, once it is terminal, all pages of its
input items; a response bound to a conversation brings that conversation in; for each
conversation, the conversation object and all pages of its items. Everything goes
through the capture transport (steplens.capture), so it lands in the same layout, with
the same redaction, as a live capture, and `steplens ingest` reads it alike.

Incremental: `.steplens-pull.json` in the output directory (hidden, so never ingested)
remembers the responses pulled in a terminal state (skipped next time), the ids the
server no longer has (404: expired or deleted), and per conversation the last item
pulled (the next pull asks only for items after it). It is written only after the
files holding what it records were closed. Retries, backoff and rate limits (429 and
`Retry-After`) are the `openai` client's own (`--max-retries`).
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

STATE = ".steplens-pull.json"
TERMINAL = ("completed", "incomplete", "failed", "cancelled")
PAGE = 100  # items asked for per page (the API's maximum)
_IDS = re.compile(rb"\b((?:resp|conv)_[0-9A-Za-z]{8,})\b")
# Saved after this many ids (after the files were closed): a killed pull keeps its work.
SAVE_EVERY = 50


@dataclass
class PullSummary:
    """What one pull did (printed by the command, returned to callers and tests)."""

    responses: int = 0  # responses fetched
    unfinished: int = 0  # of those, not terminal yet (pulled again next time)
    input_item_pages: int = 0
    conversations: int = 0
    conversation_item_pages: int = 0
    already: int = 0  # ids skipped: pulled before
    missing: list[str] = field(default_factory=list)  # 404: expired, deleted, not stored
    failed: dict[str, str] = field(default_factory=dict)  # id -> error, after retries


def ids_in(paths: list[Path]) -> list[str]:
    """Response and conversation ids found in files (gzip read as such), in order."""
    seen: dict[str, None] = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        for path in files:
            data = path.read_bytes()
            if data[:2] == b"\x1f\x8b":
                try:
                    data = gzip.decompress(data)
                except (OSError, EOFError):
                    continue
            for m in _IDS.finditer(data):
                seen.setdefault(m.group(1).decode(), None)
    return list(seen)


def read_ids_file(path: Path) -> list[str]:
    """One id a line; blank lines and `#` comments ignored."""
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def _load_state(out: Path) -> dict:
    try:
        state = orjson.loads((out / STATE).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        state = {}
    state.setdefault("responses", {})
    state.setdefault("conversations", {})
    return state


def _save_state(out: Path, state: dict) -> None:
    tmp = out / f"{STATE}.{os.getpid()}.tmp"
    tmp.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    os.replace(tmp, out / STATE)


def pull(ids: list[str], out: Path, *, base_url: str | None = None,
         api_key: str | None = None, max_retries: int = 5, timeout: float = 60.0,
         redact: str = "none", redact_fields: str | None = None,
         refresh: bool = False) -> PullSummary:
    """Fetch `ids` (response and conversation ids) into the capture directory `out`."""
    import httpx
    import openai

    from steplens.capture import Transport

    out.mkdir(parents=True, exist_ok=True)
    state = _load_state(out)
    summary = PullSummary()
    transport = Transport(out, redact=redact, redact_fields=redact_fields)
    client = openai.OpenAI(api_key=api_key or os.environ.get("OPENAI_API_KEY") or "missing",
                           base_url=base_url, max_retries=max_retries, timeout=timeout,
                           http_client=httpx.Client(transport=transport))
    done_r: dict = state["responses"]
    convs: dict = state["conversations"]
    queue_r = [i for i in dict.fromkeys(ids) if i.startswith("resp_")]
    queue_c = [i for i in dict.fromkeys(ids) if i.startswith("conv_")]
    pending: dict = {}  # state changes waiting for their files to be closed

    def commit() -> None:
        if transport.flush(timeout=60):
            for kind, key, value in pending.values():
                state[kind][key] = value
            pending.clear()
            _save_state(out, state)

    try:
        for n, rid in enumerate(queue_r, 1):
            if not refresh and rid in done_r:
                summary.already += 1
                continue
            conv = _pull_response(client, rid, summary, pending)
            if conv and conv not in queue_c:
                queue_c.append(conv)
            if n % SAVE_EVERY == 0:
                commit()
        for cid in queue_c:
            entry = convs.get(cid)
            if not refresh and entry == "missing":
                summary.already += 1
                continue
            after = None if refresh or not isinstance(entry, dict) else entry.get("last_item")
            _pull_conversation(client, cid, after, summary, pending)
    except openai.APIConnectionError as e:
        summary.failed["*"] = f"cannot reach the API: {e}"
    finally:
        commit()
        client.close()
    return summary


def _pull_response(client, rid: str, summary: PullSummary, pending: dict) -> str | None:
    """One stored response and, once terminal, its input items; its conversation id."""
    import openai

    try:
        body = orjson.loads(client.responses.with_raw_response.retrieve(rid).content)
    except openai.NotFoundError:
        summary.missing.append(rid)
        pending[("responses", rid)] = ("responses", rid, "missing")
        return None
    except openai.APIStatusError as e:
        summary.failed[rid] = f"{e.status_code}: {e.message}"
        return None
    summary.responses += 1
    conv = body.get("conversation")
    conv = conv.get("id") if isinstance(conv, dict) else conv
    if body.get("status") not in TERMINAL:
        summary.unfinished += 1  # its items may still change: pulled again next time
        return conv if isinstance(conv, str) else None
    try:
        for _ in _pages(client.responses.input_items.with_raw_response.list, rid, None):
            summary.input_item_pages += 1
    except openai.APIStatusError as e:
        summary.failed[rid] = f"input items: {e.status_code}: {e.message}"
        return None
    pending[("responses", rid)] = ("responses", rid, "done")
    return conv if isinstance(conv, str) else None


def _pages(list_page, parent: str, after: str | None) -> Iterator[str | None]:
    """Read every page of a list of `parent`'s items after `after`, oldest first (the API's
    cursor pagination), yielding after each page the cursor past it (`after` while no page
    named a last item): where a later pull resumes. An API error propagates, with what was
    yielded so far kept by the caller."""
    while True:
        page = orjson.loads(list_page(parent, limit=PAGE, order="asc",
                                      **({"after": after} if after else {})).content)
        after = page.get("last_id") or after
        yield after
        if not page.get("has_more") or not page.get("last_id"):
            return


def _pull_conversation(client, cid: str, after: str | None, summary: PullSummary,
                       pending: dict) -> None:
    """A conversation and its items after `after` (all of them when None)."""
    import openai

    try:
        client.conversations.with_raw_response.retrieve(cid)
    except openai.NotFoundError:
        summary.missing.append(cid)
        pending[("conversations", cid)] = ("conversations", cid, "missing")
        return
    except openai.APIStatusError as e:
        summary.failed[cid] = f"{e.status_code}: {e.message}"
        return
    summary.conversations += 1
    last = after
    try:
        for cursor in _pages(client.conversations.items.with_raw_response.list, cid, after):
            summary.conversation_item_pages += 1
            last = cursor
    except openai.APIStatusError as e:
        summary.failed[cid] = f"items: {e.status_code}: {e.message}"
    pending[("conversations", cid)] = ("conversations", cid, {"last_item": last})


# ---- the command --------------------------------------------------------------------------

errors = Console(stderr=True)


def pull_command(
    out: Annotated[Path, typer.Argument(help="The capture directory to write into")],
    ids: Annotated[list[str] | None, typer.Argument(
        help="Response (resp_...) and conversation (conv_...) ids")] = None,
    ids_file: Annotated[Path | None, typer.Option(
        "--ids-file", help="A file of ids, one a line")] = None,
    from_: Annotated[list[Path] | None, typer.Option(
        "--from", help="Pull the ids found in these files or directories (a capture's); "
        "default, when no ids are given: OUT itself")] = None,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="API base URL \\[env OPENAI_BASE_URL; default the OpenAI API]")] = None,
    max_retries: Annotated[int, typer.Option(
        "--max-retries", help="Retries of a failed or rate-limited request")] = 5,
    refresh: Annotated[bool, typer.Option(
        "--refresh", metavar="", help="Pull ids again even if pulled before")] = False,
    redact: Annotated[str, typer.Option(
        "--redact", help="none, content or hash (as `steplens ingest --redact`)")] = "none",
    redact_fields: Annotated[str | None, typer.Option(
        "--redact-fields", help="Comma-separated fields to redact (default: all)")] = None,
) -> None:
    """Fetch stored responses, their input items and conversation items (incrementally)."""
    wanted = list(ids or [])
    try:
        if ids_file is not None:
            wanted += read_ids_file(ids_file)
        sources = list(from_ or [])
        if not wanted and not sources:
            sources = [out] if out.exists() else []
        for src in sources:
            if not src.exists():
                raise FileNotFoundError(f"no such file or directory: {src}")
        wanted += ids_in(sources)
    except OSError as e:
        errors.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None
    bad = [i for i in wanted if not i.startswith(("resp_", "conv_"))]
    if bad:
        errors.print(f"[bold red]error:[/] not a response or conversation id: {bad[0]}",
                     highlight=False)
        raise typer.Exit(1)
    if not wanted:
        errors.print("[bold red]error:[/] no ids to pull: give ids, --ids-file or --from",
                     highlight=False)
        raise typer.Exit(1)
    try:
        s = pull(wanted, out, base_url=base_url, max_retries=max_retries, redact=redact,
                 redact_fields=redact_fields, refresh=refresh)
    except ValueError as e:  # a wrong redaction setting
        errors.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(f"responses: {s.responses} pulled ({s.unfinished} not finished yet), "
               f"{s.input_item_pages} input-item pages; conversations: {s.conversations}, "
               f"{s.conversation_item_pages} item pages; already pulled: {s.already}; "
               f"missing on the server: {len(s.missing)}; into {out}")
    for key, why in s.failed.items():
        errors.print(f"[bold red]failed:[/] {key}: {why}", highlight=False)
    if s.failed:
        raise typer.Exit(1)


def register(parent: typer.Typer) -> None:
    """Add `steplens pull` to the main command."""
    parent.command("pull")(pull_command)
