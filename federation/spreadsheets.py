"""The spreadsheet formats of `write_table`, XLSX and ODS: typed cells, number formats and the files built off the
event loop. Kept apart from federation/tables.py because openpyxl and odfpy are only imported when a spreadsheet is
written."""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import date, datetime
from typing import IO, Any, TypeVar

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

from federation.numbers import plain
from federation.tables import CHUNK_SIZE, Cell, Column, RowSource, Sink, Writer, cells_of, iterate_rows

_SPOOL_MAX = 8 * 1024 * 1024
_BATCH_ROWS = 256  # rows converted per worker-thread hop
# Characters XML 1.0 (hence XLSX/ODS) cannot carry; openpyxl raises on them.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SHEET_ILLEGAL = re.compile(r"[\\/?*\[\]:\x00-\x1f]")

_T = TypeVar("_T")


def number_format(column: Column, row: Mapping[str, Any], value: Cell) -> str | None:
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


def _naive(value: date) -> date:
    """Spreadsheets have no time zones: aware datetimes keep their wall-clock time."""
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


def _sheet_title(title: str) -> str:
    name = _SHEET_ILLEGAL.sub("", title).strip().strip("'")[:31].strip().strip("'")
    if not name or name.casefold() == "history":  # "History" is reserved by Excel
        return "export"
    return name


async def _formatted_batches(
    columns: Sequence[Column], rows: RowSource
) -> AsyncGenerator[list[list[tuple[Cell, str | None]]], None]:
    """The rows' cells by batches of _BATCH_ROWS, each cell with its number format (spreadsheets keep numbers as
    numbers)."""
    batch: list[list[tuple[Cell, str | None]]] = []
    async with contextlib.aclosing(iterate_rows(rows)) as iterator:
        async for row in iterator:
            cells = cells_of(columns, row)
            batch.append(
                [(value, number_format(column, row, value)) for column, value in zip(columns, cells, strict=True)]
            )
            if len(batch) >= _BATCH_ROWS:
                yield batch
                batch = []
    if batch:
        yield batch


async def _stream_file(spool: IO[bytes], sink: Sink) -> None:
    await _in_thread(spool.seek, 0)
    while chunk := await _in_thread(spool.read, CHUNK_SIZE):
        await sink(chunk)


def _xlsx_value(ws: Any, value: Cell) -> Any:
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


def _xlsx_cell(ws: Any, value: Cell, number_format: str | None) -> Any:
    cell = _xlsx_value(ws, value)
    if number_format is None or not isinstance(value, int | float | date) or isinstance(value, bool):
        return cell
    formatted = WriteOnlyCell(ws, value=cell)
    formatted.number_format = number_format
    return formatted


def _xlsx_append(ws: Any, batch: list[list[tuple[Cell, str | None]]]) -> None:
    for values in batch:
        ws.append([_xlsx_cell(ws, value, number_format) for value, number_format in values])


async def write_xlsx(
    columns: Sequence[Column], rows: RowSource, sink: Sink, title: str, language: str, key_row: bool
) -> int:
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
    if key_row:
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


def _ods_cell(value: Cell, style: Any = None) -> Any:
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


def _ods_append(table: Any, batch: list[list[tuple[Cell, str | None]]], styles: _OdsStyles) -> None:
    for values in batch:
        row = TableRow()
        for value, number_format in values:
            row.addElement(_ods_cell(value, styles(number_format)))
        table.addElement(row)


async def write_ods(
    columns: Sequence[Column], rows: RowSource, sink: Sink, title: str, language: str, key_row: bool
) -> int:
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
    if key_row:
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


WRITERS: dict[str, Writer] = {"xlsx": write_xlsx, "ods": write_ods}
