"""Streaming table writers (CSV, JSON, XLSX, ODS with typed cells) and a GeoJSON writer: the hub's coordinator tables
and the node's record exports share them."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import io
import json
import math
import re
import tempfile
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import IO, Any, Literal, TypeVar

from odf import teletype
from odf.number import DateStyle, Day, Month, Number, NumberStyle, Year
from odf.number import Text as NumberText
from odf.opendocument import OpenDocumentSpreadsheet
from odf.style import Style, TextProperties
from odf.table import Table, TableCell, TableRow
from odf.text import P
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from federation.csv_safety import CsvValue, SafeCsvWriter
from federation.numbers import plain

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
_SPOOL_MAX = 8 * 1024 * 1024
_BATCH_ROWS = 256  # rows converted per worker-thread hop for XLSX/ODS
_YIELD_EVERY = 512  # plain (sync) iterables give the event loop a turn this often

# Characters XML 1.0 (hence XLSX/ODS) cannot carry; openpyxl raises on them.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SHEET_ILLEGAL = re.compile(r"[\\/?*\[\]:\x00-\x1f]")

_Cell = str | int | float | date | None

_T = TypeVar("_T")


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


def _coerce(kind: str, value: Any) -> _Cell:
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


def _cells(columns: Sequence[Column], row: Mapping[str, Any]) -> list[_Cell]:
    return [_coerce(column.kind, row.get(column.key)) for column in columns]


def _csv_value(value: _Cell) -> CsvValue:
    """Numbers stay numbers (written with "." as the decimal point); text is neutralised by SafeCsvWriter."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")  # the form spreadsheet software recognises when opening a CSV
    if isinstance(value, date):
        return value.isoformat()
    return value


def number_format(column: Column, row: Mapping[str, Any], value: _Cell) -> str | None:
    """The spreadsheet number format of a cell: grouped thousands, its decimals, its unit ("3 430 000 €",
    "47,5 %"; the spreadsheet shows separators in the reader's locale)."""
    if isinstance(value, datetime):
        return "dd/mm/yyyy hh:mm"
    if isinstance(value, date):
        return "dd/mm/yyyy"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    decimals = 0 if float(value).is_integer() else 2
    suffix = ""
    if column.kind == "figure":
        decimals = 0 if float(value).is_integer() else int(row.get("decimals") or 2)
        suffix = {"euros": ' "€"', "percent": ' "%"', "hours": ' "h"'}.get(str(row.get("unit")), "")
    elif column.kind == "integer":
        decimals = 0
    return "#,##0" + ("." + "0" * decimals if decimals else "") + suffix


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


def _naive(value: date) -> date:
    """Spreadsheets have no time zones: aware datetimes keep their wall-clock time."""
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


def _sheet_title(title: str) -> str:
    name = _SHEET_ILLEGAL.sub("", title).strip().strip("'")[:31].strip().strip("'")
    if not name or name.casefold() == "history":  # "History" is reserved by Excel
        return "export"
    return name


# --- iteration and output buffering ---------------------------------------------------------------------------------


async def _iterate(rows: AsyncIterable[Mapping[str, Any]] | Iterable[Mapping[str, Any]]) -> AsyncGenerator[Any, None]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for count, row in enumerate(rows, 1):
            yield row
            if count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)


async def _batches(
    columns: Sequence[Column], rows: AsyncIterable[Mapping[str, Any]] | Iterable[Mapping[str, Any]]
) -> AsyncGenerator[list[list[_Cell]], None]:
    batch: list[list[_Cell]] = []
    async with contextlib.aclosing(_iterate(rows)) as iterator:
        async for row in iterator:
            batch.append(_cells(columns, row))
            if len(batch) >= _BATCH_ROWS:
                yield batch
                batch = []
    if batch:
        yield batch


async def _formatted_batches(
    columns: Sequence[Column], rows: AsyncIterable[Mapping[str, Any]] | Iterable[Mapping[str, Any]]
) -> AsyncGenerator[list[list[tuple[_Cell, str | None]]], None]:
    """Like `_batches`, each cell with its number format (spreadsheets keep numbers as numbers)."""
    batch: list[list[tuple[_Cell, str | None]]] = []
    async with contextlib.aclosing(_iterate(rows)) as iterator:
        async for row in iterator:
            cells = _cells(columns, row)
            batch.append(
                [(value, number_format(column, row, value)) for column, value in zip(columns, cells, strict=True)]
            )
            if len(batch) >= _BATCH_ROWS:
                yield batch
                batch = []
    if batch:
        yield batch


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


