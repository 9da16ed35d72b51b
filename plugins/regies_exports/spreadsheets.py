"""Record exports as spreadsheets (XLSX, ODS, with typed cells) and as GeoJSON, through the core's table writers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from federation.plugin_api import Exporter, Registry, Sink
from federation.plugin_api.files import FORMATS, Column, write_geojson, write_table

from . import cell, typed_columns

# Kinds whose records have a `place` (with an optional WGS 84 point): the only ones GeoJSON carries.
PLACED_KINDS = ("activity", "resource")


def _columns(record_model: type[BaseModel]) -> tuple[Column, ...]:
    # The header is the column key, as in the CSV export, so a file's columns read the same in every format.
    return tuple(Column(name, name, name, cell_kind) for name, cell_kind in typed_columns(record_model))  # type: ignore[arg-type]


def _row(record: dict[str, Any], columns: tuple[Column, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column in columns:
        value = cell(record, column.key)
        if isinstance(value, bool):
            value = "true" if value else "false"  # a cell reading TRUE/FALSE would depend on the reader's locale
        row[column.key] = None if value == "" else value
    return row


async def _rows(records: AsyncIterator[dict[str, Any]], columns: tuple[Column, ...]) -> AsyncIterator[dict[str, Any]]:
    async for record in records:
        yield _row(record, columns)


def _spreadsheet(fmt: str, registry: Registry) -> Callable[[str, AsyncIterator[dict[str, Any]], Sink], Awaitable[None]]:
    """The writer of a node's record kinds (the core's and its plugins', as `registry` holds them) in `fmt`."""

    async def write(kind: str, records: AsyncIterator[dict[str, Any]], sink: Sink) -> None:
        declared = registry.record_kinds[kind]
        columns = _columns(declared.record_model)
        await write_table(fmt, columns, _rows(records, columns), sink, title=declared.collection or declared.name)

    return write


async def _features(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    async for record in records:
        point = (record.get("place") or {}).get("point") or {}
        # RFC 7946: a feature without a known position has a null geometry; the reference data has no commune
        # centroids, so a place known only by its commune stays unplaced rather than placed somewhere made up.
        yield {"lon": point.get("lon"), "lat": point.get("lat"), **record}


async def write_geojson_records(kind: str, records: AsyncIterator[dict[str, Any]], sink: Sink) -> None:
    await write_geojson(_features(records), sink)


def register_spreadsheets(registry: Registry) -> None:
    for fmt, label in (("xlsx", "Classeur Excel (XLSX)"), ("ods", "Classeur OpenDocument (ODS)")):
        media_type, extension = FORMATS[fmt]
        registry.add_exporter(Exporter(fmt, media_type, extension, _spreadsheet(fmt, registry), label))
    registry.add_exporter(
        Exporter(
            "geojson",
            "application/geo+json",
            "geojson",
            write_geojson_records,
            "GeoJSON (carte, points des lieux géolocalisés)",
            kinds=PLACED_KINDS,
        )
    )
