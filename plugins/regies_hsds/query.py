"""HSDA's query parameters as this API reads them (paging, flags, ids, dates, search, `format`), and the two shapes
of a listing's answer: a page of JSON, or every item as NDJSON."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from aiohttp import web

from federation.plugin_api import invalid_query, json_response

DEFAULT_PER_PAGE, MAX_PER_PAGE = 50, 500
MAX_PAGE = 1_000_000
MAX_SEARCH = 200
FORMATS = ("json", "ndjson")
NDJSON = "application/x-ndjson"
# The most items one ndjson answer streams (ten pages of the largest size): past it the request is refused before
# anything is mapped or written, since an anonymous client could otherwise make a hub read, map and send every
# member's services at each request. 5,000 holds a hub of about 130 régies with ~40 services each; a larger listing
# is read in pages, or narrowed (modified_after, organization_id, taxonomy_term_id).
MAX_STREAMED = 10 * MAX_PER_PAGE
# NDJSON lines are written in batches: one write per item would cost a drain per service on a hub.
_LINES_PER_WRITE = 200


def whole(query: Mapping[str, str], name: str, default: int, highest: int) -> int:
    raw = query.get(name, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= highest:
        raise invalid_query(name, f"must be a whole number from 1 to {highest}")
    return int(raw)


def flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name, "false")
    if raw not in ("true", "false"):
        raise invalid_query(name, "must be true or false")
    return raw == "true"


def uuid_query(query: Mapping[str, str], name: str) -> str | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return str(UUID(raw))
    except ValueError as exc:
        raise invalid_query(name, "must be a UUID") from exc


def modified_after(query: Mapping[str, str]) -> int | None:
    raw = query.get("modified_after")
    if raw is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.upper())  # RFC 3339 allows a lower-case t and z
    except ValueError as exc:
        raise invalid_query("modified_after", "must be an ISO 8601 date or date and time") from exc
    if moment.tzinfo is None:  # HSDS: dates are UTC unless they say otherwise
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1_000_000)


def search(query: Mapping[str, str]) -> str | None:
    raw = query.get("search")
    if raw is None or not raw.strip():
        return None
    if len(raw) > MAX_SEARCH:
        raise invalid_query("search", f"must be at most {MAX_SEARCH} characters")
    return raw.strip().casefold()


def matches(text: str, *values: Any) -> bool:
    return any(isinstance(value, str) and text in value.casefold() for value in values)


class Listing:
    """What a listing's answer looks like: `format` (json, a page; ndjson, every item without paging) and, for
    json, the page asked for."""

    def __init__(self, query: Mapping[str, str], default_per_page: int = DEFAULT_PER_PAGE) -> None:
        self.format = query.get("format", "json")
        if self.format not in FORMATS:
            raise invalid_query("format", "must be json or ndjson")
        if self.streamed:
            # HSDA: ndjson "streams all the results without pagination"; a page asked of it is a contradiction.
            for name in ("page", "per_page"):
                if name in query:
                    raise invalid_query(name, "cannot be combined with format=ndjson, which has no pages")
        self.page = whole(query, "page", 1, MAX_PAGE)
        self.per_page = whole(query, "per_page", default_per_page, MAX_PER_PAGE)

    @property
    def streamed(self) -> bool:
        return self.format == "ndjson"

    @property
    def offset(self) -> int:
        return 0 if self.streamed else (self.page - 1) * self.per_page

    @property
    def limit(self) -> int | None:
        return None if self.streamed else self.per_page

    @property
    def most(self) -> int | None:
        """The most items the answer may hold (ndjson's bound); None for a page, which `limit` cuts."""
        return MAX_STREAMED if self.streamed else None

    def cut(self, items: Sequence[Any]) -> Sequence[Any]:
        """The items of the asked page (all of them for ndjson, which `bound` keeps few enough) out of every
        matching one."""
        return items if self.streamed else items[self.offset : self.offset + self.per_page]

    def bound(self, total: int) -> None:
        """Refuse (400 naming `format`) an ndjson listing of more than MAX_STREAMED items, `total` matching."""
        if self.streamed and total > MAX_STREAMED:
            raise invalid_query(
                "format",
                f"cannot be ndjson for more than {MAX_STREAMED} items, and more match: read the listing in pages "
                "(format=json, page, per_page) or narrow it (modified_after, organization_id, taxonomy_term_id)",
            )

    async def answer(self, request: web.Request, items: Iterable[Any], total: int) -> web.StreamResponse:
        """A page of `items` (already cut to it) out of `total`; or, for ndjson, every item, one JSON per line (400
        past MAX_STREAMED)."""
        if self.streamed:
            self.bound(total)
            return await _stream(request, items)
        shown = list(items)
        total_pages = math.ceil(total / self.per_page)
        return json_response(
            json.dumps(
                {
                    "total_items": total,
                    "total_pages": total_pages,
                    "page_number": self.page,
                    "size": len(shown),
                    "first_page": self.page == 1,
                    "last_page": self.page >= total_pages,
                    "empty": not shown,
                    "contents": shown,
                },
                ensure_ascii=False,
            )
        )


async def _stream(request: web.Request, items: Iterable[Any]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": f"{NDJSON}; charset=utf-8"})
    await response.prepare(request)
    lines: list[str] = []
    for item in items:
        lines.append(json.dumps(item, ensure_ascii=False) + "\n")
        if len(lines) >= _LINES_PER_WRITE:
            await response.write("".join(lines).encode("utf-8"))
            lines.clear()
    if lines:
        await response.write("".join(lines).encode("utf-8"))
    await response.write_eof()
    return response