async def _stream_file(spool: IO[bytes], sink: Sink) -> None:
    await _in_thread(spool.seek, 0)
    while chunk := await _in_thread(spool.read, CHUNK_SIZE):
        await sink(chunk)


# --- formats --------------------------------------------------------------------------------------------------------

_RowSource = AsyncIterable[Mapping[str, Any]] | Iterable[Mapping[str, Any]]


async def _write_csv(
    columns: Sequence[Column], rows: _RowSource, sink: Sink, title: str, language: str, french: bool = False
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
    if _KEY_ROW.get():
        await out.write(render(column.key for column in columns))
    count = 0
    async with contextlib.aclosing(_iterate(rows)) as iterator:
        async for row in iterator:
            await out.write(render(_csv_value(value) for value in _cells(columns, row)))
            count += 1
    await out.flush()
    return count


async def _write_json(columns: Sequence[Column], rows: _RowSource, sink: Sink, title: str, language: str) -> int:
    out = _TextBuffer(sink)
    header = [{"key": column.key, "label": column.label(language), "kind": column.kind} for column in columns]
    await out.write(f'{{"title": {_dumps(title)}, "columns": {_dumps(header)}, "rows": [')
    count = 0
    async with contextlib.aclosing(_iterate(rows)) as iterator:
        async for row in iterator:
            values = _cells(columns, row)
            record = {column.key: _jsonable(value) for column, value in zip(columns, values, strict=True)}
            await out.write(("\n" if count == 0 else ",\n") + _dumps(record))
            count += 1
    await out.write("\n]}\n" if count else "]}\n")
    await out.flush()
    return count


def _xlsx_value(ws: Any, value: _Cell) -> Any:
    if isinstance(value, str):
        value = _XML_ILLEGAL.sub("", value)
        if value.startswith(("=", "#")):
            # openpyxl would store "=…" as a formula and "#N/A"-like text as an error: keep it literal text.
            cell = WriteOnlyCell(ws, value=value)
            cell.data_type = "s"
            return cell
        return value
    if isinstance(value, date):
        return _naive(value)
    return value


def _xlsx_cell(ws: Any, value: _Cell, number_format: str | None) -> Any:
    cell = _xlsx_value(ws, value)
    if number_format is None or not isinstance(value, int | float | date) or isinstance(value, bool):
        return cell
    formatted = WriteOnlyCell(ws, value=cell)
    formatted.number_format = number_format
    return formatted


def _xlsx_append(ws: Any, batch: list[list[tuple[_Cell, str | None]]]) -> None:
    for values in batch:
        ws.append([_xlsx_cell(ws, value, number_format) for value, number_format in values])


async def _write_xlsx(columns: Sequence[Column], rows: _RowSource, sink: Sink, title: str, language: str) -> int:
    workbook = Workbook(write_only=True)
    ws = workbook.create_sheet(_sheet_title(title))
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(ws, value=_XML_ILLEGAL.sub("", column.label(language)))
        cell.font = bold
        cell.data_type = "s"
        header.append(cell)
    ws.append(header)  # the write-only sheet streams each appended row to its own temporary file
    if _KEY_ROW.get():
        ws.append([_xlsx_value(ws, column.key) for column in columns])

    count = 0
    try:
        async with contextlib.aclosing(_formatted_batches(columns, rows)) as batches:
            async for batch in batches:
                await _in_thread(_xlsx_append, ws, batch)
                count += len(batch)
    except BaseException:
        _discard_xlsx(ws)
        raise

    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX) as spool:
        await _in_thread(_save_xlsx, workbook, spool)
        await _stream_file(spool, sink)
    return count


