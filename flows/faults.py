"""Fault points for crash tests: the ingest can be made to die or stall at a named step.

`STEPLENS_FAULT=kill@after_parse` sends the process SIGKILL when it reaches the
`after_parse` checkpoint; `STEPLENS_FAULT=sleep@after_parse:5` pauses it there for five
seconds (to hold the ingest lock in a concurrency test). Unset, a checkpoint is one
dictionary lookup. Tests use this to show that a run killed at any step leaves the
warehouse readable and that the next run completes the work.
"""

from __future__ import annotations

import os
import signal
import time

from steplens.flows.settings import ENV_FAULT

CHECKPOINTS = ("api_starting", "after_parse", "after_remove", "publish_partial", "publish_renamed",
               "publish_swapped")


def checkpoint(name: str) -> None:
    spec = os.environ.get(ENV_FAULT)
    if not spec:
        return
    action, _, where = spec.partition("@")
    point, _, arg = where.partition(":")
    if point != name:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "sleep":
        time.sleep(float(arg or 5))
