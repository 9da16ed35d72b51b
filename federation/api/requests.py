"""Request plumbing shared by API handlers: bearer auth, JSON bodies, conditional requests, JSON responses."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from federation import appkeys
from federation.plugins import Plugins, Registry
from federation.problems import Problem, field_errors, json_pointer, validation_problem
from federation.responses import JSON_CONTENT_TYPE
from federation.schema.identifiers import retired_commune_detail
from federation.schema.records import ActivityData, PeriodReportData, RecordKind
from federation.semantics import value_errors
from federation.storage.tokens import Actor, verify_token

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
    """The request body as a JSON object, or 400/413/415/422 problems.

    Only `application/json` in UTF-8 (RFC 8259 §8.1): a body is always a whole document, so a patch format such
    as `application/merge-patch+json` (whose left-out members mean "unchanged") is refused rather than read as
    a replacement that would wipe them, and a declared charset other than UTF-8 is refused rather than ignored.
    """
    content_type = request.content_type
    if content_type != JSON_CONTENT_TYPE:
        raise Problem(
            415,
            f"send the body as {JSON_CONTENT_TYPE}, not {content_type or 'no content type'}",
            slug="unsupported-media-type",
            extra={"accepted": [JSON_CONTENT_TYPE]},
        )
    charset = request.charset
    if charset is not None and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise Problem(
            415,
            f"send the body in UTF-8 (charset={charset} is not accepted)",
            slug="unsupported-media-type",
            extra={"accepted": [f"{JSON_CONTENT_TYPE}; charset=utf-8"]},
        )
    raw = await request.read()  # raises 413 past client_max_size
    if b"\x00" in raw:  # never in JSON text (controls are escaped in strings): UTF-16 or UTF-32 without a BOM
        raise Problem(400, "the body is not valid UTF-8 (it holds NUL bytes: UTF-16 or UTF-32?)", slug="malformed-json")
    try:
        # Decoded as UTF-8 first: json.loads would otherwise guess UTF-16 or UTF-32 from the bytes.
        payload = json.loads(raw.decode("utf-8"))
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
    """Validate what a client sent: schema, service type details, then plugins' `validate_record`. 422 if not.

    The schema and an activity's service type and `details` are checked in one pass, so that the answer lists
    every error of the body at once; plugins' rules, which need a valid record, run only once both pass.
    """
    cleaned = {key: value for key, value in payload.items() if key not in kind.read_only_fields}
    errors: list[dict[str, str]] = []
    data: BaseModel | None = None
    try:
        # Strict JSON validation: the published schema says `"lon": number`, so "2.35" (a string) is refused
        # rather than silently coerced; JSON strings still carry dates, UUIDs and enum values.
        data = kind.data_model.model_validate_json(json.dumps(_integral_floats_as_ints(cleaned)), strict=True)
    except ValidationError as exc:
        errors = field_errors(exc)
    if kind.name == "activity":
        service_errors, details = service_type_errors(cleaned, plugins.registry, errors)
        errors.extend(service_errors)
        if isinstance(data, ActivityData) and details is not None:
            data.details = details
    indicators = cleaned.get("indicators")
    if kind.data_model is PeriodReportData and isinstance(indicators, dict):
        reported = {error["pointer"] for error in errors}
        errors.extend(
            {
                "pointer": pointer,
                "detail": f"unknown indicator '{key}' (see GET /api/v1/indicators)",
                "code": "unknown_indicator",
            }
            for key in sorted(set(indicators) - set(plugins.registry.indicators))
            if (pointer := json_pointer(("indicators", key))) not in reported
        )
    if data is not None:
        errors.extend(retired_commune_errors(data.model_dump(mode="json"), previous))
    if isinstance(data, PeriodReportData):
        errors.extend(error.as_problem_error() for error in value_errors(plugins.registry, data.indicators))
    if errors or data is None:
        raise validation_problem(errors)
    rejections = plugins.validate_record(kind.name, data.model_dump(mode="json"), previous)
    if rejections:
        raise validation_problem(
            [{"pointer": error.pointer, "detail": error.detail, "code": "plugin_rule"} for error in rejections]
        )
    return data


def retired_commune_errors(document: dict[str, Any], previous: dict[str, Any] | None) -> list[dict[str, str]]:
    """Commune codes retired since 2019 that a local write would store: refused, with their replacement.

    A replica keeps the code its origin wrote (the models accept it, with a logged warning), and so does a record
    written before the merger: a code the previous version already had at the same place is kept.
    """
    errors = []
    for pointer, code in _communes(document):
        detail = retired_commune_detail(code)
        if detail is not None and (previous is None or dict(_communes(previous)).get(pointer) != code):
            errors.append({"pointer": pointer, "detail": detail, "code": "retired_commune"})
    return errors


def _communes(document: dict[str, Any], pointer: str = "") -> list[tuple[str, str]]:
    """(JSON Pointer, code) of every `commune` member of a record document (the profile's, each place's)."""
    found = []
    for key, value in document.items():
        if key == "commune" and isinstance(value, str):
            found.append((f"{pointer}/commune", value))
        elif isinstance(value, dict):
            found.extend(_communes(value, f"{pointer}/{key}"))
    return found


def service_type_errors(
    payload: dict[str, Any], registry: Registry, found: list[dict[str, str]]
) -> tuple[list[dict[str, str]], dict[str, Any] | None]:
    """An activity body's service type, category and `details` errors (those the schema did not already report
    in `found`), and the validated details when they are valid."""
    reported = {error["pointer"] for error in found}
    key, category, details = payload.get("service_type"), payload.get("category"), payload.get("details", {})
    if not isinstance(key, str) or "/service_type" in reported:
        return [], None
    service_type = registry.service_types.get(key)
    if service_type is None:
        known = ", ".join(sorted(registry.service_types)) or "none are registered"
        return [
            {
                "pointer": "/service_type",
                "detail": f"unknown service type '{key}' (known: {known})",
                "code": "unknown_service_type",
            }
        ], None
    errors = []
    if isinstance(category, str) and "/category" not in reported and service_type.category != category:
        errors.append(
            {
                "pointer": "/category",
                "detail": f"service type '{key}' belongs to category '{service_type.category}', not '{category}'",
                "code": "category_mismatch",
            }
        )
    if not isinstance(details, dict) or "/details" in reported:
        return errors, None
    try:
        validated = service_type.details_model.model_validate_json(
            json.dumps(_integral_floats_as_ints(details)), strict=True
        )
    except ValidationError as exc:
        return [*errors, *field_errors(exc, ("details",))], None
    return errors, validated.model_dump(mode="json")


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
    current = await request.app[appkeys.READER].get(kind, record_id, request.app[appkeys.STORE].node_id)
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
