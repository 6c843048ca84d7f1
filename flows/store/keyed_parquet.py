"""Parquet files appended to by key: one writer per key, opened on first use, a row group
per append. A full rebuild's partition files (flows/store/rebuild.py) and the records it
splits by bucket (flows/store/records.py `split_by_bucket`) are written this way."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from steplens.transforms import schemas


class KeyedParquet:
    """Files of one schema, `path_of(key)` each; `options` go to `pq.ParquetWriter`."""

    def __init__(self, schema: pl.Schema, path_of: Callable[[Any], Path],
                 **options: Any) -> None:
        self.arrow_schema = schemas.empty(schema).to_arrow(
            compat_level=pl.CompatLevel.oldest()).schema
        self.path_of, self.options = path_of, options
        self.writers: dict[Hashable, pq.ParquetWriter] = {}

    def append(self, key: Hashable, frame: pl.DataFrame) -> None:
        writer = self.writers.get(key)
        if writer is None:
            path = self.path_of(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = self.writers[key] = pq.ParquetWriter(path, self.arrow_schema,
                                                          **self.options)
        writer.write_table(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
