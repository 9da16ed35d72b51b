"""The hub's routes in the node's OpenAPI document: parameters, bodies, answers and who may call each."""

from __future__ import annotations

from typing import Any

from federation.plugin_api import DEPARTMENTS, NODE_ID_PATTERN, NOT_BLANK_PATTERN, REGIONS
from federation.plugin_api.files import FORMATS

from .aggregates import LEVELS
from .coordination import MAX_COMMENT, MAX_ENROLMENT_ID
from .enrolment import MAX_KEYS, STATES
from .labels import STATUSES

JSON = "application/json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
SIGNED: list[dict[str, list[str]]] = [{"httpSignature": []}]
# Years a period may name (the common schema's Period: 2000–2100).
_YEAR = "(20[0-9]{2}|2100)"
PERIOD_PATTERN = f"^{_YEAR}(-Q[1-4]|-{_YEAR})?$"
TAGS = ["hub"]


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": PROBLEM_REF}}}


def _object(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"type": "object"}}}}


def _query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


PERIOD = _query(
    "period",
    {"type": "string", "pattern": PERIOD_PATTERN},
    "2025, 2025-Q3 or 2023-2025 (a survey period ends after it starts).",
    required=True,
)
LEVEL = _query(
    "level",
    {"type": "string", "enum": list(LEVELS)},
    "regional needs `region` (a regional coordinator's own by default), departmental needs `department`.",
)
REGION = _query("region", {"type": "string", "enum": sorted(REGIONS)}, "INSEE region code.")
DEPARTMENT = _query("department", {"type": "string", "enum": sorted(DEPARTMENTS)}, "Department code.")
FORMAT = _query(
    "format",
    {"type": "string", "enum": sorted(FORMATS)},
    "json (default), csv, csv-fr (`;` separator, decimal comma: French spreadsheet software opens it in columns), "
    "xlsx or ods (numbers stay numbers, with number formats).",
)
LANG = _query("lang", {"type": "string", "enum": ["fr", "en"]}, "Language of the column headings and value labels.")
KEYS = _query(
    "keys",
    {"type": "string", "enum": ["0", "1"]},
    "1 (default): CSV, XLSX and ODS repeat the column keys in a second header row.",
)
APPROVED = _query(
    "approved",
    {"type": "string", "enum": ["all", "national"]},
    "all (default): every received report; national: only those the hub accepted at national level (or in one).",
)
LABEL_BODY = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": list(STATUSES)},
        "since": {"type": ["string", "null"], "format": "date", "description": "Required for `labellisee`."},
        "until": {"type": ["string", "null"], "format": "date", "description": "None: open-ended."},
    },
    "required": ["status"],
    "additionalProperties": False,
}
TABLE_ANSWER = {
    "description": "The table, in the requested format.",
    "content": {media_type: {} for media_type, _extension in FORMATS.values()},
}
COORDINATOR_ERRORS = {
    "400": _problem("Invalid query parameter."),
    "401": _problem("Missing, unknown or revoked bearer token."),
    "403": _problem("The token's role or region does not allow this."),
}


def _comment_body(required: bool) -> dict[str, Any]:
    """A decision's body: an optional comment, or (rejecting, returning) a required one that is not blank."""
    comment: dict[str, Any] = {"type": "string", "maxLength": MAX_COMMENT}
    if required:
        comment["pattern"] = NOT_BLANK_PATTERN
    return {
        "required": required,
        "content": {
            JSON: {
                "schema": {
                    "type": "object",
                    "properties": {"comment": comment},
                    "required": ["comment"] if required else [],
                    "additionalProperties": False,
                }
            }
        },
    }


JOIN_REQUEST = {
    "type": "object",
    "required": ["discovery", "profile"],
    "description": "The node's discovery document (the request is signed with one of its keys) and its profile "
    "(whose origin is the discovery document's node_id).",
    "properties": {
        "discovery": {
            "type": "object",
            "required": ["node_id", "base_url", "keys"],
            "properties": {
                "node_id": {"type": "string", "pattern": NODE_ID_PATTERN},
                "name": {"type": "string"},
                "base_url": {
                    "type": "string",
                    "pattern": "^https?://",
                    "description": "An https URL of a public address; a loopback, private or link-local one (or "
                    "plain http) is refused with 422 unless the hub allows private addresses (docs/protocol.md §4).",
                },
                "keys": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["kty", "crv", "kid", "x"],
                        "properties": {
                            "kty": {"const": "OKP"},
                            "crv": {"const": "Ed25519"},
                            "kid": {"type": "string", "minLength": 1},
                            "x": {"type": "string", "pattern": "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"},
                            "created": {"type": "integer", "minimum": 0},
                        },
                    },
                },
            },
        },
        "profile": {"$ref": "#/components/schemas/NodeProfile"},
    },
}


