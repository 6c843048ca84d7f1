"""The warehouse's redaction settings (flows/store/redaction.py): what may be asked for,
and where a generated key lives. Redaction through an ingest: tests/flows/
test_redaction_flow.py."""

from __future__ import annotations

import pytest

from steplens.flows.errors import RedactionError
from steplens.flows.settings import ENV_REDACT_KEY
from steplens.flows.store import redaction
from steplens.transforms import schemas


def test_unknown_field_is_one_line_naming_the_valid_ones(tmp_path):
    with pytest.raises(RedactionError) as e:
        redaction.resolve("content", "tool_calls.arguments", None, True, tmp_path)
    message = str(e.value)
    assert "'tool_calls.arguments'" in message and "\n" not in message
    assert all(f in message for f in schemas.CONTENT)


def test_generated_key_lives_outside_the_warehouse(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_REDACT_KEY, raising=False)
    monkeypatch.setenv("STEPLENS_CACHE", str(tmp_path / "cache"))
    wh = tmp_path / "wh"
    first = redaction.resolve("hash", None, None, True, wh)
    again = redaction.resolve("hash", None, first.record(), False, wh)
    assert first.key == again.key and len(first.key) == 32
    (key_file,) = (tmp_path / "cache" / "keys").iterdir()
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert not wh.exists()
