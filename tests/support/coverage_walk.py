"""The rule of docs/fidelity.md for `field_coverage.path`, written out independently of
`transforms/coverage.py` (its walk, its shape reuse), for the tests to compare against."""

from __future__ import annotations


def walk_paths(value, prefix: str, out: set) -> None:
    """Add to `out` every path under `value` (`prefix`: its own path and a dot, "" for a
    record) that holds a non-null value: keys joined by `.`, an array step as `[]`."""
    if isinstance(value, dict):
        for k, v in value.items():
            if v is not None:
                out.add(prefix + k)
                walk_paths(v, prefix + k + ".", out)
    elif isinstance(value, list):
        base = prefix[:-1] + "[]"
        for v in value:
            if v is not None:
                out.add(base)
                walk_paths(v, base + ".", out)
