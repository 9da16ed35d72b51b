"""Validators for answers of the HSDS API, from Open Referral's own schemas vendored in schema/ (see README.md)."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

HERE = Path(__file__).parent / "schema"
# Where the official documents live: the OpenAPI document's $refs name these addresses, resolved here offline.
BASE = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"
OPENAPI = BASE + "openapi.json"


def _load(path: Path) -> Any:
    if path.suffix == ".gz":
        return json.loads(gzip.decompress(path.read_bytes()))
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    resources = []
    for path in sorted(HERE.rglob("*.json*")):
        relative = path.relative_to(HERE).as_posix().removesuffix(".gz")
        resources.append((BASE + relative, Resource.from_contents(_load(path), default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


# An erratum of the vendored openapi.json: it declares /service_at_locations/{id} to answer a service
# (compiled/service.json), while HSDA's reference text and example answer a service_at_location; Open Referral
# corrected the document to compiled/service_at_location.json (openreferral/specification pull request 574).
ERRATA = {"/service_at_locations/{id}": BASE + "compiled/service_at_location.json"}


@cache
def validator(path: str) -> Draft202012Validator:
    """Checks a 200 answer of HSDA path `path` (e.g. "/services/{id}") against the official OpenAPI document."""
    pointer = _pointer("", "paths", path, "get", "responses", "200", "content", "application/json", "schema")
    reference = ERRATA.get(path, f"{OPENAPI}#{pointer}")
    return Draft202012Validator(
        {"$ref": reference}, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def errors(path: str, document: Any) -> list[str]:
    """Every way `document` breaks the official schema of `path`'s answer (empty when it conforms)."""
    return [
        f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator(path).iter_errors(document)
    ]


@cache
def _item_validator(path: str) -> Draft202012Validator:
    pointer = _pointer("", "paths", path, "get", "responses", "200", "content", "application/json", "schema")
    return Draft202012Validator(
        {"$ref": f"{OPENAPI}#{pointer}/properties/contents/items"},
        registry=registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def item_errors(path: str, item: Any) -> list[str]:
    """Every way `item` breaks the official schema of one item of listing `path` (an NDJSON line, say)."""
    return [error.message for error in _item_validator(path).iter_errors(item)]


def official_paths() -> list[str]:
    return list(_load(HERE / "openapi.json")["paths"])


def official_parameters(path: str) -> list[str]:
    """The names of the query parameters HSDA defines for `path` (its `$ref`s to shared parameters resolved)."""
    document = _load(HERE / "openapi.json")
    names = []
    for parameter in document["paths"][path]["get"].get("parameters", []):
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        if parameter["in"] == "query":
            names.append(parameter["name"])
    return names
