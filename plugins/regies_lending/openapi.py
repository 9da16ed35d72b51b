"""The lending routes in the node's OpenAPI document: parameters, bodies, answers and who may call each."""

from __future__ import annotations

from typing import Any

from federation.plugin_api import NODE_ID_PATTERN

from .api import AcceptBody, DeclineBody
from .records import LoanRequestData
from .rules import LOAN_STATES

JSON = "application/json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
SIGNED: list[dict[str, list[str]]] = [{"httpSignature": []}]
TAGS = ["lending"]
UUID_SCHEMA = {"type": "string", "format": "uuid"}


def inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON Schema with its `$defs` inlined: a plugin's path items cannot add components."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return resolve({**definitions[reference.removeprefix("#/$defs/")], **_without(node, "$ref")})
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _without(node: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in node.items() if name != key}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": PROBLEM_REF}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


LOAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["state", "role", "request", "decision", "conflicts"],
    "properties": {
        "state": {"type": "string", "enum": list(LOAN_STATES), "description": "As both régies' nodes derive it."},
        "role": {"type": "string", "enum": ["lender", "borrower"], "description": "This node's part in the loan."},
        "request": {"type": "object", "description": "The loan request record (schemas/v1/loan-request)."},
        "decision": {
            "type": ["object", "null"],
            "description": "The lender's decision record (schemas/v1/loan-decision), null until it decides.",
        },
        "conflicts": {
            "type": "array",
            "items": {"type": "object"},
            "description": "For the lender, the accepted loans this request would exceed the capacity with.",
        },
        "warnings": {"type": "array", "items": {"type": "string"}},
    },
}
_COMMON_ERRORS = {
    "400": _problem("Malformed body or query."),
    "401": _problem("Missing or invalid bearer token."),
    "403": _problem("Not this node's part of the loan, or a token role that cannot do it."),
    "404": _problem("No such loan (or resource) on this node."),
}
_PATH = [
    {"name": "origin", "in": "path", "required": True, "schema": {"type": "string", "pattern": NODE_ID_PATTERN}},
    {"name": "id", "in": "path", "required": True, "schema": UUID_SCHEMA},
]


