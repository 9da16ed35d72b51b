"""Request plumbing shared by API handlers: bearer auth, JSON bodies, conditional requests, JSON responses."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from federation import appkeys
from federation.problems import Problem, validation_problem
from federation.record_rules import retired_commune_errors, service_type_errors, validate_record_data
from federation.responses import JSON_CONTENT_TYPE
from federation.storage.tokens import Actor, verify_token

__all__ = ["read_json_object", "require_token", "retired_commune_errors", "service_type_errors", "validate_record_data"]

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