def _table(operation_id: str, summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": TAGS,
            "security": BEARER,
            "parameters": [*parameters, FORMAT, LANG, KEYS],
            "responses": {"200": TABLE_ANSWER, **COORDINATOR_ERRORS},
        }
    }


FINGERPRINTS = {
    "type": "array",
    "maxItems": MAX_KEYS,
    "items": {"type": "string", "maxLength": 200},
    "description": "The fingerprint of every key of the request, as the régie's operator read it out (compared "
    "out of band, never copied from the request); colons, spaces and case do not matter.",
}


def _approval_body() -> dict[str, Any]:
    body = _comment_body(False)
    schema = body["content"][JSON]["schema"]
    schema["properties"]["fingerprints"] = FINGERPRINTS
    schema["required"] = ["fingerprints"]
    return {**body, "required": True}


def _decision(
    operation_id: str,
    summary: str,
    parameters: list[dict[str, Any]],
    ok: str,
    *,
    needs_comment: bool = False,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "parameters": parameters,
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "tags": TAGS,
            "security": BEARER,
            "requestBody": body or _comment_body(needs_comment),
            "responses": {
                ok: _object("The decision."),
                **COORDINATOR_ERRORS,
                "404": _problem("No such enrolment, member or report."),
                "409": _problem("Already decided, or not in a state that can be decided."),
                "415": _problem("Body is not application/json."),
                "422": _problem(
                    "A rejection, a return or a revocation needs a comment; an approval, every key's fingerprint."
                ),
            },
        },
    }


