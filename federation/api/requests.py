"""Request plumbing shared by API handlers: bearer auth, JSON bodies, conditional requests, JSON responses."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from federation import appkeys
from federation.plugins import Plugins, Registry
from federation.problems import Problem, field_errors, validation_problem
from federation.schema.records import ActivityData, PeriodReportData, RecordKind
from federation.semantics import value_errors
from federation.storage.tokens import Actor, verify_token

JSON_CONTENT_TYPE = "application/json"
# Records nest a few levels; a deeper body is an attack on the validators' recursion, refused up front.
MAX_JSON_DEPTH = 32


async def require_token(request: web.Request, roles: tuple[str, ...] = ("admin",)) -> Actor:
    """Who the caller's token speaks for; 401 without a valid token, 403 if its role is not in `roles`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="regies"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "this request needs an admin token: send 'Authorization: Bearer <token>' (see `regies token create`)",
            slug="unauthorized",
            headers=challenge,
        )
    actor = await verify_token(request.config_dict[appkeys.ENGINE], token.strip())
    if actor is None:
        raise Problem(401, "the bearer token is unknown or revoked", slug="unauthorized", headers=challenge)
    if actor.role not in roles:
        raise Problem(403, f"a {actor.role} token cannot do this (needs: {', '.join(roles)})", slug="forbidden")
    return actor


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or 400/413/415/422 problems."""
    content_type = request.content_type
    if content_type != JSON_CONTENT_TYPE and not content_type.endswith("+json"):
        raise Problem(415, f"send the body as {JSON_CONTENT_TYPE}, not {content_type or 'no content type'}")
    raw = await request.read()  # raises 413 past client_max_size
    try:
        payload = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise Problem(400, f"the body is not valid UTF-8: {exc}", slug="malformed-json") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise Problem(400, f"the body is not valid JSON: {exc}", slug="malformed-json") from exc
    if not isinstance(payload, dict):
        raise validation_problem([{"pointer": "", "detail": "the body must be a JSON object", "code": "type"}])
    if _nesting_exceeds(payload, MAX_JSON_DEPTH):
        raise Problem(400, f"the body is nested more than {MAX_JSON_DEPTH} levels deep", slug="malformed-json")
    return payload


def _nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (iteratively: a deep body must not exhaust the stack)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else ()
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _integral_floats_as_ints(value: Any) -> Any:
    """JSON Schema counts 12.0 as an integer; strict validation would not, so such numbers become ints first."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    return value


def validate_record_data(
    kind: RecordKind, payload: dict[str, Any], plugins: Plugins, previous: dict[str, Any] | None = None
) -> BaseModel:
    """Validate what a client sent: schema, service type details, then plugins' `validate_record`. 422 if not."""
    cleaned = {key: value for key, value in payload.items() if key not in kind.read_only_fields}
    try:
        # Strict JSON validation: the published schema says `"lon": number`, so "2.35" (a string) is refused
        # rather than silently coerced; JSON strings still carry dates, UUIDs and enum values.
        data = kind.data_model.model_validate_json(json.dumps(_integral_floats_as_ints(cleaned)), strict=True)
    except ValidationError as exc:
        raise validation_problem(field_errors(exc)) from exc
    if isinstance(data, ActivityData):
        validate_service_type(data, plugins.registry)
    if isinstance(data, PeriodReportData):
        unknown = sorted(set(data.indicators) - set(plugins.registry.indicators))
        if unknown:
            raise validation_problem(
                [
                    {
                        "pointer": f"/indicators/{key}",
                        "detail": f"unknown indicator '{key}' (see GET /api/v1/indicators)",
                        "code": "unknown_indicator",
                    }
                    for key in unknown
                ]
            )
        implausible = value_errors(plugins.registry, data.indicators)
        if implausible:
            raise validation_problem([error.as_problem_error() for error in implausible])
    rejections = plugins.validate_record(kind.name, data.model_dump(mode="json"), previous)
    if rejections:
        raise validation_problem(
            [{"pointer": error.pointer, "detail": error.detail, "code": "plugin_rule"} for error in rejections]
        )
    return data


def validate_service_type(data: ActivityData, registry: Registry) -> None:
    service_type = registry.service_types.get(data.service_type)
    if service_type is None:
        known = ", ".join(sorted(registry.service_types)) or "none are registered"
        raise validation_problem(
            [
                {
                    "pointer": "/service_type",
                    "detail": f"unknown service type '{data.service_type}' (known: {known})",
                    "code": "unknown_service_type",
                }
            ]
        )
    if service_type.category != data.category:
        raise validation_problem(
            [
                {
                    "pointer": "/category",
                    "detail": f"service type '{data.service_type}' belongs to category "
                    f"'{service_type.category}', not '{data.category}'",
                    "code": "category_mismatch",
                }
            ]
        )
    try:
        details = service_type.details_model.model_validate_json(
            json.dumps(_integral_floats_as_ints(data.details)), strict=True
        )
    except ValidationError as exc:
        raise validation_problem(field_errors(exc, ("details",))) from exc
    data.details = details.model_dump(mode="json")


async def if_match_version(request: web.Request, kind: str, record_id: str) -> int | None:
    """The version an If-Match header requires (our ETags are "<id>.<version>"), or None without a condition.

    The header may list several entity tags: the condition holds if one names the current version. 412 if none
    names a version of this record (a malformed header names none).
    """
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in header.split(","):
        tag_id, _, version = tag.strip().removeprefix("W/").strip('"').rpartition(".")
        if tag_id == record_id and version.isdigit() and len(version) <= 18:
            versions.add(int(version))
    if not versions:
        raise Problem(412, "If-Match does not name a version of this record", slug="precondition-failed")
    current = await request.app[appkeys.READER].get(kind, record_id)
    if current is not None and current.version in versions:
        return int(current.version)
    # None matches now: the store answers 412 (or 404/410) when it compares this one with the stored version.
    return min(versions)


def not_modified(request: web.Request, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if header is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


def json_response(
    body: str | bytes, *, status: int = 200, etag: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    response = web.Response(
        body=body.encode("utf-8") if isinstance(body, str) else body,
        status=status,
        content_type=JSON_CONTENT_TYPE,
        headers=headers,
    )
    if etag:
        response.headers["ETag"] = etag
    return response
