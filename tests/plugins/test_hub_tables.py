"""The streaming table writers (hub tables, node exports) write files the usual libraries read back intact."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Mapping
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest
from odf.namespaces import OFFICENS
from odf.opendocument import load as load_ods
from odf.table import Table, TableCell, TableRow
from odf.teletype import extractText

from federation.tables import FORMATS, Column, write_geojson, write_table

COLUMNS = [
    Column("region", "Région", "Region"),
    Column("households", "Foyers", "Households", "integer"),
    Column("hours", "Heures", "Hours", "number"),
]
ROW_COUNT = 1000


def make_rows(count: int = ROW_COUNT) -> list[dict[str, Any]]:
    return [{"region": "Île-de-France", "households": index, "hours": 12.5} for index in range(count)]


class Collector:
    """An async sink remembering every chunk it received."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def __call__(self, chunk: bytes) -> None:
        assert isinstance(chunk, bytes)
        self.chunks.append(chunk)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


async def render(fmt: str, rows: Any = None, columns: list[Column] = COLUMNS, **options: Any) -> bytes:
    sink = Collector()
    source = make_rows() if rows is None else rows
    count = await write_table(fmt, columns, source, sink, **options)
    if isinstance(source, list):
        assert count == len(source)
    return sink.data


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def read_xlsx(data: bytes) -> list[tuple[Any, ...]]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    return list(workbook.active.iter_rows(values_only=True))


def ods_rows(data: bytes) -> list[list[Any]]:
    """Each ODS row as its cells (odfpy elements)."""
    document = load_ods(io.BytesIO(data))
    (table,) = document.spreadsheet.getElementsByType(Table)
    return [row.getElementsByType(TableCell) for row in table.getElementsByType(TableRow)]


def ods_text(cell: Any) -> str:
    return "".join(extractText(paragraph) for paragraph in cell.childNodes)


def test_formats_table() -> None:
    assert set(FORMATS) == {"csv", "csv-fr", "json", "xlsx", "ods"}
    assert FORMATS["csv"] == ("text/csv; charset=utf-8", "csv")
    assert FORMATS["xlsx"][1] == "xlsx"


async def test_csv_round_trip() -> None:
    data = await render("csv")
    assert b"\r\n" in data
    rows = read_csv(data)
    assert rows[0] == ["Région", "Foyers", "Heures"]
    assert len(rows) == ROW_COUNT + 1
    assert rows[1] == ["Île-de-France", "0", "12.5"]
    assert rows[-1] == ["Île-de-France", str(ROW_COUNT - 1), "12.5"]


async def test_csv_is_streamed_in_chunks() -> None:
    sink = Collector()
    await write_table("csv", COLUMNS, make_rows(20_000), sink)
    assert len(sink.chunks) > 1
    assert all(len(chunk) < 2 * 64 * 1024 for chunk in sink.chunks)


async def test_csv_quotes_per_rfc_4180() -> None:
    rows = [{"region": 'Val "d\'Oise", nord\nsud', "households": 1, "hours": 0.25}]
    parsed = read_csv(await render("csv", rows))
    assert parsed[1] == ['Val "d\'Oise", nord\nsud', "1", "0.25"]


async def test_json_round_trip() -> None:
    document = json.loads(await render("json", title="Régie du Nord"))
    assert document["title"] == "Régie du Nord"
    assert document["columns"] == [
        {"key": "region", "label": "Région", "kind": "text"},
        {"key": "households", "label": "Foyers", "kind": "integer"},
        {"key": "hours", "label": "Heures", "kind": "number"},
    ]
    assert len(document["rows"]) == ROW_COUNT
    assert document["rows"][7] == {"region": "Île-de-France", "households": 7, "hours": 12.5}


async def test_json_is_not_ascii_escaped_and_dates_are_iso() -> None:
    columns = [Column("name", "Nom", "Name"), Column("on", "Le", "On", "date")]
    data = await render("json", [{"name": "Île", "on": date(2024, 3, 1)}, {"on": datetime(2024, 3, 1, 9, 30)}], columns)
    assert "Île".encode() in data
    assert json.loads(data)["rows"] == [
        {"name": "Île", "on": "2024-03-01"},
        {"name": None, "on": "2024-03-01T09:30:00"},
    ]


async def test_json_without_rows_is_valid() -> None:
    assert json.loads(await render("json", []))["rows"] == []


async def test_xlsx_round_trip() -> None:
    rows = read_xlsx(await render("xlsx", title="Export: régions [2024]/* très long titre de feuille"))
    assert len(rows) == ROW_COUNT + 1
    assert rows[0] == ("Région", "Foyers", "Heures")
    assert rows[1][0] == "Île-de-France"
    assert isinstance(rows[5][1], int) and rows[5][1] == 4
    assert isinstance(rows[5][2], float) and rows[5][2] == 12.5


async def test_xlsx_sheet_name_header_style_and_literal_text() -> None:
    columns = [Column("name", "Nom", "Name"), Column("on", "Le", "On", "date")]
    rows = [{"name": "=1+1", "on": date(2024, 3, 1)}, {"name": "#N/A\x07", "on": "not a date"}]
    workbook = openpyxl.load_workbook(io.BytesIO(await render("xlsx", rows, columns, title="Bilan: 2024/T1 [Île]")))
    sheet = workbook.active
    assert sheet.title == "Bilan 2024T1 Île"
    assert sheet["A1"].font.bold
    assert sheet["A2"].value == "=1+1" and sheet["A2"].data_type == "s"
    assert sheet["A3"].value == "#N/A"
    assert sheet["B2"].value == datetime(2024, 3, 1)
    assert sheet["B3"].value == "not a date"


