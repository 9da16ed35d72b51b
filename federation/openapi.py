"""The generic OpenAPI 3.1 document of the node API (every node's, before its plugins narrow it in
federation/openapi_plugins.py), generated from the same pydantic models that validate requests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from federation import SCHEMA_VERSION, __version__
from federation.schema.kinds import RecordKinds
from federation.schema.records import RecordEnvelope
from federation.schema.types import NODE_ID_PATTERN

REF = "#/components/schemas/{model}"
JSON = "application/json"
PROBLEM = "application/problem+json"


def component_schemas(kinds: RecordKinds) -> tuple[dict[str, Any], dict[tuple[Any, str], str]]:
    """All component schemas, and the $ref of each (model, mode)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for kind in kinds.values():
        models.append((kind.data_model, "validation"))
        models.append((kind.record_model, "serialization"))
    models.append((RecordEnvelope, "serialization"))
    refs, top = models_json_schema(models, ref_template=REF)
    schemas = top.get("$defs", {})
    schemas["Problem"] = _problem_schema()
    return schemas, {(model, mode): ref["$ref"] for (model, mode), ref in refs.items()}


def _wire_batch_schemas() -> dict[str, Any]:
    """The inbox batch and the record envelopes it carries, as the receiver validates them (components named Wire*)."""
    from federation.protocol.apply import WireBatch

    schema = WireBatch.model_json_schema(ref_template=REF.format(model="Wire{model}"), mode="validation")
    components = {f"Wire{name}": definition for name, definition in schema.pop("$defs", {}).items()}
    schema["description"] = (
        "The sender's own records: every origin is the signing node; each payload repeats its envelope's origin, "
        "id, version and updated_at; an id appears once; a tombstone (deleted) has no payload."
    )
    components["WireBatch"] = schema
    return components


def _problem_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "properties": {
            "type": {"type": "string", "description": "urn:regies:problem:<slug>, or about:blank"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "pointer": {"type": "string", "description": "JSON Pointer to the offending field."},
                        "detail": {"type": "string"},
                        "code": {"type": "string"},
                    },
                    "required": ["pointer", "detail"],
                },
            },
            "errors_not_listed": {
                "type": "integer",
                "description": "How many more errors there are than `errors` lists (it lists the first 100).",
            },
            "accepted": {
                "type": "array",
                "items": {"type": "string"},
                "description": "With 415: the media types the operation accepts.",
            },
        },
        "required": ["type", "title", "status"],
    }


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": {"$ref": REF.format(model="Problem")}}}}


def _json(description: str, ref: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": {"$ref": ref}}}}
    if headers:
        response["headers"] = headers
    return response


def _link(operation_id: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "parameters": {"id": "$response.body#/id"},
        "description": f"{operation_id} on the record this response describes.",
    }


_ETAG = {"ETag": {"schema": {"type": "string"}, "description": "Version tag for If-None-Match / If-Match."}}
_SECURED: list[dict[str, list[str]]] = [{"bearerAuth": []}]
_ID_PARAM = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
_ORIGIN_PARAM = {
    "name": "origin",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "pattern": NODE_ID_PATTERN},
    "description": "The node whose record this is: a record is (origin, id), and another node's record may carry "
    "the same id. Without it: this node's own record with this id, else the only other node's record with it.",
}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Only apply if the record still has one of these ETags (else 412).",
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "Answer 304 if the representation still has this ETag.",
}


_UNAUTHORIZED = _problem("Missing, unknown or revoked bearer token.")
_FORBIDDEN = _problem("The token's role may not do this (a coordinator's token on a régie's node).")


def _write_errors() -> dict[str, Any]:
    return {
        "400": _problem("Malformed JSON, or not UTF-8."),
        "401": _UNAUTHORIZED,
        "403": _FORBIDDEN,
        "413": _problem("Body larger than the configured limit."),
        "415": _problem(
            "Body is not `application/json` (in UTF-8): patch formats such as `application/merge-patch+json` are "
            "refused, a body is always the whole document."
        ),
        "422": _problem("Invalid fields; `errors` lists each one with a JSON Pointer (the first 100)."),
    }


