"""The user errors of steplens, declared once.

Each is a mistake or a state the user can fix (a missing path, a locked warehouse, a bad
price file): the CLI prints its message on one line and exits non-zero, never a
traceback. Anything else that escapes is a bug.
"""

from __future__ import annotations


class SteplensError(Exception):
    """A user-facing error: its message says what is wrong and what to do."""


class InputError(SteplensError):
    """A mistake about inputs (missing path, nothing to read)."""


class NoInputFiles(InputError):
    """The paths exist but hold no input file."""


class PricesError(InputError):
    """A price file that cannot be used (missing, bad header, bad value)."""


class IngestRunning(SteplensError):
    """Another ingest holds this warehouse."""


class WarehouseLocked(SteplensError):
    """Another process holds the warehouse's DuckDB file."""


class ExportError(SteplensError):
    """An export that cannot be done as asked (bad output path, endpoint or header, a
    collector that refuses the spans)."""


class WarehouseDamaged(SteplensError):
    """A file of the warehouse is missing, cut short or unreadable."""


class ServerError(SteplensError):
    """The Prefect API steplens needs could not be started or reached."""


class RedactionError(SteplensError):
    """A `--redact` request that cannot be honoured (an unknown field, or a mode or key
    that differs from the one the warehouse was built with)."""


class RunnerBug(Exception):
    """An unexpected error inside the warm ingest runner (flows/orchestration/runner.py): not a user
    error, so the command shows its traceback, which is the message."""
