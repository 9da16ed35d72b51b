"""Built-in export formats for record collections: CSV (flattened columns), JSON, NDJSON, and the spreadsheets and
GeoJSON of `spreadsheets.py`, all streamed."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from typing import Any

from pydantic import BaseModel

from federation.plugin_api import CsvValue, Exporter, Registry, SafeCsvWriter, Sink, hookimpl

__version__ = "0.1.0"
REGIES_HOOK_API = ">=1.0,<3"
_FLUSH_BYTES = 64 * 1024


def _resolve(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolve(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
    options = [option for option in schema.get("anyOf", []) if option.get("type") != "null"]
    if len(options) == 1:
        return _resolve(options[0], definitions)
    return schema


@cache
def typed_columns(record_model: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """(dotted column name, cell kind) from the record model's schema: nested objects with fixed fields are
    flattened, free-form objects (`details`, `indicators`) and lists stay whole in one column. The cell kind is
    what a spreadsheet cell holds: "integer", "number", "date" (dates and times) or "text"."""
    schema = record_model.model_json_schema(mode="serialization")
    definitions = schema.get("$defs", {})

    def walk(node: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
        names: list[tuple[str, str]] = []
        for name, sub in node.get("properties", {}).items():
            resolved = _resolve(sub, definitions)
            if resolved.get("type") == "object" and resolved.get("properties"):
                names += walk(resolved, f"{prefix}{name}.")
            else:
                names.append((f"{prefix}{name}", _cell_kind(resolved)))
        return names

    return tuple(walk(schema, ""))


def _cell_kind(schema: dict[str, Any]) -> str:
    if schema.get("type") in ("integer", "number"):
        return str(schema["type"])
    if schema.get("type") == "string" and schema.get("format") in ("date", "date-time"):
        return "date"
    return "text"


def columns_for(record_model: type[BaseModel]) -> tuple[str, ...]:
    """The dotted column names of `typed_columns`, the CSV header."""
    return tuple(name for name, _kind in typed_columns(record_model))


def cell(record: dict[str, Any], column: str) -> CsvValue:
    """The value of dotted `column` in `record` as one cell: lists of plain values joined with "; ", objects as
    compact JSON, missing values empty."""
    value: Any = record
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value  # numbers stay numbers; SafeCsvWriter writes booleans as true/false
    if isinstance(value, list) and all(not isinstance(item, dict | list) for item in value):
        return "; ".join(str(item) for item in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def csv_writer(registry: Registry) -> Callable[[str, AsyncIterator[dict[str, Any]], Sink], Awaitable[None]]:
    """The CSV writer of a node's record kinds (the core's and its plugins', as `registry` holds them)."""

    async def write(kind: str, records: AsyncIterator[dict[str, Any]], sink: Sink) -> None:
        await write_csv(registry.record_kinds[kind].record_model, records, sink)

    return write


async def write_csv(record_model: type[BaseModel], records: AsyncIterator[dict[str, Any]], sink: Sink) -> None:
    columns = columns_for(record_model)
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    writer.writerow(columns)
    async for record in records:
        writer.writerow([cell(record, column) for column in columns])
        if buffer.tell() >= _FLUSH_BYTES:
            await sink(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    await sink(buffer.getvalue().encode("utf-8"))


async def write_json(kind: str, records: AsyncIterator[dict[str, Any]], sink: Sink) -> None:
    await sink(b"[")
    first = True
    async for record in records:
        await sink((b"" if first else b",\n") + json.dumps(record, ensure_ascii=False).encode("utf-8"))
        first = False
    await sink(b"]\n")


async def write_ndjson(kind: str, records: AsyncIterator[dict[str, Any]], sink: Sink) -> None:
    async for record in records:
        await sink(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")


@hookimpl
def register_exporters(registry: Registry) -> None:
    registry.add_exporter(Exporter("csv", "text/csv; charset=utf-8", "csv", csv_writer(registry), "CSV (tableur)"))
    registry.add_exporter(Exporter("json", "application/json", "json", write_json, "JSON"))
    registry.add_exporter(
        Exporter("ndjson", "application/x-ndjson", "ndjson", write_ndjson, "JSON, un enregistrement par ligne")
    )
    from .spreadsheets import register_spreadsheets

    register_spreadsheets(registry)