async def test_xlsx_sheet_name_is_truncated() -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(await render("xlsx", [], title="x" * 40)))
    assert workbook.active.title == "x" * 31


async def test_ods_round_trip() -> None:
    rows = ods_rows(await render("ods", title="Régions"))
    assert len(rows) == ROW_COUNT + 1
    assert [ods_text(cell) for cell in rows[0]] == ["Région", "Foyers", "Heures"]
    assert ods_text(rows[1][0]) == "Île-de-France"
    for cell in rows[1][1:]:
        assert cell.getAttrNS(OFFICENS, "value-type") == "float"
    assert float(rows[4][1].getAttrNS(OFFICENS, "value")) == 3
    assert float(rows[4][2].getAttrNS(OFFICENS, "value")) == 12.5


async def test_ods_dates() -> None:
    columns = [Column("on", "Le", "On", "date")]
    rows = ods_rows(await render("ods", [{"on": date(2024, 3, 1)}], columns))
    assert rows[1][0].getAttrNS(OFFICENS, "value-type") == "date"
    assert rows[1][0].getAttrNS(OFFICENS, "date-value") == "2024-03-01"


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx", "ods"])
async def test_english_labels(fmt: str) -> None:
    data = await render(fmt, make_rows(2), language="en")
    if fmt == "csv":
        header = read_csv(data)[0]
    elif fmt == "json":
        header = [column["label"] for column in json.loads(data)["columns"]]
    elif fmt == "xlsx":
        header = list(read_xlsx(data)[0])
    else:
        header = [ods_text(cell) for cell in ods_rows(data)[0]]
    assert header == ["Region", "Households", "Hours"]


@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx", "ods"])
async def test_async_iterable_rows(fmt: str) -> None:
    async def produce() -> AsyncIterator[Mapping[str, Any]]:
        for row in make_rows(300):
            yield row

    sink = Collector()
    assert await write_table(fmt, COLUMNS, produce(), sink) == 300
    if fmt in ("csv", "json"):  # the zipped formats embed timestamps
        assert sink.data == await render(fmt, make_rows(300))
    elif fmt == "xlsx":
        assert len(read_xlsx(sink.data)) == 301
    elif fmt == "ods":
        assert len(ods_rows(sink.data)) == 301


async def test_missing_keys_and_none_give_empty_cells() -> None:
    rows = [{"region": "Nord"}, {"region": None, "households": None, "hours": 3}]
    assert read_csv(await render("csv", rows))[1:] == [["Nord", "", ""], ["", "", "3"]]
    assert json.loads(await render("json", rows))["rows"] == [
        {"region": "Nord", "households": None, "hours": None},
        {"region": None, "households": None, "hours": 3},
    ]
    assert read_xlsx(await render("xlsx", rows))[1:] == [("Nord", None, None), (None, None, 3)]
    ods = ods_rows(await render("ods", rows))
    assert [ods_text(cell) for cell in ods[1]] == ["Nord", "", ""]
    assert ods[2][0].getAttrNS(OFFICENS, "value-type") is None


async def test_xlsx_failure_removes_the_temporary_sheet_file() -> None:
    from openpyxl.worksheet._writer import ALL_TEMP_FILES

    async def broken() -> AsyncIterator[Mapping[str, Any]]:
        for row in make_rows(600):
            yield row
        raise RuntimeError("database went away")

    before = list(ALL_TEMP_FILES)
    sink = Collector()
    with pytest.raises(RuntimeError, match="database went away"):
        await write_table("xlsx", COLUMNS, broken(), sink)
    assert [path for path in ALL_TEMP_FILES if path not in before] == []
    assert sink.chunks == []


async def test_unknown_format() -> None:
    sink = Collector()
    with pytest.raises(ValueError, match=r"unknown format 'x' \(available: csv, csv-fr, json, ods, xlsx\)"):
        await write_table("x", COLUMNS, [], sink)
    assert sink.chunks == []


async def test_geojson() -> None:
    async def produce() -> AsyncIterator[Mapping[str, Any]]:
        yield {"lon": 2.35, "lat": 48.85, "name": "Régie de Paris", "opened": date(2001, 5, 2)}
        yield {"lon": None, "lat": None, "name": "Sans adresse"}

    sink = Collector()
    assert await write_geojson(produce(), sink) == 2
    collection = json.loads(sink.data)
    assert collection["type"] == "FeatureCollection"
    located, unlocated = collection["features"]
    assert located == {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
        "properties": {"name": "Régie de Paris", "opened": "2001-05-02"},
    }
    assert unlocated["type"] == "Feature"
    assert unlocated["geometry"] is None
    assert unlocated["properties"] == {"name": "Sans adresse"}


async def test_geojson_empty() -> None:
    sink = Collector()
    assert await write_geojson([], sink) == 0
    assert json.loads(sink.data) == {"type": "FeatureCollection", "features": []}
