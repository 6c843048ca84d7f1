"""Statuses of steps and runs, declared once (docs/ingest.md, "De-duplication";
docs/tables.md, "Tables").

Everything that asks "is this final?" reads these: the ranking that picks a winning
record, the `ended_at` columns, and the SQL macros `is_terminal` / `is_run_terminal`
(whose lists the view builder makes from these tuples).
"""

from __future__ import annotations

# A step or run in one of these states will not change any more. `incomplete` ends a
# Responses API output item (a message cut by max_output_tokens); no Assistants step has it.
STEP_TERMINAL = ("completed", "failed", "cancelled", "expired", "incomplete")
RUN_TERMINAL = ("completed", "incomplete", "failed", "cancelled", "expired")

# Non-terminal run states, from the least to the most advanced (terminal ranks above all).
RUN_STATE_RANK = {"queued": 0, "in_progress": 1, "requires_action": 2, "cancelling": 3}
RUN_TERMINAL_RANK = 4

# Responses API responses (issue 12): terminal, and the rank of the others (README,
# "Responses API and Conversations": one response per id, ranked like runs). A response
# has no `requires_action` / `cancelling` / `expired`: such a status ranks as unknown.
RESPONSE_TERMINAL = ("completed", "incomplete", "failed", "cancelled")
RESPONSE_STATE_RANK = {"queued": 0, "in_progress": 1}
RESPONSE_TERMINAL_RANK = 4

# The `*_at` column that says when a record in each terminal state ended.
STEP_ENDED_AT = {
    "completed": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expired_at",
}
RUN_ENDED_AT = {
    "completed": "completed_at",
    "incomplete": "completed_at",
    "failed": "failed_at",
    "cancelled": "cancelled_at",
    "expired": "expires_at",
}
