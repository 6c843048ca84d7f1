"""Which redaction an ingest applies: the user's request checked against the warehouse.

The manifest records the redaction a warehouse was built with (mode, fields, key
fingerprint), so that an incremental run can never mix redacted and clear rows, or
hashes made with two keys (docs/redaction.md, "Redaction"):
- no `--redact` given: the recorded redaction goes on (a forgotten flag never writes
  clear content into a redacted warehouse);
- a `--redact` that differs from the record: refused, unless `--full-refresh`, which
  rebuilds every row from the inputs under the new one;
- `hash` mode: the key is `$STEPLENS_REDACT_KEY`, else a random key generated once for
  this warehouse and kept outside it (`settings.redact_key_path`), so a shared warehouse
  does not carry the key that would let anyone test guesses against its hashes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from steplens.flows.errors import RedactionError, WarehouseDamaged
from steplens.flows.settings import ENV_REDACT_KEY, redact_key_path
from steplens.flows.store import snapshots
from steplens.transforms.redact import MODES, Redaction, fingerprint
from steplens.transforms.schemas import CONTENT


def recorded(snapshot: Path | None, full_refresh: bool) -> dict | None:
    """The redaction recorded in `snapshot`'s manifest. A full refresh also repairs a
    warehouse whose manifest cannot be read: it then goes by the flags alone."""
    try:
        data = snapshots.read_json(snapshot, snapshots.MANIFEST)
    except WarehouseDamaged:
        if full_refresh:
            return None
        raise
    return (data or {}).get("redaction")


def parse_fields(text: str | None) -> tuple[str, ...]:
    """`--redact-fields a.b,c.d` as field names (all content fields when None)."""
    if text is None or not text.strip():
        return tuple(sorted(CONTENT))
    names = [f.strip() for f in text.split(",") if f.strip()]
    for name in names:
        if name not in CONTENT:
            raise RedactionError(f"--redact-fields: unknown field {name!r}; valid fields: "
                                 f"{', '.join(sorted(CONTENT))}")
    return tuple(sorted(set(names)))


def _key(warehouse: Path) -> bytes:
    """The `hash` mode key: the environment's, else this warehouse's generated one."""
    env = os.environ.get(ENV_REDACT_KEY)
    if env:
        return env.encode()
    path = redact_key_path(warehouse)
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    try:
        os.link(tmp, path)  # never replaces a key another ingest made meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return bytes.fromhex(path.read_text().strip())


def _describe(record: dict) -> str:
    if record.get("mode", "none") == "none":
        return "no redaction"
    if set(record["fields"]) == set(CONTENT):
        return f"--redact {record['mode']}"
    return f"--redact {record['mode']} --redact-fields {','.join(record['fields'])}"


def resolve(mode: str | None, fields: str | None, recorded: dict | None,
            full_refresh: bool, warehouse: Path) -> Redaction:
    """The redaction this ingest applies, or a one-line error saying what to do.

    `recorded`: the manifest's record (None: a new warehouse, or one from before
    redaction existed, which is clear)."""
    if mode is not None and mode not in MODES:
        raise RedactionError(f"--redact: unknown mode {mode!r}; valid modes: "
                             f"{', '.join(MODES)}")
    if fields is not None and mode in (None, "none"):
        raise RedactionError("--redact-fields needs --redact content or --redact hash")
    recorded = recorded or {"mode": "none", "fields": [], "key_fingerprint": None}
    if mode is None:  # go on as the warehouse was built
        mode, chosen = recorded["mode"], tuple(recorded["fields"])
    else:
        chosen = parse_fields(fields) if mode != "none" else ()
    key = _key(warehouse) if mode == "hash" else None
    policy = Redaction(mode, chosen, key)
    if full_refresh or policy.record() == recorded:
        return policy
    if recorded["mode"] == mode == "hash" and set(recorded["fields"]) == set(chosen):
        raise RedactionError(
            f"the redaction key (fingerprint {fingerprint(key)}) differs from the one this "
            f"warehouse was hashed with (fingerprint {recorded['key_fingerprint']}): set "
            f"{ENV_REDACT_KEY} to that key, or add --full-refresh to hash everything again "
            "with this one")
    raise RedactionError(
        f"this warehouse was ingested with {_describe(recorded)}; an incremental run "
        f"cannot mix it with {_describe(policy.record())}: add --full-refresh to rebuild "
        "everything under the new setting")
