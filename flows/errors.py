"""The user errors of steplens, declared once.

Each is a mistake or a state the user can fix (a missing path, a locked warehouse, a bad
price file): the CLI prints its message on one line and exits non-zero, never a
traceback. Anything else that escapes is a bug.
"""

from __future__ import annotations

import errno


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


class EnvironmentFault(SteplensError):
    """The machine refused a read or write (disk full, file size limit, read-only file
    system, quota, permission): nothing of the failed run was published."""


# errno -> (what happened, what to do). docs/inputs-and-faults.md lists them.
_AGAIN = "and run the ingest again"
_WRITE_ACCESS = "give this user write access there (or give another --warehouse)"
_FAULTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on device",
                   f"free space on that file system (or give another --warehouse) {_AGAIN}"),
    errno.EFBIG: ("file size limit reached", f"raise the limit (`ulimit -f unlimited`) {_AGAIN}"),
    errno.EDQUOT: ("disk quota exceeded",
                   f"free space within your quota (or ask for a larger one) {_AGAIN}"),
    errno.EROFS: ("read-only file system",
                  "give a --warehouse on a writable file system, or remount it read-write"),
    errno.EACCES: ("permission denied", _WRITE_ACCESS),
    errno.EPERM: ("operation not permitted", _WRITE_ACCESS),
    errno.EIO: ("input/output error",
                "the disk or the network file system failed: check it, then run `steplens check`"),
    errno.EMFILE: ("too many open files", f"raise the limit (`ulimit -n 4096`) {_AGAIN}"),
}
# The same faults as some libraries word them without an errno (Polars, DuckDB, Arrow
# raise their own exception types with the OS message inside).
_FAULT_TEXT = {"no space left on device": errno.ENOSPC, "file too large": errno.EFBIG,
               "disk quota exceeded": errno.EDQUOT, "read-only file system": errno.EROFS,
               "permission denied": errno.EACCES, "too many open files": errno.EMFILE}
# What a damaged Parquet file looks like from Polars, Arrow or DuckDB.
_DAMAGE_TEXT = ("out-of-bounds", "out of bounds", "out of specification", "parquet",
                "thrift", "tprotocolexception", "decompression failed", "corrupt",
                "invalid magic", "magic bytes")


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def describe_fault(exc: BaseException, warehouse: str, recovery: str) -> str | None:
    """The one line for an environment fault or damaged warehouse file met by an
    ingest (`exc` or anything in its cause chain), naming the path and the fix; None
    when `exc` is neither (a bug: the caller lets it show its traceback).

    `warehouse`: the warehouse the ingest wrote to (named when the error names no
    path); `recovery`: what to do about a damaged warehouse (flows/store/integrity.py).
    """
    for e in _chain(exc):
        code = e.errno if isinstance(e, OSError) else None
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        low = text.lower()
        if code not in _FAULTS:
            code = next((c for t, c in _FAULT_TEXT.items() if t in low), None)
        if code is not None:
            what, fix = _FAULTS[code]
            path = (getattr(e, "filename", None) or getattr(e, "filename2", None)
                    or f"the warehouse at {warehouse}")
            return f"{what}: {path}; {fix}"
    for e in _chain(exc):
        low = str(e).lower()
        library = type(e).__module__.split(".")[0] in ("polars", "pyarrow", "duckdb")
        if (library or isinstance(e, OSError)) and any(t in low for t in _DAMAGE_TEXT):
            first = str(e).splitlines()[0].strip()
            return (f"warehouse damaged: a stored file under {warehouse} cannot be read "
                    f"({first}); {recovery}")
    return None
