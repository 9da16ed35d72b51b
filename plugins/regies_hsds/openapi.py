"""The HSDS routes in the node's OpenAPI document: HSDA's parameters, and answers described by the HSDS 3.0 fields
this profile fills (the official schemas, much larger, are what the tests validate against)."""

from __future__ import annotations

from typing import Any

from .query import FORMATS, MAX_PAGE, MAX_PER_PAGE, MAX_SEARCH, MAX_STREAMED, NDJSON

JSON = "application/json"
TAGS = ["hsds"]
SPEC = {"description": "Human Services Data Specification 3.0", "url": "https://docs.openreferral.org/en/latest/"}
_UUID = {"type": "string", "format": "uuid"}
_PROBLEM = {
    "description": "The parameter named in `errors` is not valid.",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
_NOT_FOUND = {**_PROBLEM, "description": "No object with this id."}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


ORGANIZATION = _object(["id", "name", "description"], id=_UUID, name={"type": "string"}, description={"type": "string"})
SERVICE = _object(
    ["id", "name", "status"],  # `minimal` items have no organization
    id=_UUID,
    organization_id=_UUID,
    name={"type": "string"},
    status={"type": "string", "enum": ["active", "inactive", "defunct", "temporarily closed"]},
    last_modified={"type": "string", "format": "date-time"},
    organization=ORGANIZATION,
)
TAXONOMY = _object(["id", "name", "description"], id=_UUID, name={"type": "string"}, description={"type": "string"})
TERM = _object(
    ["id", "name", "description", "taxonomy_id"],
    id=_UUID,
    name={"type": "string"},
    description={"type": "string"},
    taxonomy_id=_UUID,
    parent_id=_UUID,
)


LOCATION = _object(
    ["id", "location_type"],
    id=_UUID,
    location_type={"type": "string", "enum": ["physical", "postal", "virtual"]},
    name={"type": "string"},
    latitude={"type": "number"},
    longitude={"type": "number"},
)
AT_LOCATION = _object(
    ["id", "service_id", "location_id", "location", "service"],
    id=_UUID,
    service_id=_UUID,
    location_id=_UUID,
    location=LOCATION,
    service=_object(
        ["id", "name", "status"], id=_UUID, name={"type": "string"}, status=SERVICE["properties"]["status"]
    ),
)


def _page(item: dict[str, Any]) -> dict[str, Any]:
    counts = {name: {"type": "integer", "minimum": 0} for name in ("total_items", "total_pages", "size")}
    flags = {name: {"type": "boolean"} for name in ("first_page", "last_page", "empty")}
    return _object(
        [*counts, "page_number", *flags, "contents"],
        **counts,
        page_number={"type": "integer", "minimum": 1},
        **flags,
        contents={"type": "array", "items": item},
    )


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PAGING = [
    _query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "Page number, from 1."),
    _query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE}, "Items per page (default 50)."),
]
SEARCH = _query("search", {"type": "string", "maxLength": MAX_SEARCH}, "Words found in the name or description.")
FULL = _query("full", {"type": "boolean"}, "true: each item fully nested, as its own address serves it.")
FORMAT = _query(
    "format",
    {"type": "string", "enum": list(FORMATS)},
    "json (default): a page; ndjson: every item, one JSON document per line, without pages (then neither `page` "
    f"nor `per_page` may be given), at most {MAX_STREAMED}: a 400 naming `format` when more match.",
)
FULL_SERVICE = _query(
    "full_service", {"type": "boolean"}, "true: the organizations fully nested, each service in them fully nested."
)
ID = {"name": "id", "in": "path", "required": True, "schema": _UUID, "description": "The HSDS id (a UUID)."}


def _get(
    operation_id: str, summary: str, answer: dict[str, Any], parameters: list[dict[str, Any]], path_id: bool = False
) -> dict[str, Any]:
    content: dict[str, Any] = {JSON: {"schema": answer}}
    if FORMAT in parameters:  # format=ndjson: the page's items, each on its own line
        content[NDJSON] = {"schema": answer["properties"]["contents"]["items"]}
    responses: dict[str, Any] = {"200": {"description": summary, "content": content}, "400": _PROBLEM}
    if path_id:
        responses["404"] = _NOT_FOUND
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": TAGS,
            "externalDocs": SPEC,
            "parameters": [ID, *parameters] if path_id else parameters,
            "responses": responses,
        }
    }


