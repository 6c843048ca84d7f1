"""Helpers for tests of the `steplens` command."""

from __future__ import annotations


def one_error_line(result) -> str:
    """The single `error:` line of a failed command; fails on a traceback or exit 0."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and len(lines) == 1, result.output
    return errors[0]
