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


def answered(summary: dict) -> None:
    """The ingest is published and `summary` is its answer: a reporter that can hand it
    on before the flow run's last steps (the report artifacts) does so (the warm runner:
    `steplens ingest` prints it and exits while the runner finishes the flow run)."""
    hand_on = getattr(_reporter, "answered", None)
    if hand_on is not None:
        hand_on(summary)


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Install `reporter` for the duration of the block."""
    global _reporter
    previous, _reporter = _reporter, reporter
    try:
        yield
    finally:
        _reporter = previous


class RichReporter:
    """Files and MB done, with rate, on a rich console (the CLI gives stderr)."""

    def __init__(self, console) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.files_done = 0
        self.total_files = 0
        self.bar = Progress(
            TextColumn("[bold]parsing[/] {task.fields[files]}"), BarColumn(),
            DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
            console=console, transient=True,
        )
        self.task = None

    def start(self, total_files: int, total_bytes: int) -> None:
        self.total_files = total_files
        self.bar.start()
        self.task = self.bar.add_task("parse", total=total_bytes, files=f"0/{total_files} files")

    def advance(self, files: int, nbytes: int) -> None:
        self.files_done += files
        self.bar.update(self.task, advance=nbytes,
                        files=f"{self.files_done}/{self.total_files} files")

    def stop(self) -> None:
        if self.task is not None:
            self.bar.stop()