def _with_article(noun: str) -> str:
    """ "an activity", "a report": operation summaries read as English."""
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def build_openapi(
    kinds: RecordKinds,
    list_filters: dict[str, dict[str, dict[str, Any]]],
    *,
    cursor_pattern: str,
    max_page_size: int = 500,
) -> dict[str, Any]:
    """The document of a node that knows `kinds`; `list_filters` maps each kind with a collection to its query
    parameters ({"description", "schema"})."""
    schemas, refs = component_schemas(kinds)
    paths: dict[str, Any] = {}
    for kind in kinds.values():
        if kind.collection is None:
            continue
        data_ref = refs[(kind.data_model, "validation")]
        record_ref = refs[(kind.record_model, "serialization")]
        if kind.one_per_origin:  # the node's profile: one document, read and replaced
            paths[f"/api/v1/{kind.collection}"] = {
                "get": {
                    "operationId": "getNode",
                    "summary": "This node's profile",
                    "tags": ["node"],
                    "parameters": [_IF_NONE_MATCH],
                    "responses": {
                        "200": _json("The profile.", record_ref, _ETAG),
                        "304": {"description": "Unchanged."},
                    },
                },
                "put": {
                    "operationId": "putNode",
                    "summary": "Replace this node's profile",
                    "tags": ["node"],
                    "security": _SECURED,
                    "parameters": [_IF_MATCH],
                    "requestBody": {"required": True, "content": {JSON: {"schema": {"$ref": data_ref}}}},
                    "responses": {
                        "200": _json("The new profile.", record_ref, _ETAG),
                        "412": _problem("If-Match did not match."),
                        **_write_errors(),
                    },
                },
            }
            continue
        name = kind.record_model.__name__
        page_name = f"{name}Page"
        schemas[page_name] = {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": record_ref}},
                "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page."},
                "limit": {"type": "integer"},
            },
            "required": ["items", "next_cursor", "limit"],
        }
        read_security = _SECURED if kind.private else []
        read_errors = {"401": _UNAUTHORIZED, "403": _FORBIDDEN} if kind.private else {}
        filters = [
            {"name": param, "in": "query", "required": False, **described}
            for param, described in list_filters[kind.name].items()
        ]
        paging = [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": max_page_size},
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": cursor_pattern},
                "description": "`next_cursor` of the previous page.",
            },
            {
                "name": "updated_since",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "format": "date-time"},
                "description": "Only records changed at or after this time.",
            },
        ]
        base = f"/api/v1/{kind.collection}"
        # Links let clients (and stateful API tests) chain create → get → replace → delete on the same record.
        links = {
            f"get{name}": _link(f"get{name}"),
            f"replace{name}": _link(f"replace{name}"),
            f"delete{name}": _link(f"delete{name}"),
        }
        paths[base] = {
            "get": {
                "operationId": f"list{name}s",
                "summary": f"List {kind.collection}",
                "tags": [kind.collection],
                "security": read_security,
                "parameters": [*filters, *paging, _IF_NONE_MATCH],
                "responses": {
                    "200": _json("One page, in stable insertion order.", REF.format(model=page_name), _ETAG),
                    "304": {"description": "Unchanged."},
                    "400": _problem("Invalid query parameter."),
                    **read_errors,
                },
            },
            "post": {
                "operationId": f"create{name}",
                "summary": f"Create {_with_article(kind.name)}",
                "tags": [kind.collection],
                "security": _SECURED,
                "requestBody": {"required": True, "content": {JSON: {"schema": {"$ref": data_ref}}}},
                "responses": {
                    "201": {
                        **_json("Created.", record_ref, {**_ETAG, "Location": {"schema": {"type": "string"}}}),
                        "links": links,
                    },
                    "409": _problem(
                        "Conflicts with an existing record, or a report submitted with no hub to deliver it."
                    ),
                    **_write_errors(),
                },
            },
        }
        paths[base + "/{id}"] = {
            "parameters": [_ID_PARAM],
            "get": {
                "operationId": f"get{name}",
                "summary": f"Get {_with_article(kind.name)}",
                "tags": [kind.collection],
                "security": read_security,
                "parameters": [_ORIGIN_PARAM, _IF_NONE_MATCH],
                "responses": {
                    "200": _json("The record.", record_ref, _ETAG),
                    "304": {"description": "Unchanged."},
                    "400": _problem("Invalid origin, or an unknown query parameter."),
                    "404": _problem("No such record."),
                    "409": _problem("Without `origin`: several other nodes hold a record with this id (name one)."),
                    "410": _problem("The record was deleted."),
                    **read_errors,
                },
            },
            "put": {
                "operationId": f"replace{name}",
                "summary": f"Replace {_with_article(kind.name)} (its version is bumped)",
                "tags": [kind.collection],
                "security": _SECURED,
                "parameters": [_IF_MATCH],
                "requestBody": {"required": True, "content": {JSON: {"schema": {"$ref": data_ref}}}},
                "responses": {
                    "200": {**_json("The new version.", record_ref, _ETAG), "links": links},
                    "404": _problem("No such record."),
                    "409": _problem("Replica of another node, a locked report, or a report submitted with no hub."),
                    "410": _problem("The record was deleted."),
                    "412": _problem("If-Match did not match."),
                    **_write_errors(),
                },
            },
            "delete": {
                "operationId": f"delete{name}",
                "summary": f"Delete {_with_article(kind.name)} (leaves a tombstone in the feed)",
                "tags": [kind.collection],
                "security": _SECURED,
                "parameters": [_IF_MATCH],
                "responses": {
                    "204": {"description": "Deleted."},
                    "401": _UNAUTHORIZED,
                    "403": _FORBIDDEN,
                    "404": _problem("No such record."),
                    "409": _problem("Replica of another node, or a report past draft."),
                    "410": _problem("Already deleted."),
                    "412": _problem("If-Match did not match."),
                },
            },
        }
    for path, operation, summary in (
        ("/api/v1/plugins", "listPlugins", "Plugins: versions, hooks and what each registers"),
        ("/api/v1/service-types", "listServiceTypes", "Service types with labels and details JSON Schema"),
        ("/api/v1/indicators", "listIndicators", "Period-report indicators registered by plugins"),
    ):
        paths[path] = {
            "get": {
                "operationId": operation,
                "summary": summary,
                "tags": ["plugins"],
                "responses": {"200": {"description": "OK", "content": {JSON: {"schema": {"type": "object"}}}}},
            }
        }
    paths["/api/v1/export/{collection}"] = {
        "get": {
            "operationId": "exportCollection",
            "summary": "Stream a whole collection in an export format registered by a plugin",
            "tags": ["exports"],
            "parameters": [
                {
                    "name": "collection",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": [kind.collection for kind in kinds.with_collection()]},
                },
                {"name": "format", "in": "query", "required": True, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "The export, streamed (CSV, JSON…)."},
                "400": _problem("Unknown format or invalid filter."),
                "401": _problem("Token required (reports)."),
                "403": _problem("The token's role may not read reports."),
                "404": _problem("No such collection."),
            },
        }
    }
    for path, operation, summary in (
        ("/.well-known/regies-node", "discoveryDocument", "This node's identity, keys and endpoints"),
    ):
        paths[path] = {
            "get": {
                "operationId": operation,
                "summary": summary,
                "tags": ["federation"],
                "responses": {"200": {"description": "OK", "content": {JSON: {"schema": {"type": "object"}}}}},
            }
        }
    signed: list[dict[str, list[str]]] = [{"httpSignature": []}]
    paths["/federation/v1/changes"] = {
        "get": {
            "operationId": "changeFeed",
            "summary": "This node's records in commit order (signed requests from peers only, see docs/protocol.md)",
            "tags": ["federation"],
            "security": signed,
            "parameters": [
                {
                    "name": "since",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "format": "regies-feed-cursor", "maxLength": 100},
                    "description": "`next_cursor` of the previous page (opaque, never expires); absent: the start.",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 5000},
                },
            ],
            "responses": {
                "200": {"description": "A page of record envelopes", "content": {JSON: {"schema": {"type": "object"}}}},
                "400": _problem("Invalid cursor or limit."),
                "401": _problem("Missing, invalid, stale or replayed signature, or unknown node or key."),
            },
        }
    }
    schemas.update(_wire_batch_schemas())
    paths["/federation/v1/inbox"] = {
        "post": {
            "operationId": "inbox",
            "summary": "Receive a signed batch of the sender's records (applied once per batch id)",
            "tags": ["federation"],
            "security": signed,
            "requestBody": {"required": True, "content": {JSON: {"schema": {"$ref": REF.format(model="WireBatch")}}}},
            "responses": {
                "202": {
                    "description": "Applied, or already received",
                    "content": {JSON: {"schema": {"type": "object"}}},
                },
                "400": _problem("Malformed JSON."),
                "401": _problem("Missing, invalid, stale or replayed signature, or unknown node or key."),
                "403": _problem(
                    "A record's origin is not the signing node, or its kind is not the signer's to author "
                    "(reviews come from the receiver's hub only)."
                ),
                "409": _problem("A second live profile (`node` record) of the signing node."),
                "413": _problem("Batch larger than the configured limit."),
                "422": _problem("Invalid batch or record."),
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics: requests, latency, peers' lag, outbox depth, last deliveries",
            "tags": ["operations"],
            "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {}}}},
        }
    }
    for path, summary in (("/healthz", "Liveness"), ("/readyz", "Readiness: the database answers")):
        paths[path] = {
            "get": {
                "operationId": path.strip("/"),
                "summary": summary,
                "tags": ["operations"],
                "responses": {
                    "200": {"description": "OK", "content": {JSON: {"schema": {"type": "object"}}}},
                    "503": _problem("Not ready."),
                },
            }
        }
    return {
        # No jsonSchemaDialect: OpenAPI 3.1's default dialect already is JSON Schema 2020-12 (plus the OpenAPI
        # vocabulary), and Swagger UI warns on /docs about any other value.
        "openapi": "3.1.0",
        "info": {
            "title": "Régies federation node API",
            "version": __version__,
            "description": f"Common schema {SCHEMA_VERSION}. Errors are RFC 9457 application/problem+json; "
            "with `Accept-Language: fr` their validation messages are in French. Request bodies are "
            "`application/json` in UTF-8.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "httpSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Signature",
                    "description": "RFC 9421 HTTP Message Signature by a peer node (profile in docs/protocol.md).",
                },
            },
        },
    }