def hsds_paths() -> dict[str, Any]:
    meta = _object(
        ["version", "profile", "openapi_url", "publisher"],
        version={"type": "string"},
        profile={"type": "string", "format": "uri"},
        openapi_url={"type": "string", "format": "uri"},
        publisher=_object(["name", "url"], name={"type": "string"}, url={"type": "string", "format": "uri"}),
    )
    service_filters = [
        SEARCH,
        *PAGING,
        FORMAT,
        FULL,
        _query("taxonomy_term_id", _UUID, "Services classified by this term (see /hsds/taxonomy_terms)."),
        _query("taxonomy_id", _UUID, "Services classified by a term of this taxonomy."),
        _query("organization_id", _UUID, "Services of this organization."),
        _query(
            "modified_after",
            {"type": "string", "format": "date-time"},
            "Changed at or after this moment (RFC 3339); a date alone (2025-01-31) means its midnight UTC.",
        ),
    ]
    at_location_filters = [
        *service_filters,
        _query(
            "postcode",
            {"type": "string", "pattern": "^[0-9]{5}$"},
            "Services whose area (commune) has this French postal code; a service without an area, by its "
            "location's address. (HSDA's `proximity`, measured from the postcode's centre, is not supported.)",
        ),
    ]
    minimal = _query(
        "minimal",
        {"type": "boolean"},
        "true: each service with its id, name, status and last_modified only, 500 a page by default; not with "
        "full=true.",
    )
    return {
        "/hsds/": _get("hsdsMeta", "HSDS version, profile, OpenAPI document and publisher of this API", meta, []),
        "/hsds/profile": _get(
            "hsdsProfile", "The régies profile of HSDS: what it uses and how", {"type": "object"}, []
        ),
        "/hsds/services": _get(
            "hsdsListServices",
            "Services (activities and shared resources)",
            _page(SERVICE),
            [*service_filters, minimal],
        ),
        "/hsds/services/{id}": _get("hsdsGetService", "A service, fully nested", SERVICE, [], path_id=True),
        "/hsds/service_at_locations": _get(
            "hsdsListServiceAtLocations", "Services at their locations", _page(AT_LOCATION), at_location_filters
        ),
        "/hsds/service_at_locations/{id}": _get(
            "hsdsGetServiceAtLocation", "A service at its location, fully nested", AT_LOCATION, [], path_id=True
        ),
        "/hsds/organizations": _get(
            "hsdsListOrganizations",
            "Organizations (régies)",
            _page(ORGANIZATION),
            [SEARCH, *PAGING, FORMAT, FULL, FULL_SERVICE],
        ),
        "/hsds/organizations/{id}": _get(
            "hsdsGetOrganization",
            "An organization, fully nested, with its services",
            ORGANIZATION,
            [FULL_SERVICE],
            path_id=True,
        ),
        "/hsds/taxonomies": _get(
            "hsdsListTaxonomies", "The profile's taxonomies", _page(TAXONOMY), [SEARCH, *PAGING, FORMAT]
        ),
        "/hsds/taxonomies/{id}": _get("hsdsGetTaxonomy", "A taxonomy", TAXONOMY, [], path_id=True),
        "/hsds/taxonomy_terms": _get(
            "hsdsListTaxonomyTerms",
            "Fields of action, service types and kinds of shared resource",
            _page(TERM),
            [
                SEARCH,
                *PAGING,
                FORMAT,
                _query("taxonomy_id", _UUID, "Terms of this taxonomy."),
                _query("parent_id", _UUID, "Terms whose parent is this term."),
                _query("top_only", {"type": "boolean"}, "true: only terms without child terms."),
            ],
        ),
        "/hsds/taxonomy_terms/{id}": _get("hsdsGetTaxonomyTerm", "A taxonomy term", TERM, [], path_id=True),
    }
