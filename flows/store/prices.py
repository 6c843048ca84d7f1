"""Model prices: the shipped list-price table, a user's override, and the DuckDB table.

`data/prices.csv` (shipped as package data, `steplens.data`) holds OpenAI's list prices
per model, each row valid from its `effective_from` date until the next row of the same
model. A user's CSV with the same columns overrides it model by model: for every model
the user's file names, the user's rows replace all shipped rows of that model (a
negotiated gpt-4o price should not be undercut by a later shipped gpt-4o row). Other
models keep the shipped prices.

The override is given as `steplens ingest --prices PATH` or `STEPLENS_PRICES=PATH`, and
is remembered: it is copied to `<warehouse>/prices.csv`, which later ingests without an
override keep using. Without that, a scheduled ingest that does not pass `--prices` would
silently put list prices back. Delete the copy to return to the shipped prices.

`build_duckdb` loads the merged table into the real table `model_prices` of
`steplens.duckdb`, and folds `digest()` of it into the version that decides whether the
file must be rebuilt, so a price change reaches the views on the next ingest.

Built-in tools billed apart from tokens (code interpreter sessions, file and web search
calls) have their own dated table, `data/tool_prices.csv`, loaded as `tool_prices` beside
`model_prices` (docs/billing.md, "Built-in tools"). It is shipped only: a tool price is
one figure per api, tool and date, and a user who pays another one overrides the sum in
their own analysis rather than through a second override file.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from steplens.flows.errors import PricesError
from steplens.flows.settings import (
    PRICES_COPY,
    PRICES_PACKAGE,
    PRICES_RESOURCE,
    TOOL_PRICES_RESOURCE,
)

WAREHOUSE_COPY = PRICES_COPY
TABLE = "model_prices"
COLUMNS = ("model", "effective_from", "prompt_usd_per_1m", "cached_prompt_usd_per_1m",
           "completion_usd_per_1m", "cache_write_usd_per_1m")
TOOL_TABLE = "tool_prices"
TOOL_COLUMNS = ("api", "tool", "model", "effective_from", "unit", "usd_per_unit", "source")
TOOL_APIS = ("assistants", "responses")
TOOL_UNITS = ("call", "session")
REQUIRED = ("model", "effective_from", "prompt_usd_per_1m", "completion_usd_per_1m")


@dataclass(frozen=True)
class Price:
    """One row of the price table: USD per million tokens from `effective_from` on."""

    model: str
    effective_from: dt.date
    prompt_usd_per_1m: float
    cached_prompt_usd_per_1m: float | None
    completion_usd_per_1m: float
    source: str  # "shipped" or "user"
    # input tokens written to the prompt cache; None: they cost the prompt price
    cache_write_usd_per_1m: float | None = None

    def key(self) -> tuple[str, dt.date]:
        return (self.model, self.effective_from)


@dataclass(frozen=True)
class ToolPrice:
    """One row of the tool price table: USD per call or session of a built-in tool, for
    one api and (optionally) the models named `model`, from `effective_from` on."""

    api: str
    tool: str
    model: str  # "" for every model
    effective_from: dt.date
    unit: str  # "call" or "session"
    usd_per_unit: float
    source: str  # the key of the source cited in the file

    def key(self) -> tuple[str, str, str, dt.date]:
        return (self.api, self.tool, self.model, self.effective_from)


@dataclass(frozen=True)
class PriceTable:
    """The merged prices a warehouse is built with, and the user file they came from."""

    rows: tuple[Price, ...]
    user_file: Path | None = None
    tools: tuple[ToolPrice, ...] = field(default_factory=lambda: tuple(shipped_tool_prices()))

    def digest(self) -> str:
        """A short hash of the rows: part of the DuckDB file's rebuild trigger."""
        h = hashlib.blake2b(digest_size=8)
        for p in self.rows:
            h.update(repr((p.model, p.effective_from.isoformat(), p.prompt_usd_per_1m,
                           p.cached_prompt_usd_per_1m, p.completion_usd_per_1m,
                           p.source, p.cache_write_usd_per_1m)).encode())
        for t in self.tools:
            h.update(repr((t.api, t.tool, t.model, t.effective_from.isoformat(), t.unit,
                           t.usd_per_unit)).encode())
        return h.hexdigest()


def _lines(text: str) -> Iterable[tuple[int, str]]:
    """(line number, line) of the lines that are neither blank nor `#` comments."""
    for no, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield no, line


