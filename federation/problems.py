"""RFC 9457 problem details: the error type raised by handlers and the middleware that renders every error."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, Protocol

from aiohttp import web
from pydantic import ValidationError

from federation.explain import VALIDATION_TITLE, explain, invalid_fields, preferred_language

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:regies:problem:"
# A body with thousands of invalid fields (unknown `details` keys) got an answer five times its size: the first
# ones are listed, and `errors_not_listed` says how many more there are.
MAX_LISTED_ERRORS = 100
log = logging.getLogger(__name__)


class GetText(Protocol):
    def gettext(self, message: str) -> str: ...

    def ngettext(self, singular: str, plural: str, count: int) -> str: ...


# The catalogues problems are translated with, by language (English, the language of the code, needs none); the
# app factory sets them from the web interface's catalogues.
PROBLEM_TRANSLATIONS = web.AppKey("problem_translations", Mapping[str, GetText])


class Problem(Exception):
    """An error answer: status, a stable type slug, a human title/detail and optional field errors."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: Sequence[dict[str, str]] = (),
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title or HTTPStatus(status).phrase
        self.errors = list(errors)
        self.headers = headers or {}
        self.extra = extra or {}

    def to_response(self, instance: str | None = None) -> web.Response:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.slug if self.slug else "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors[:MAX_LISTED_ERRORS]
            if len(self.errors) > MAX_LISTED_ERRORS:
                body["errors_not_listed"] = len(self.errors) - MAX_LISTED_ERRORS
        body.update(self.extra)
        try:
            encoded = json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            # A detail quoting undecodable client input (a header's lone surrogates) is escaped, not a 500.
            encoded = json.dumps(body).encode("ascii")
        return web.Response(
            status=self.status,
            body=encoded,
            content_type=PROBLEM_CONTENT_TYPE,
            headers=self.headers,
        )


def json_pointer(location: Iterable[int | str]) -> str:
    """RFC 6901 pointer for a pydantic error location."""
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in location]
    return "/" + "/".join(parts) if parts else ""


def field_errors(exc: ValidationError, prefix: Sequence[int | str] = ()) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors(include_url=False):
        location = [*prefix, *error["loc"]]
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        errors.append({"pointer": json_pointer(location), "detail": message, "code": error["type"]})
    return errors


def invalid_query(name: str, message: str) -> Problem:
    """400 for query parameter `name`: the detail names it, `errors` points at it (`/<name>`)."""
    return Problem(
        400,
        f"query parameter '{name}' {message}",
        slug="invalid-query",
        errors=[{"pointer": f"/{name}", "detail": message, "code": "invalid_query"}],
    )


def validation_problem(errors: list[dict[str, str]]) -> Problem:
    count = len(errors)
    return Problem(
        422,
        invalid_fields(count, lambda singular, plural, n: singular if n == 1 else plural),
        slug="validation",
        title=VALIDATION_TITLE,
        errors=errors,
    )


def translated(problem: Problem, catalogue: GetText) -> Problem:
    """A validation problem with its title, detail and field errors in the catalogue's language."""
    if problem.slug != "validation":
        return problem
    detail = invalid_fields(len(problem.errors), catalogue.ngettext)
    listed, rest = problem.errors[:MAX_LISTED_ERRORS], problem.errors[MAX_LISTED_ERRORS:]
    errors = [{**error, "detail": explain(error, catalogue.gettext)} for error in listed] + rest
    return Problem(
        problem.status,
        detail,
        slug=problem.slug,
        title=catalogue.gettext(problem.title),
        errors=errors,
        headers=problem.headers,
        extra=problem.extra,
    )


def _in_language(request: web.Request, problem: Problem) -> Problem:
    """`problem` in the language the request prefers (Accept-Language), when the node has a catalogue for it."""
    catalogues = request.config_dict.get(PROBLEM_TRANSLATIONS)
    header = request.headers.get("Accept-Language")
    if not catalogues or not header:
        return problem
    language = preferred_language(header, ["en", *catalogues])
    catalogue = catalogues.get(language or "en")
    return problem if catalogue is None or language == "en" else translated(problem, catalogue)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render Problem, aiohttp HTTP errors and unexpected exceptions as application/problem+json."""
    try:
        return await handler(request)
    except Problem as problem:
        return _in_language(request, problem).to_response(request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "www-authenticate"}}
        return Problem(exc.status, detail or exc.reason, headers=headers).to_response(request.path)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return Problem(500, "an internal error occurred; the node's log has the details").to_response(request.path)
