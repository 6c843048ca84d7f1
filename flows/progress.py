"""Progress of long work, shown by whoever is watching (the CLI installs a rich bar).

Tasks report through `report()`; with no reporter installed it does nothing, so flows
run silently under tests and schedulers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol


class Reporter(Protocol):
    def start(self, total_files: int, total_bytes: int) -> None: ...

    def advance(self, files: int, nbytes: int) -> None: ...


_reporter: Reporter | None = None


def start(total_files: int, total_bytes: int) -> None:
    if _reporter is not None:
        _reporter.start(total_files, total_bytes)


def advance(files: int, nbytes: int) -> None:
    if _reporter is not None:
        _reporter.advance(files, nbytes)


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Install `reporter` for the duration of the block."""
    global _reporter
    previous, _reporter = _reporter, reporter
    try:
        yield
    finally:
        _reporter = previous
