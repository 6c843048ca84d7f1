"""A warehouse built from step records this module writes and counts itself (`Batch`),
for the storage tests of tests/flows/store (pointer, check, snapshots): every total is
compared with this independent count, never with steplens's own output. Ingests run
without Prefect (`run_direct`, or the CLI with STEPLENS_ORCHESTRATION=direct).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from steplens.flows import pipeline
from steplens.flows.cli import app
from steplens.flows.settings import Settings

STEP = {
    "object": "thread.run.step", "assistant_id": "asst_trust", "type": "message_creation",
    "status": "completed", "last_error": None, "expired_at": None, "cancelled_at": None,
    "failed_at": None, "metadata": {},
}


@dataclass
class Batch:
    """What a folder of step records holds, counted here (the independent truth)."""

    steps: int
    tokens: int

    def __add__(self, other: Batch) -> Batch:
        return Batch(self.steps + other.steps, self.tokens + other.tokens)


def write_steps(folder: Path, name: str, n: int, seed: int) -> Batch:
    """`n` completed steps with distinct ids and token counts, one JSON line each."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = 0
    with open(folder / f"{name}.jsonl", "w") as f:
        for i in range(n):
            prompt, completion = 100 + (seed * 37 + i * 11) % 900, 5 + (seed + i * 7) % 80
            created = 1_718_000_000 + seed * 100_000 + i * 60
            step = {**STEP, "id": f"step_{name}_{i}", "run_id": f"run_{name}_{i // 3}",
                    "thread_id": f"thread_{name}", "created_at": created,
                    "completed_at": created + 2,
                    "step_details": {"type": "message_creation",
                                     "message_creation": {"message_id": f"msg_{name}_{i}"}},
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion}}
            f.write(json.dumps(step) + "\n")
            tokens += prompt + completion
    return Batch(n, tokens)


def ingest(paths: list[Path], wh: Path, **settings) -> dict:
    """Ingest `paths` into `wh` directly (no Prefect)."""
    return pipeline.run_direct([str(p) for p in paths], Settings(warehouse=wh, **settings))


def totals(wh: Path) -> Batch:
    """Steps and tokens as `steplens sql` answers them (in-memory views, pinned)."""
    from steplens.flows.store import views

    con = views.open_readonly(wh.resolve())
    try:
        n, tokens = con.sql("select count(*), coalesce(sum(total_tokens), 0) from steps"
                            ).fetchall()[0]
    finally:
        con.close()
    return Batch(n, int(tokens))



def cli(*args: str):
    """`steplens ARGS` in this process."""
    return CliRunner().invoke(app, list(args))
