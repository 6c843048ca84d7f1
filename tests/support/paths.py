"""Where the test data lives: found relative to this file, never the current directory."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
DATA = TESTS / "data"
REAL = DATA / "real"
REAL_RESPONSES = DATA / "real-responses"
ROOT = TESTS.parent
SAMPLE = ROOT / "data" / "sample"
SAMPLE_RESPONSES = ROOT / "data" / "sample-responses"  # the Responses API beside it
SAMPLE_BILLING = ROOT / "data" / "sample-billing"  # Usage/Costs API exports of SAMPLE
NOTEBOOK = ROOT / "notebooks" / "steplens_analysis.ipynb"


def real_files(pattern: str = "*/*.jsonl") -> list[Path]:
    """Recorded real-API payloads copied into tests/data/real (see PROVENANCE.md there)."""
    return sorted(REAL.glob(pattern))


def real_responses_dirs() -> list[Path]:
    """Recorded Responses/Conversations API payloads copied into tests/data/real-responses
    (see PROVENANCE.md there), one directory per recorded test."""
    return sorted(p for p in REAL_RESPONSES.iterdir() if p.is_dir())
