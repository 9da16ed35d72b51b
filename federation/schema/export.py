"""Generates the committed contract under schemas/: JSON Schema 2020-12 per record, OpenAPI and examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from federation import SCHEMA_VERSION
from federation.schema.examples import EXAMPLES
from federation.schema.kinds import RecordKinds
from federation.schema.records import CORE_KINDS, RecordEnvelope
from federation.versions import parse_version

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Files and ids name the major version only: a minor version adds to the same contract (schemas/v1/).
SCHEMA_DIRECTORY = f"v{parse_version(SCHEMA_VERSION)[0]}"


def _dump(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def _schema(model: Any, name: str, mode: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode=mode)
    return {"$schema": DIALECT, "$id": f"urn:regies:schema:{SCHEMA_DIRECTORY}:{name}", **schema}


def generate(openapi: dict[str, Any], kinds: RecordKinds = CORE_KINDS) -> dict[str, str]:
    """Relative path → file content for every generated file: a record and a data schema per kind of `kinds` (the
    core's, and those of the plugins shipped with it: `regies schema export`), an example of the core's kinds."""
    files: dict[str, str] = {}
    for kind in kinds.values():
        base = f"{SCHEMA_DIRECTORY}/{kind.schema_name}"
        files[f"{base}.schema.json"] = _dump(_schema(kind.record_model, kind.schema_name, "serialization"))
        files[f"{base}-data.schema.json"] = _dump(_schema(kind.data_model, f"{kind.schema_name}-data", "validation"))
        if kind.schema_name in EXAMPLES:
            example = kind.record_model.model_validate(EXAMPLES[kind.schema_name]).model_dump(mode="json")
            files[f"examples/{SCHEMA_DIRECTORY}/{kind.schema_name}.json"] = _dump(example)
    files[f"{SCHEMA_DIRECTORY}/record-envelope.schema.json"] = _dump(
        _schema(RecordEnvelope, "record-envelope", "serialization")
    )
    files["openapi.json"] = _dump(openapi)
    return files


def export(directory: Path, openapi: dict[str, Any], kinds: RecordKinds = CORE_KINDS) -> list[Path]:
    written = []
    for relative, content in generate(openapi, kinds).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            written.append(path)
    return written


def stale_files(directory: Path, openapi: dict[str, Any], kinds: RecordKinds = CORE_KINDS) -> list[str]:
    """Generated files that are missing or differ from what the models produce now."""
    stale = []
    for relative, content in generate(openapi, kinds).items():
        path = directory / relative
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            stale.append(relative)
    return stale
