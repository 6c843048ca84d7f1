"""Redaction of content, applied to parsed records before anything is written.

Why on the records and not on the tables: the record segments are the warehouse's
memory (every incremental run rebuilds rows from them), so a value that reached a
segment would reach every later table, and anyone given the warehouse. The content
columns are declared once (`schemas.CONTENT`); this module only applies that list.

Modes (docs/redaction.md, "Redaction"):
- `content`: each value becomes NULL;
- `hash`: each value becomes the first 32 hex digits of HMAC-SHA256(key, value), so
  equal values still group (and join) while the value cannot be read back.
In both modes the original length (`<column>_chars`) and, for tool arguments, whether
it parsed as JSON (`<column>_valid`) are computed first and stored beside it.

Streamed fragments (`thread.run.step.delta` pieces, Responses `*.delta` events) are
NULL in both modes: a hash of a piece groups nothing, and the hash of the concatenated
value cannot be made from the pieces' hashes. Their lengths are kept, so a value
rebuilt from fragments has its exact length (the sum), but its value is NULL and its
JSON validity unknown (NULL) even in `hash` mode. Metadata keeps its keys (they name
the dimensions users group by) with each value redacted, so `metadata->>'tenant'` still
groups under `hash`. Pure: Polars in, Polars out, no I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import polars as pl

from steplens.transforms import schemas
from steplens.transforms.parse import ParsedBatch

MODES = ("none", "content", "hash")
HASH_HEX = 32  # hex digits kept of the HMAC: 128 bits, no collision in any export
_SORT = orjson.OPT_SORT_KEYS


@dataclass(frozen=True)
class Redaction:
    """What a warehouse redacts: the mode, the fields (`schemas.CONTENT` names) and, in
    `hash` mode, the key. The key itself is never written; its fingerprint is."""

    mode: str = "none"
    fields: tuple[str, ...] = ()
    key: bytes | None = dataclasses.field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return self.mode != "none" and bool(self.fields)

    def record(self) -> dict:
        """How the manifest records it (compared by the next incremental run)."""
        if not self.active:
            return {"mode": "none", "fields": [], "key_fingerprint": None}
        return {"mode": self.mode, "fields": sorted(self.fields),
                "key_fingerprint": fingerprint(self.key) if self.mode == "hash" else None}


def digest(key: bytes, text: str) -> str:
    """The keyed hash a redacted value is replaced by in `hash` mode."""
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:HASH_HEX]


def fingerprint(key: bytes | None) -> str | None:
    """Names a key without revealing it (recorded in the manifest)."""
    if key is None:
        return None
    return hmac.new(key, b"steplens redaction key", hashlib.sha256).hexdigest()[:16]


def json_valid(text: str | None) -> bool | None:
    if text is None:
        return None
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def output_text(canon: bytes | None) -> str | None:
    """The `function_output` text of a tool output's canonical bytes: a string as sent,
    other JSON as its sorted JSON text; NULL for a missing output, or a redacted one (the
    empty bytes, which no canonical JSON is)."""
    if canon is None or canon in (b"null", b""):
        return None
    if canon[:1] == b'"':
        return orjson.loads(canon)
    return canon.decode()


def _metadata(text: str | None, replace: Callable[[str], str | None]) -> str | None:
    """A metadata object with each value redacted, its keys kept (sorted JSON text)."""
    if text is None:
        return None
    value = orjson.loads(text)
    if not isinstance(value, dict):
        return replace(text)
    return orjson.dumps({k: None if v is None else replace(
        v if isinstance(v, str) else orjson.dumps(v, option=_SORT).decode())
        for k, v in value.items()}, option=_SORT).decode()


def _strings(series: pl.Series, fn: Callable[[str], str | None]) -> pl.Series:
    return pl.Series(series.name, [None if v is None else fn(v) for v in series],
                     dtype=pl.String)


def _column(frame: pl.DataFrame, c: schemas.Content, policy: Redaction) -> pl.DataFrame:
    """`frame` with column `c` redacted (in the rows `c.types` selects) and its
    companions filled from the original values."""
    mask = pl.col("type").is_in(c.types) if c.types else pl.lit(True)
    col = pl.col(c.column)
    hashing = policy.mode == "hash"
    key = policy.key or b""
    out: list[pl.Expr] = []
    if c.kind == "canon":
        text = frame[c.column].map_elements(output_text, return_dtype=pl.String,
                                            skip_nulls=False)
        redacted = (_strings(text, lambda v: orjson.dumps(digest(key, v)).decode())
                    if hashing else pl.Series([None] * frame.height, dtype=pl.String))
        canon = pl.Series([orig if t is None else (b"" if r is None else r.encode())
                           for orig, t, r in zip(frame[c.column], text, redacted,
                                                 strict=True)], dtype=pl.Binary)
        return frame.with_columns(pl.when(mask).then(text.str.len_chars())
                                  .otherwise(pl.col(f"{c.column}_chars"))
                                  .alias(f"{c.column}_chars"),
                                  pl.when(mask).then(canon).otherwise(col).alias(c.column))
    if c.chars:
        out.append(pl.when(mask).then(col.str.len_chars().cast(pl.Int64))
                   .otherwise(pl.col(f"{c.column}_chars")).alias(f"{c.column}_chars"))
    if c.valid:
        out.append(pl.when(mask).then(col.map_elements(json_valid, return_dtype=pl.Boolean))
                   .otherwise(pl.col(f"{c.column}_valid")).alias(f"{c.column}_valid"))
    if c.kind == "fragment" or not hashing:
        value: pl.Expr | pl.Series = pl.lit(None, dtype=pl.String)
        if c.kind == "json_values":  # keys kept, values dropped
            value = _strings(frame[c.column], lambda t: _metadata(t, lambda _v: None))
    elif c.kind == "json_values":
        value = _strings(frame[c.column], lambda t: _metadata(t, lambda v: digest(key, v)))
    else:
        value = _strings(frame[c.column], lambda v: digest(key, v))
    out.append(pl.when(mask).then(value).otherwise(col).alias(c.column))
    return frame.with_columns(out)


def redact(batch: ParsedBatch, policy: Redaction) -> ParsedBatch:
    """`batch` with every content column of `policy.fields` redacted
    (docs/redaction.md, "Redaction"); unchanged when nothing is redacted."""
    if not policy.active:
        return batch
    frames = {name: schemas.with_companions(getattr(batch, name), name)
              for name in ParsedBatch.FRAMES}
    for field in policy.fields:
        for c in schemas.CONTENT[field]:
            if frames[c.frame].height:
                frames[c.frame] = _column(frames[c.frame], c, policy)
    frames = {name: f.select(schemas.STORED_FRAMES[name].names())
              .cast(dict(schemas.STORED_FRAMES[name])) for name, f in frames.items()}
    return dataclasses.replace(batch, **frames)
