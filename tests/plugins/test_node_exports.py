"""A node's activities and resources as XLSX, ODS and GeoJSON: typed cells a spreadsheet reads back, points where
a place has a position."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import openpyxl
from odf.namespaces import OFFICENS
from odf.opendocument import load as load_ods
from odf.table import Table, TableCell, TableRow
from odf.teletype import extractText

from tests.protocol.conftest import Node, NodeFactory, activity

PLACED = activity(
    1,
    title="Jardin de la Duchère",
    start_date="2026-03-02",
    inhabitants_involved=42,
    place={"commune": "69389", "address": "1 place Abbé Pierre", "point": {"lat": 45.786, "lon": 4.797}},
)
UNPLACED = activity(2, title='=HYPERLINK("http://evil.example")', place={"commune": "69389"})
MINIBUS = {
    "kind": "vehicle",
    "name": "Minibus 9 places",
    "capacity": 9,
    "place": {"commune": "69389", "point": {"lat": 45.78, "lon": 4.8}},
}


async def _download(node: Node, path: str) -> tuple[int, str, bytes]:
    async with node.session.get(f"{node.url}{path}", headers=node.auth) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


async def _node(make_node: NodeFactory) -> Node:
    node = await make_node("rq-duchere")
    await node.create("activities", PLACED)
    await node.create("activities", UNPLACED)
    await node.create("resources", MINIBUS)
    return node


def _ods_rows(data: bytes) -> list[list[Any]]:
    (table,) = load_ods(io.BytesIO(data)).spreadsheet.getElementsByType(Table)
    rows = []
    for row in table.getElementsByType(TableRow):
        cells = []
        for cell in row.getElementsByType(TableCell):
            kind = cell.getAttrNS(OFFICENS, "value-type")
            if kind == "float":
                cells.append(float(cell.getAttrNS(OFFICENS, "value")))
            elif kind == "date":
                cells.append(cell.getAttrNS(OFFICENS, "date-value"))
            else:
                cells.append(extractText(cell) or None)
        rows.append(cells)
    return rows


async def test_activities_as_xlsx_keep_numbers_and_dates_typed(make_node: NodeFactory) -> None:
    node = await _node(make_node)
    status, media_type, data = await _download(node, "/api/v1/export/activities?format=xlsx")
    assert (status, media_type) == (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=False)]
    names = [cell.value for cell in header]
    assert sheet.title == "activities" and names[:2] == ["origin", "id"]
    by_title = {row[names.index("title")].value: row for row in rows}
    placed = by_title["Jardin de la Duchère"]
    involved = placed[names.index("inhabitants_involved")]
    assert (involved.value, involved.data_type) == (42, "n")
    start = placed[names.index("start_date")]
    assert start.value == dt.datetime(2026, 3, 2) and start.number_format == "dd/mm/yyyy"
    assert placed[names.index("place.point.lat")].value == 45.786
    assert isinstance(placed[names.index("updated_at")].value, dt.datetime)
    assert placed[names.index("deleted")].value == "false"
    hostile = by_title['=HYPERLINK("http://evil.example")']
    assert hostile[names.index("title")].data_type == "s"  # text, never a formula
    assert json.loads(placed[names.index("details")].value)["surface_m2"] == 100  # free-form: one JSON cell


async def test_resources_as_ods_keep_numbers_and_dates_typed(make_node: NodeFactory) -> None:
    node = await _node(make_node)
    status, media_type, data = await _download(node, "/api/v1/export/resources?format=ods")
    assert (status, media_type) == (200, "application/vnd.oasis.opendocument.spreadsheet")
    header, row = _ods_rows(data)
    values = dict(zip(header, row, strict=False))
    assert (values["name"], values["capacity"], values["place.point.lon"]) == ("Minibus 9 places", 9.0, 4.8)
    assert values["borrowers"] == "regies" and values["kind"] == "vehicle"
    assert dt.datetime.fromisoformat(values["updated_at"]).date() == dt.datetime.now(dt.UTC).date()


async def test_geojson_places_what_has_a_position(make_node: NodeFactory) -> None:
    node = await _node(make_node)
    status, media_type, data = await _download(node, "/api/v1/export/activities?format=geojson")
    assert (status, media_type) == (200, "application/geo+json")
    collection = json.loads(data)
    assert collection["type"] == "FeatureCollection"
    features = {feature["properties"]["title"]: feature for feature in collection["features"]}
    placed = features["Jardin de la Duchère"]
    # RFC 7946: longitude first, then latitude.
    assert placed["geometry"] == {"type": "Point", "coordinates": [4.797, 45.786]}
    assert placed["type"] == "Feature" and placed["properties"]["place"]["commune"] == "69389"
    assert features['=HYPERLINK("http://evil.example")']["geometry"] is None  # a commune only: no made-up point

    status, _, data = await _download(node, "/api/v1/export/resources?format=geojson")
    (minibus,) = json.loads(data)["features"]
    assert minibus["geometry"]["coordinates"] == [4.8, 45.78]


async def test_geojson_of_reports_is_refused_before_anything_is_written(make_node: NodeFactory) -> None:
    node = await _node(make_node)
    status, media_type, data = await _download(node, "/api/v1/export/reports?format=geojson")
    assert (status, media_type) == (400, "application/problem+json")
    problem = json.loads(data)
    assert "does not export reports" in problem["detail"] and "xlsx" in problem["errors"][0]["detail"]
