"""The data·inclusion routes in the node's OpenAPI document."""

from __future__ import annotations

from typing import Any

from .mapping import DESCRIPTION_LENGTH, NAME_LENGTH

TAGS = ["datainclusion"]
PROBLEM = {"$ref": "#/components/schemas/Problem"}
FORMAT = {
    "name": "format",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["json", "csv"]},
    "description": "json (default, or csv when the Accept header asks for text/csv): a JSON array, or CSV with one "
    "column per field of the data·inclusion v1 model (lists joined with commas).",
}
_CODE = {"type": "string", "pattern": "^[0-9A-Za-z]{5}$"}
_NAME = {"type": "string", "minLength": NAME_LENGTH[0], "maxLength": NAME_LENGTH[1]}
_COMMON = {
    "source": {"type": "string"},
    "id": {"type": "string"},
    "nom": _NAME,
    "date_maj": {"type": "string", "format": "date"},
    "code_insee": _CODE,
    "code_postal": {"type": "string", "pattern": "^[0-9]{5}$"},
    "longitude": {"type": "number"},
    "latitude": {"type": "number"},
}
STRUCTURE = {
    "type": "object",
    "description": "A data·inclusion v1 structure (`data_inclusion.schema.v1.Structure`): the régie.",
    "properties": {**_COMMON, "siret": {"type": "string", "pattern": "^[0-9]{14}$"}},
    "required": ["source", "id", "nom", "date_maj"],
}
SERVICE = {
    "type": "object",
    "description": "A data·inclusion v1 service (`data_inclusion.schema.v1.Service`): one of the régie's activities.",
    "properties": {
        **_COMMON,
        "structure_id": {"type": "string"},
        "description": {"type": "string", "minLength": DESCRIPTION_LENGTH[0], "maxLength": DESCRIPTION_LENGTH[1]},
        "thematiques": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "zone_eligibilite": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["source", "structure_id", "id", "nom", "description", "date_maj", "thematiques"],
}
LEFT_OUT = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "enum": ["structure", "service"]},
        "origin": {"type": "string"},
        "id": {"type": "string"},
        "name": {"type": "string"},
        "reasons": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "required": ["kind", "origin", "id", "name", "reasons"],
}


def _get(summary: str, description: str, items: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "tags": TAGS,
            "summary": summary,
            "description": description,
            "parameters": [FORMAT],
            "security": [],
            "responses": {
                "200": {
                    "description": "The list, as JSON or CSV.",
                    "content": {
                        "application/json": {"schema": {"type": "array", "items": items}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "400": {
                    "description": "Unknown format or parameter.",
                    "content": {"application/problem+json": {"schema": PROBLEM}},
                },
            },
        }
    }


def datainclusion_paths() -> dict[str, Any]:
    where = "this node's own régie, or on the network's hub every approved member"
    return {
        "/structures": _get(
            "data·inclusion v1 structures",
            f"The structure of {where}, from its profile (docs/open-data.md).",
            STRUCTURE,
        ),
        "/services": _get(
            "data·inclusion v1 services",
            f"The services of {where}, from its activities; the activities that cannot be services are listed at "
            "/api/v1/datainclusion/excluded with the reasons.",
            SERVICE,
        ),
        "/excluded": _get(
            "What the data·inclusion lists leave out, and why",
            "Every profile or activity that is not published as a structure or service, with each reason (a "
            "description shorter than data·inclusion's minimum, a service type without thematiques, an ended "
            "activity…).",
            LEFT_OUT,
        ),
    }