def hub_paths() -> dict[str, Any]:
    """Path items of the hub's routes, keyed by their path under /plugins/hub."""
    scope = [PERIOD, LEVEL, REGION, DEPARTMENT]
    enrolment_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ENROLMENT_ID},
    }
    report = [
        {"name": "origin", "in": "path", "required": True, "schema": {"type": "string", "pattern": NODE_ID_PATTERN}},
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
    ]
    return {
        "/enrolments": {
            "post": {
                "operationId": "requestEnrolment",
                "summary": "A node asks to join, signing with a key of the discovery document it sends",
                "tags": TAGS,
                "security": SIGNED,
                "requestBody": {"required": True, "content": {JSON: {"schema": JOIN_REQUEST}}},
                "responses": {
                    "200": _object("Already a member (the request was signed with one of its keys): unchanged."),
                    "202": _object("Recorded as pending, bound to the keys it carries."),
                    "400": _problem("Malformed JSON."),
                    "401": _problem("Unsigned, or not signed with a key of the enclosed discovery document."),
                    "403": _problem("It carries a key revoked on this hub."),
                    "409": _problem(
                        "The hub's own id or a peer's; a member's, not signed with its keys; or a pending request "
                        "for the same node id with other keys."
                    ),
                    "413": _problem("Body larger than 64 KiB."),
                    "422": _problem("Invalid discovery document or profile, more than 4 keys."),
                    "429": _problem("Too many requests from this address, or awaiting a decision (Retry-After)."),
                },
            },
            "get": {
                "operationId": "listEnrolments",
                "summary": "Join requests (a regional coordinator sees their region's)",
                "tags": TAGS,
                "security": BEARER,
                "parameters": [
                    _query("state", {"type": "string", "enum": list(STATES)}, "Filter."),
                    _query("after", {"type": "integer", "minimum": 0, "maximum": MAX_ENROLMENT_ID}, "Last id seen."),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "Page size (50)."),
                ],
                "responses": {
                    "200": _object("A page of requests, with their keys' fingerprints; `next` leads to the next."),
                    **COORDINATOR_ERRORS,
                },
            },
        },
        "/enrolments/{id}/approve": _decision(
            "approveEnrolment",
            "Approve a join request (every key's fingerprint, compared out of band)",
            [enrolment_id],
            "200",
            body=_approval_body(),
        ),
        "/members/{node_id}/revoke": _decision(
            "revokeMember",
            "Revoke a member: out of the directory, its keys refused, its records kept (comment)",
            [{"name": "node_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "200",
            needs_comment=True,
        ),
        "/members/{node_id}/label": {
            "parameters": [{"name": "node_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "put": {
                "operationId": "grantMemberLabel",
                "summary": "Record the label the network grants a member (national coordinators)",
                "tags": TAGS,
                "security": BEARER,
                "requestBody": {"required": True, "content": {JSON: {"schema": LABEL_BODY}}},
                "responses": {
                    "200": _object("The hub's statement, as the directory and exports now carry it."),
                    **COORDINATOR_ERRORS,
                    "404": _problem("Not a member of the network."),
                    "415": _problem("Body is not application/json."),
                    "422": _problem(
                        "Unknown status, a date that is not YYYY-MM-DD, `until` before `since`, or a "
                        "granted label without `since`."
                    ),
                },
            },
        },
        "/enrolments/{id}/reject": _decision(
            "rejectEnrolment", "Reject a join request (comment)", [enrolment_id], "200", needs_comment=True
        ),
        "/directory": {
            "get": {
                "operationId": "hubDirectory",
                "summary": "The members, signed by the hub",
                "tags": TAGS,
                "responses": {"200": _object("The signed directory.")},
            }
        },
        "/directory/export": _table("exportDirectory", "The members as a table", []),
        "/directory.geojson": {
            "get": {
                "operationId": "directoryGeojson",
                "summary": "The members as GeoJSON points",
                "tags": TAGS,
                "responses": {"200": {"description": "A FeatureCollection.", "content": {"application/geo+json": {}}}},
            }
        },
        "/reports": {
            "get": {
                "operationId": "listReceivedReports",
                "summary": "Reports received for a period (drafts are not received)",
                "tags": TAGS,
                "security": BEARER,
                "parameters": [PERIOD, APPROVED],
                "responses": {"200": _object("The reports."), **COORDINATOR_ERRORS},
            }
        },
        "/reports/{origin}/{id}/validate": _decision(
            "validateReport",
            "Validate a report at the coordinator's level (regional validation, national acceptance)",
            report,
            "201",
        ),
        "/reports/{origin}/{id}/return": _decision(
            "returnReport", "Return a report (comment)", report, "201", needs_comment=True
        ),
        "/me": {
            "get": {
                "operationId": "memberStatus",
                "summary": "A member's own enrolment and report states (signed request)",
                "tags": TAGS,
                "security": SIGNED,
                "responses": {
                    "200": _object("The member's status."),
                    "401": _problem("Missing, invalid, stale or replayed signature, or unknown node or key."),
                },
            }
        },
        "/tables/activities": _table("activityTable", "Activities by field of action and service type", scope),
        "/tables/indicators": _table(
            "indicatorTable", "Indicator figures of received reports, by rule", [*scope, APPROVED]
        ),
        "/tables/completeness": _table("completenessTable", "Expected, received and on-time reports", scope),
        "/tables/missing": _table("missingTable", "Members whose report is missing", scope),
        "/tables/trends": _table(
            "trendTable",
            "One indicator over the periods",
            [
                _query("indicator", {"type": "string", "x-regies-enum": "indicators"}, "Indicator key.", True),
                LEVEL,
                REGION,
                DEPARTMENT,
                APPROVED,
            ],
        ),
    }


def opendata_paths() -> dict[str, Any]:
    """The open datasets' address: no token; 404 for a dataset or period the hub has not opened."""
    dataset = {
        "name": "dataset",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": ["directory", "activities", "indicators"]},
        "description": "directory, or a national table (activities, indicators) of a `period`.",
    }
    period = _query(
        "period",
        {"type": "string", "pattern": PERIOD_PATTERN},
        "The tables' period, one of those opened (2025, 2025-Q3 or 2023-2025); a table without one is a 404.",
    )
    return {
        "/opendata/{dataset}": {
            "get": {
                "operationId": "openDataset",
                "summary": "An open dataset (listed in /catalog.jsonld), small cells left empty",
                "tags": TAGS,
                "parameters": [dataset, period, FORMAT, LANG, KEYS],
                "responses": {
                    "200": TABLE_ANSWER,
                    "400": _problem("Invalid query parameter."),
                    "404": _problem("The hub does not publish this dataset (for this period)."),
                },
            }
        }
    }