def _action(summary: str, description: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": TAGS,
        "summary": summary,
        "description": description,
        "security": BEARER,
        "parameters": _PATH,
        "responses": {
            "200": _json("The loan as it now is (unchanged if it already was).", LOAN_SCHEMA),
            **_COMMON_ERRORS,
            "409": _problem("The loan is in a state that does not allow this, or the loan conflicts."),
            "415": _problem("The body is not application/json."),
            "422": _problem("Invalid body, each field named."),
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": False, "content": {JSON: {"schema": body}}}
    return {"post": operation}


def lending_paths() -> dict[str, Any]:
    request_body = inline(LoanRequestData.model_json_schema(mode="validation"))
    return {
        "/requests": {
            "post": {
                "tags": TAGS,
                "summary": "Request a loan of a partner's resource",
                "description": "The resource is a replica this node holds. The lender's node checks the request "
                "first (availability slots, accepted loans and capacity, who may borrow, peers); a refusal names "
                "the field. Then the request is stored and sent to the lender alone.",
                "security": BEARER,
                "requestBody": {"required": True, "content": {JSON: {"schema": request_body}}},
                "responses": {
                    "201": _json("The loan, requested.", LOAN_SCHEMA),
                    **_COMMON_ERRORS,
                    "409": _problem("Overlaps accepted loans beyond the capacity, or the resource changed."),
                    "415": _problem("The body is not application/json."),
                    "422": _problem("Invalid request, outside the availability slots, or not lendable."),
                    "502": _problem("The lender's node answered in a form not understood."),
                    "503": _problem("The lender's node could not be reached: try again later."),
                },
            }
        },
        "/loans": {
            "get": {
                "tags": TAGS,
                "summary": "Loans this node lends or borrows",
                "security": BEARER,
                "parameters": [
                    _query("role", {"type": "string", "enum": ["lender", "borrower"]}, "This node's part."),
                    _query("state", {"type": "string", "enum": list(LOAN_STATES)}, "The loan's state."),
                    _query("resource", UUID_SCHEMA, "Loans of this resource (its id)."),
                    _query("from", {"type": "string", "format": "date"}, "Loans ending on or after this day."),
                    _query("to", {"type": "string", "format": "date"}, "Loans starting on or before this day."),
                ],
                "responses": {
                    "200": _json(
                        "Loans by start.",
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {"items": {"type": "array", "items": LOAN_SCHEMA}},
                        },
                    ),
                    "400": _problem("Unknown or invalid query parameter."),
                    "401": _problem("Missing or invalid bearer token."),
                    "403": _problem("A token role that cannot read loans."),
                },
            }
        },
        "/loans/{origin}/{id}": {
            "get": {
                "tags": TAGS,
                "summary": "One loan, by its request's origin and id",
                "security": BEARER,
                "parameters": _PATH,
                "responses": {"200": _json("The loan.", LOAN_SCHEMA), **_COMMON_ERRORS},
            }
        },
        "/loans/{origin}/{id}/accept": _action(
            "Accept a request (the lender)",
            "Refused with 409 when the loan overlaps accepted loans beyond the resource's capacity, unless "
            "`allow_overlap` is true: then it is accepted with a warning. Accepting again changes nothing.",
            inline(AcceptBody.model_json_schema()),
        ),
        "/loans/{origin}/{id}/decline": _action(
            "Decline a request, or propose other dates (the lender)",
            "A counter-proposal is a decline with `proposed_start` and `proposed_end`.",
            inline(DeclineBody.model_json_schema()),
        ),
        "/loans/{origin}/{id}/cancel": _action(
            "Cancel a request (the borrower)", "Before pick-up; cancellation wins over a decision on its way."
        ),
        "/loans/{origin}/{id}/picked-up": _action(
            "Mark the resource picked up (the borrower)", "Only once the lender accepted."
        ),
        "/loans/{origin}/{id}/returned": _action("Mark the resource returned (the borrower)", "After pick-up."),
        "/calendar-token": {
            "post": {
                "tags": TAGS,
                "summary": "Make the staff's calendar token (the previous one stops working)",
                "security": BEARER,
                "responses": {
                    "201": _json("The token, shown once.", {"type": "object", "required": ["token"]}),
                    "401": _problem("Missing or invalid bearer token."),
                    "403": _problem("A token role that cannot do this."),
                },
            },
            "delete": {
                "tags": TAGS,
                "summary": "Revoke the staff's calendar token",
                "security": BEARER,
                "responses": {
                    "204": {"description": "Revoked."},
                    "401": _problem("Missing or invalid bearer token."),
                    "403": _problem("A token role that cannot do this."),
                },
            },
        },
        "/calendar/{id}/loans.ics": {
            "get": {
                "tags": TAGS,
                "summary": "iCalendar (RFC 5545) of a resource's accepted loans, for the lender's staff",
                "parameters": [
                    _PATH[1],
                    {
                        "name": "token",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "The calendar token (POST /plugins/lending/calendar-token).",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The calendar.",
                        "content": {"text/calendar": {"schema": {"type": "string"}}},
                    },
                    "404": _problem("No such resource, or the token is unknown or was replaced."),
                },
            }
        },
        "/calendar/{id}/availability.ics": {
            "get": {
                "tags": TAGS,
                "summary": "iCalendar (RFC 5545) of a resource's weekly availability, public",
                "parameters": [_PATH[1]],
                "responses": {
                    "200": {
                        "description": "The calendar.",
                        "content": {"text/calendar": {"schema": {"type": "string"}}},
                    },
                    "404": _problem("No such resource of this node."),
                },
            }
        },
        "/federation/check": {
            "post": {
                "tags": TAGS,
                "summary": "Check a loan request before it is made (signed, from the borrower's node)",
                "description": "Answers the refusals, by code and field; an empty list lets the borrower send it.",
                "security": SIGNED,
                "requestBody": {"required": True, "content": {JSON: {"schema": request_body}}},
                "responses": {
                    "200": _json(
                        "The refusals (signed answer).",
                        {
                            "type": "object",
                            "required": ["refusals"],
                            "properties": {"refusals": {"type": "array", "items": {"type": "object"}}},
                        },
                    ),
                    "400": _problem("Malformed body."),
                    "401": _problem("Not signed by a peer of this node."),
                    "422": _problem("Invalid request, each field named."),
                },
            }
        },
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
