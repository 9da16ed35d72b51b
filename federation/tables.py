"""Streaming table writers shared by the hub's coordinator tables and the node's record exports: the table model
(`Column`, typed cells), CSV, JSON and GeoJSON here, XLSX and ODS in federation/spreadsheets.py."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import math
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal

from federation.csv_safety import CsvValue, SafeCsvWriter

__all__ = ["FORMATS", "Column", "Sink", "write_geojson", "write_table"]

Sink = Callable[[bytes], Awaitable[None]]
"""An async function receiving the output chunk by chunk."""

FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    # French spreadsheet software opens this one in columns: ";" separator, decimal comma, UTF-8 with a BOM.
    "csv-fr": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", "ods"),
}

CHUNK_SIZE = 64 * 1024
_YIELD_EVERY = 512  # plain (sync) iterables give the event loop a turn this often

Cell = str | int | float | date | None
RowSource = AsyncIterable[Mapping[str, Any]] | Iterable[Mapping[str, Any]]


@dataclass(frozen=True)
class Column:
    """A table column. A "figure" is a number whose unit and decimals are the row's `unit` and `decimals`
    (a table of indicators mixes euros, percentages and counts)."""

    key: str
    label_fr: str
    label_en: str
    kind: Literal["text", "integer", "number", "date", "figure"] = "text"

    def label(self, language: str) -> str:
        return self.label_en if language == "en" else self.label_fr


# --- values ---------------------------------------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _coerce(kind: str, value: Any) -> Cell:
    """One cell's value for `kind`; values that do not fit the kind are kept as text rather than dropped."""
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    if kind in ("integer", "number", "figure"):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float | Decimal):
            number = _finite(float(value))
            if number is not None and kind == "integer" and number.is_integer():
                return int(value)
            return number
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            with contextlib.suppress(ValueError):
                return int(text)
            with contextlib.suppress(ValueError):
                return _finite(float(text))
            return value
    elif kind == "date":
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            with contextlib.suppress(ValueError):
                return date.fromisoformat(text)
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(text)
            return value
    if isinstance(value, str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return _finite(value)
    return str(value)


def cells_of(columns: Sequence[Column], row: Mapping[str, Any]) -> list[Cell]:
    return [_coerce(column.kind, row.get(column.key)) for column in columns]


def _csv_value(value: Cell) -> CsvValue:
    """Numbers stay numbers (written with "." as the decimal point); text is neutralised by SafeCsvWriter."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")  # the form spreadsheet software recognises when opening a CSV
    if isinstance(value, date):
        return value.isoformat()
    return value


def _jsonable(value: Any) -> Any:
    """Plain JSON data: dates as ISO strings, non-finite numbers as null, unknown objects as their text."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, Decimal):
        return _finite(float(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return _jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


# --- iteration and output buffering ---------------------------------------------------------------------------------


async def iterate_rows(rows: RowSource) -> AsyncGenerator[Any, None]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for count, row in enumerate(rows, 1):
            yield row
            if count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)


class _TextBuffer:
    """Accumulates text and hands it to the sink as UTF-8 in chunks of about CHUNK_SIZE."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._parts: list[str] = []
        self._size = 0

    async def write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= CHUNK_SIZE:
            await self.flush()

    async def flush(self) -> None:
        if self._parts:
            data = "".join(self._parts).encode("utf-8")
            self._parts.clear()
            self._size = 0
            await self._sink(data)


# --- formats --------------------------------------------------------------------------------------------------------


async def _write_csv(
    columns: Sequence[Column],
    rows: RowSource,
    sink: Sink,
    title: str,
    language: str,
    key_row: bool,
    french: bool = False,
) -> int:
    line = io.StringIO()
    # RFC 4180: "," separator, CRLF, text quoted and neutralised; the French variant: ";" and a decimal comma.
    writer = SafeCsvWriter(line, delimiter=";" if french else ",", decimal_mark="," if french else ".")
    out = _TextBuffer(sink)

    def render(values: Iterable[CsvValue]) -> str:
        line.seek(0)
        line.truncate()
        writer.writerow(values)
        return line.getvalue()

    await out.write("\ufeff" + render(column.label(language) for column in columns))  # BOM: Excel then reads UTF-8
    if key_row:
        await out.write(render(column.key for column in columns))
    count = 0
    async with contextlib.aclosing(iterate_rows(rows)) as iterator:
        async for row in iterator:
            await out.write(render(_csv_value(value) for value in cells_of(columns, row)))
            count += 1
    await out.flush()
    return count


async def _write_json(
    columns: Sequence[Column], rows: RowSource, sink: Sink, title: str, language: str, key_row: bool
) -> int:
    # JSON always names each value by its column's key: `key_row` adds nothing.
    out = _TextBuffer(sink)
    header = [{"key": column.key, "label": column.label(language), "kind": column.kind} for column in columns]
    await out.write(f'{{"title": {_dumps(title)}, "columns": {_dumps(header)}, "rows": [')
    count = 0
    async with contextlib.aclosing(iterate_rows(rows)) as iterator:
        async for row in iterator:
            values = cells_of(columns, row)
            record = {column.key: _jsonable(value) for column, value in zip(columns, values, strict=True)}
            await out.write(("\n" if count == 0 else ",\n") + _dumps(record))
            count += 1
    await out.write("\n]}\n" if count else "]}\n")
    await out.flush()
    return count


Writer = Callable[[Sequence[Column], RowSource, Sink, str, str, bool], Awaitable[int]]
"""A format's writer: (columns, rows, sink, title, language, key_row) -> number of data rows written."""
_TEXT_WRITERS: dict[str, Writer] = {
    "csv": _write_csv,
    "csv-fr": functools.partial(_write_csv, french=True),
    "json": _write_json,
}


async def write_table(
    fmt: str,
    columns: Sequence[Column],
    rows: AsyncIterable[Mapping[str, Any]] | Iterable[Mapping[str, Any]],
    sink: Sink,
    *,
    title: str = "export",
    language: str = "fr",
    key_row: bool = False,
) -> int:
    """Write `rows` as a table in `fmt` (a key of FORMATS) to `sink`, with a header row of the column labels in
    `language` ("fr" or "en"), and with `key_row` a second header row of the column keys (CSV, XLSX, ODS; JSON
    always has both); return the number of data rows. Missing keys and None give empty cells."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (available: {', '.join(sorted(FORMATS))})")
    if language not in ("fr", "en"):
        raise ValueError(f"unknown language {language!r} (available: en, fr)")
    writer = _TEXT_WRITERS.get(fmt)
    if writer is None:
        from federation import spreadsheets  # openpyxl and odfpy are loaded by the first spreadsheet written

        writer = spreadsheets.WRITERS[fmt]
    return await writer(columns, rows, sink, title, language, key_row)


def _position(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return _finite(number)


async def write_geojson(
    features: AsyncIterable[Mapping[str, Any]] | Iterable[Mapping[str, Any]],
    sink: Sink,
) -> int:
    """Write an RFC 7946 FeatureCollection of points to `sink`, one feature per mapping; return the feature count.

    Each mapping's `lon` and `lat` give the point (a feature without a usable position gets `"geometry": null`);
    every other key becomes a property."""
    out = _TextBuffer(sink)
    await out.write('{"type": "FeatureCollection", "features": [')
    count = 0
    async with contextlib.aclosing(iterate_rows(features)) as iterator:
        async for item in iterator:
            lon, lat = _position(item.get("lon")), _position(item.get("lat"))
            geometry = None if lon is None or lat is None else {"type": "Point", "coordinates": [lon, lat]}
            properties = {key: value for key, value in item.items() if key not in ("lon", "lat")}
            feature = {"type": "Feature", "geometry": geometry, "properties": _jsonable(properties)}
            await out.write(("\n" if count == 0 else ",\n") + _dumps(feature))
            count += 1
    await out.write("\n]}\n" if count else "]}\n")
    await out.flush()
    return count
