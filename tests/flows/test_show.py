"""`steplens show ID` (docs/fidelity.md): every input record of an id, the winner marked,
read back from the input files, or the reason it cannot be (file moved or changed).

The records expected are found here by a plain walk of the input files (every line,
every list item, every SSE block), not by the warehouse's segments.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from steplens.flows import pipeline
from steplens.flows.cli import app
from steplens.flows.settings import Settings
from tests.support.generate import generate_export
from tests.test_provenance import _lines, _page_items

runner = CliRunner()


def records_of(root: Path, record_id: str) -> set[tuple[str, int, int]]:
    """(file, line, item) of every record whose `id` (or whose delta's step id) is
    `record_id`, by walking the files in plain Python."""
    found = set()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        lines = _lines(path)
        for n, raw in enumerate(lines, start=1):
            raw = raw.rstrip(b"\r")
            if raw.startswith(b"data:"):
                raw = raw[5:].removeprefix(b" ")
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(value, dict):
                continue
            items = (list(enumerate(_page_items(value)))
                     if value.get("object") == "list" and isinstance(value.get("data"), list)
                     else [(-1, value)])
            for item, v in items:
                if isinstance(v, dict) and "event" in v and "object" not in v:
                    v = v.get("data")
                if isinstance(v, dict) and v.get("id") == record_id:
                    found.add((str(path), n, item))
    return found


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    base = tmp_path_factory.mktemp("show")
    export = base / "export"
    generate_export(export, runs=40, seed=2)
    wh = base / "wh"
    pipeline.run_direct([str(export)], Settings(warehouse=wh))
    return export, wh


def show(wh: Path, record_id: str, *extra: str):
    return runner.invoke(app, ["show", record_id, "--warehouse", str(wh), *extra],
                         catch_exceptions=False)


def _listed(output: str) -> set[tuple[str, int, int]]:
    """(file, line, item) of every record `show` listed."""
    out, current = set(), None
    for line in output.splitlines():
        if line.startswith("== "):
            current = line[3:].split("  [")[0]
        elif line.startswith("-- line "):
            where = line[len("-- line "):].split(":")[0]
            parts = where.split(", item ")
            out.add((current, int(parts[0]), int(parts[1]) if len(parts) > 1 else -1))
    return out


def _step_with_deltas(export: Path) -> str:
    """A step id with a full record and stream deltas in the export."""
    with_deltas, with_records = set(), set()
    for rec in (r for p in export.rglob("*") if p.is_file() for r in _lines(p)):
        rec = rec.rstrip(b"\r").removeprefix(b"data: ")
        try:
            v = orjson.loads(rec)
        except orjson.JSONDecodeError:
            continue
        if isinstance(v, dict) and "event" in v and "object" not in v:
            v = v.get("data")
        if isinstance(v, dict) and v.get("object") == "thread.run.step.delta":
            with_deltas.add(v["id"])
        elif isinstance(v, dict) and v.get("object") == "thread.run.step":
            with_records.add(v["id"])
    return sorted(with_deltas & with_records)[0]


def test_show_lists_every_record_of_a_step_with_deltas(ingested):
    export, wh = ingested
    step_id = _step_with_deltas(export)
    expected = records_of(export, step_id)
    result = show(wh, step_id)
    assert result.exit_code == 0, result.output
    assert _listed(result.output) == expected
    assert sum(1 for line in result.output.splitlines() if "step delta" in line) >= 1
    assert "WINNER of steps (assistants)" in result.output
    # each record's text is shown: the lines themselves hold the id
    assert result.output.count(step_id) >= len(expected)


def test_show_says_when_a_file_changed_or_moved(ingested, tmp_path):
    export, wh = ingested
    step_id = _step_with_deltas(export)
    files = sorted({f for f, _, _ in records_of(export, step_id)})
    copy = tmp_path / "copy"
    shutil.copytree(export, copy)
    try:
        target = Path(files[0])
        data = target.read_bytes()
        target.write_bytes(data + b'{"id": "run_appended", "object": "thread.run"}\n')
        result = show(wh, step_id)  # appended to: the ingested part is unchanged
        assert "since it was ingested" not in result.output
        assert _listed(result.output) == records_of(export, step_id)
        target.write_bytes(data.replace(b'"', b"'", 1))  # same size, other content
        os.utime(target, ns=(1, 1))
        result = show(wh, step_id)
        assert "changed since it was ingested" in result.output
        target.unlink()
        result = show(wh, step_id)
        assert "moved or was deleted" in result.output
    finally:
        shutil.rmtree(export)
        shutil.copytree(copy, export)


def test_show_an_unknown_id_is_one_line(ingested):
    _, wh = ingested
    result = show(wh, "step_nope")
    assert result.exit_code == 1 and "no record of id" in result.output


def test_show_a_responses_call_lists_its_argument_deltas(tmp_path):
    """A streamed function call: its `output_item` events, its argument deltas (keyed by
    the item id, not the call id) and the completed response holding it."""
    from tests.support.builders import function_call, response, stream

    events = stream(response(id="resp_S"), function_call(id="fc_S", call_id="call_S"))
    src = tmp_path / "in"
    src.mkdir()
    lines = [orjson.dumps(e) for e in events]
    (src / "stream.jsonl").write_bytes(b"".join(ln + b"\n" for ln in lines))
    wh = tmp_path / "wh"
    pipeline.run_direct([str(src)], Settings(warehouse=wh))
    result = show(wh, "call_S")
    assert result.exit_code == 0, result.output
    # independently: every line that names the call or its item
    expected = {(str(src / "stream.jsonl"), n, -1) for n, ln in enumerate(lines, start=1)
                if b"call_S" in ln or b"fc_S" in ln}
    assert _listed(result.output) == expected
    assert sum("stream event" in line for line in result.output.splitlines()) == 2
    assert "WINNER of tool_calls (responses)" in result.output