async def _in_thread(function: Callable[..., _T], *args: Any) -> _T:
    """Run blocking work in a thread; if the caller is cancelled (the client went away), wait for the thread
    to finish before the cancellation goes on, so files it writes are not closed under it."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await work
        raise


def _save_xlsx(workbook: Any, spool: Any) -> None:
    # Close the write-only workbook right after saving: otherwise its row writer is finalised by the garbage
    # collector later, after the spool file is closed, and fails there.
    try:
        workbook.save(spool)
    finally:
        workbook.close()


def _discard_xlsx(ws: Any) -> None:
    """Remove the temporary file behind an abandoned write-only sheet now rather than at interpreter exit."""
    with contextlib.suppress(Exception):
        ws.close()
        ws._writer.cleanup()


class _OdsStyles:
    """The cell styles of an ODS document, one per number format, made when first needed."""

    def __init__(self, document: Any) -> None:
        self._document = document
        self._styles: dict[str, Any] = {}

    def __call__(self, number_format: str | None) -> Any:
        if number_format is None:
            return None
        if number_format not in self._styles:
            name = f"f{len(self._styles)}"
            if number_format.startswith("dd/mm/yyyy"):
                data_style = DateStyle(name=f"{name}d")
                for part in (Day(style="long"), NumberText(text="/"), Month(style="long"), NumberText(text="/")):
                    data_style.addElement(part)
                data_style.addElement(Year(style="long"))
            else:
                data_style = NumberStyle(name=f"{name}d")
                digits, _, suffix = number_format.partition(" ")
                decimals = len(digits.partition(".")[2])
                data_style.addElement(Number(decimalplaces=decimals, minintegerdigits=1, grouping="true"))
                if suffix:
                    data_style.addElement(NumberText(text="\u00a0" + suffix.strip('"')))
            self._document.automaticstyles.addElement(data_style)
            style = Style(name=name, family="table-cell", datastylename=f"{name}d")
            self._document.automaticstyles.addElement(style)
            self._styles[number_format] = style
        return self._styles[number_format]


def _ods_cell(value: _Cell, style: Any = None) -> Any:
    if value is None:
        return TableCell()
    styled = {"stylename": style} if style is not None else {}
    if isinstance(value, bool | int | float):
        text = plain(value)
        cell = TableCell(valuetype="float", value=text, **styled)
        cell.addElement(P(text=text))
        return cell
    if isinstance(value, date):
        text = _naive(value).isoformat()
        cell = TableCell(valuetype="date", datevalue=text, **styled)
        cell.addElement(P(text=text))
        return cell
    cell = TableCell(valuetype="string")
    paragraph = P()
    teletype.addTextToElement(paragraph, _XML_ILLEGAL.sub("", value))  # keeps line breaks, tabs and runs of spaces
    cell.addElement(paragraph)
    return cell


def _ods_append(table: Any, batch: list[list[tuple[_Cell, str | None]]], styles: _OdsStyles) -> None:
    for values in batch:
        row = TableRow()
        for value, number_format in values:
            row.addElement(_ods_cell(value, styles(number_format)))
        table.addElement(row)


async def _write_ods(columns: Sequence[Column], rows: _RowSource, sink: Sink, title: str, language: str) -> int:
    # odfpy has no streaming API: the document tree is built in memory, then zipped in one go.
    document = OpenDocumentSpreadsheet()
    bold = Style(name="header", family="table-cell")
    bold.addElement(TextProperties(fontweight="bold"))
    document.automaticstyles.addElement(bold)
    table = Table(name=_sheet_title(title))
    header = TableRow()
    for column in columns:
        cell = TableCell(valuetype="string", stylename=bold)
        cell.addElement(P(text=_XML_ILLEGAL.sub("", column.label(language))))
        header.addElement(cell)
    table.addElement(header)
    styles = _OdsStyles(document)
    if _KEY_ROW.get():
        _ods_append(table, [[(column.key, None) for column in columns]], styles)

    count = 0
    async with contextlib.aclosing(_formatted_batches(columns, rows)) as batches:
        async for batch in batches:
            await _in_thread(_ods_append, table, batch, styles)
            count += len(batch)
    document.spreadsheet.addElement(table)

    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX) as spool:
        await _in_thread(document.save, spool)
        await _stream_file(spool, sink)
    return count


_Writer = Callable[[Sequence[Column], _RowSource, Sink, str, str], Awaitable[int]]
_WRITERS: dict[str, _Writer] = {
    "csv": _write_csv,
    "csv-fr": functools.partial(_write_csv, french=True),
    "json": _write_json,
    "xlsx": _write_xlsx,
    "ods": _write_ods,
}
# Whether the table's files carry the column keys in a second header row (write_table's `key_row`); a context
# variable rather than one more argument of every writer.
_KEY_ROW: contextvars.ContextVar[bool] = contextvars.ContextVar("key_row", default=False)


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
    writer = _WRITERS.get(fmt)
    if writer is None:
        raise ValueError(f"unknown format {fmt!r} (available: {', '.join(sorted(_WRITERS))})")
    if language not in ("fr", "en"):
        raise ValueError(f"unknown language {language!r} (available: en, fr)")
    token = _KEY_ROW.set(key_row)
    try:
        return await writer(columns, rows, sink, title, language)
    finally:
        _KEY_ROW.reset(token)


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
    async with contextlib.aclosing(_iterate(features)) as iterator:
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