def _number(value: str, column: str, where: str, required: bool) -> float | None:
    value = value.strip()
    if value == "":
        if required:
            raise PricesError(f"{where}: {column} is empty")
        return None
    try:
        number = float(value)
    except ValueError:
        raise PricesError(f"{where}: {column} is not a number: {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise PricesError(f"{where}: {column} must be a number >= 0, got {value!r}")
    return number


def read_prices(path: Path, source: str = "user") -> list[Price]:
    """Read a price CSV file and check it (see `parse_prices`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PricesError(f"price file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PricesError(f"cannot read price file {path}: {e}") from None
    return parse_prices(text, str(path), source)


def shipped_prices() -> list[Price]:
    """The list-price table shipped inside the package (`steplens.data/prices.csv`)."""
    resource = resources.files(PRICES_PACKAGE).joinpath(PRICES_RESOURCE)
    return parse_prices(resource.read_text(encoding="utf-8-sig"),
                        f"{PRICES_PACKAGE}/{PRICES_RESOURCE}", source="shipped")


def _table(text: str, path: str, columns: tuple[str, ...],
           required: tuple[str, ...]) -> tuple[list, Any, list[str], dict[str, int]]:
    """A price CSV's numbered lines, its row reader (past the header), its header and
    each known column's index; a missing header or required column names `path`."""
    numbered = list(_lines(text))
    if not numbered:
        raise PricesError(f"{path}: no header line (expected: {','.join(columns)})")
    reader = csv.reader([line for _, line in numbered])
    header = [h.strip() for h in next(reader)]
    missing = [c for c in required if c not in header]
    if missing:
        raise PricesError(f"{path}: missing column(s) {', '.join(missing)} "
                          f"(expected: {','.join(columns)})")
    return numbered, reader, header, {name: header.index(name) for name in columns
                                      if name in header}


def parse_prices(text: str, path: str, source: str = "user") -> list[Price]:
    """Parse price CSV text (`#` comment lines and extra columns allowed) and check it;
    errors name `path` and the line."""
    numbered, reader, header, col = _table(text, path, COLUMNS, REQUIRED)
    rows: list[Price] = []
    seen: dict[tuple[str, dt.date], int] = {}
    for (line_no, _), fields in zip(numbered[1:], reader, strict=True):
        where = f"{path}:{line_no}"
        if len(fields) < len(header):
            fields = fields + [""] * (len(header) - len(fields))
        model = fields[col["model"]].strip()
        if not model:
            raise PricesError(f"{where}: model is empty")
        day_text = fields[col["effective_from"]].strip()
        try:
            day = dt.date.fromisoformat(day_text)
        except ValueError:
            raise PricesError(f"{where}: effective_from is not a YYYY-MM-DD date: "
                              f"{day_text!r}") from None
        price = Price(
            model=model,
            effective_from=day,
            prompt_usd_per_1m=_number(fields[col["prompt_usd_per_1m"]], "prompt_usd_per_1m",
                                      where, required=True),
            cached_prompt_usd_per_1m=(
                _number(fields[col["cached_prompt_usd_per_1m"]], "cached_prompt_usd_per_1m",
                        where, required=False)
                if "cached_prompt_usd_per_1m" in col else None),
            completion_usd_per_1m=_number(fields[col["completion_usd_per_1m"]],
                                          "completion_usd_per_1m", where, required=True),
            source=source,
            cache_write_usd_per_1m=(
                _number(fields[col["cache_write_usd_per_1m"]], "cache_write_usd_per_1m",
                        where, required=False)
                if "cache_write_usd_per_1m" in col else None),
        )
        if price.key() in seen:
            raise PricesError(f"{where}: {model} from {day} is already priced on line "
                              f"{seen[price.key()]}")
        seen[price.key()] = line_no
        rows.append(price)
    return rows


def shipped_tool_prices() -> list[ToolPrice]:
    """The built-in tool price table shipped inside the package
    (`steplens.data/tool_prices.csv`)."""
    resource = resources.files(PRICES_PACKAGE).joinpath(TOOL_PRICES_RESOURCE)
    return parse_tool_prices(resource.read_text(encoding="utf-8-sig"),
                             f"{PRICES_PACKAGE}/{TOOL_PRICES_RESOURCE}")


def parse_tool_prices(text: str, path: str) -> list[ToolPrice]:
    """Parse tool price CSV text (`#` comment lines allowed) and check it; errors name
    `path` and the line."""
    numbered, reader, header, col = _table(text, path, TOOL_COLUMNS, TOOL_COLUMNS)
    rows: list[ToolPrice] = []
    seen: dict[tuple[str, str, str, dt.date], int] = {}
    for (line_no, _), fields in zip(numbered[1:], reader, strict=True):
        where = f"{path}:{line_no}"
        fields = [f.strip() for f in fields] + [""] * max(0, len(header) - len(fields))
        api, tool, unit = fields[col["api"]], fields[col["tool"]], fields[col["unit"]]
        if api not in TOOL_APIS:
            raise PricesError(f"{where}: api must be one of {', '.join(TOOL_APIS)}: {api!r}")
        if not tool:
            raise PricesError(f"{where}: tool is empty")
        if unit not in TOOL_UNITS:
            raise PricesError(f"{where}: unit must be one of {', '.join(TOOL_UNITS)}: "
                              f"{unit!r}")
        try:
            day = dt.date.fromisoformat(fields[col["effective_from"]])
        except ValueError:
            raise PricesError(f"{where}: effective_from is not a YYYY-MM-DD date: "
                              f"{fields[col['effective_from']]!r}") from None
        usd = _number(fields[col["usd_per_unit"]], "usd_per_unit", where, required=True)
        assert usd is not None
        price = ToolPrice(api, tool, fields[col["model"]], day, unit, usd,
                          fields[col["source"]])
        if price.key() in seen:
            raise PricesError(f"{where}: {api} {tool} {price.model or '(every model)'} from "
                              f"{day} is already priced on line {seen[price.key()]}")
        seen[price.key()] = line_no
        rows.append(price)
    return sorted(rows, key=ToolPrice.key)


def merge(shipped: Iterable[Price], user: Iterable[Price]) -> list[Price]:
    """Shipped rows of the models the user does not price, plus all of the user's rows."""
    user = list(user)
    overridden = {p.model for p in user}
    kept = [p for p in shipped if p.model not in overridden]
    return sorted(kept + user, key=Price.key)


def _remember(root: Path, override: Path) -> Path:
    """Copy the user's price file into the warehouse (atomically) and return the copy."""
    copy = root / WAREHOUSE_COPY
    root.mkdir(parents=True, exist_ok=True)
    if copy.exists() and copy.resolve() == Path(override).resolve():
        return copy
    tmp = root / f".{WAREHOUSE_COPY}.{uuid.uuid4().hex}.tmp"
    shutil.copyfile(override, tmp)
    os.replace(tmp, copy)
    return copy


def price_table(root: Path, override: Path | None = None, remember: bool = True
                ) -> PriceTable:
    """The prices to build `root`'s warehouse with.

    `override` (from `--prices` or `STEPLENS_PRICES`) is checked, remembered as
    `<root>/prices.csv` (unless `remember` is false: a check that writes nothing) and
    merged over the shipped table; without one, a remembered copy is used if there is one.
    """
    shipped = shipped_prices()
    user_file: Path | None = None
    if override is not None:
        user = read_prices(Path(override))  # check before remembering it
        user_file = _remember(root, Path(override)) if remember else Path(override)
    elif (root / WAREHOUSE_COPY).exists():
        user_file = root / WAREHOUSE_COPY
        user = read_prices(user_file)
    else:
        user = []
    return PriceTable(rows=tuple(merge(shipped, user)), user_file=user_file,
                      tools=tuple(shipped_tool_prices()))


def load(con: duckdb.DuckDBPyConnection, table: PriceTable) -> None:
    """(Re)create the `model_prices` and `tool_prices` tables in `con` holding `table`'s
    rows."""
    con.execute(f"""
        create or replace table {TABLE} (
            model varchar not null,
            effective_from date not null,
            prompt_usd_per_1m double not null,
            cached_prompt_usd_per_1m double,
            completion_usd_per_1m double not null,
            source varchar not null,
            cache_write_usd_per_1m double,
            primary key (model, effective_from)
        )""")
    if table.rows:
        con.executemany(
            f"insert into {TABLE} values (?, ?, ?, ?, ?, ?, ?)",
            [(p.model, p.effective_from, p.prompt_usd_per_1m, p.cached_prompt_usd_per_1m,
              p.completion_usd_per_1m, p.source, p.cache_write_usd_per_1m)
             for p in table.rows],
        )
    con.execute(f"""
        create or replace table {TOOL_TABLE} (
            api varchar not null,
            tool varchar not null,
            model varchar not null,
            effective_from date not null,
            unit varchar not null,
            usd_per_unit double not null,
            source varchar not null,
            primary key (api, tool, model, effective_from)
        )""")
    if table.tools:
        con.executemany(
            f"insert into {TOOL_TABLE} values (?, ?, ?, ?, ?, ?, ?)",
            [(t.api, t.tool, t.model, t.effective_from, t.unit, t.usd_per_unit, t.source)
             for t in table.tools],
        )
