"""HTTP handlers for record collections (activities, resources, reports, and the kinds plugins declare with a
collection): list, get, create, replace, delete; their list filters derive from each kind's declaration."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from federation import appkeys
from federation.api.requests import (
    if_match_version,
    not_modified,
    read_json_object,
    require_token,
)
from federation.cursors import decode_b64_cursor
from federation.indicators import parse_period_key
from federation.problems import Problem, invalid_query
from federation.responses import json_response
from federation.schema.geo import arrondissements_of
from federation.schema.identifiers import INSEE_COMMUNE_FORMAT, INSEE_COMMUNE_PATTERN, normalize_insee_commune
from federation.schema.kinds import RecordKind, RecordKinds, field_type
from federation.schema.types import KEY_PATTERN, NODE_ID_PATTERN, Category
from federation.storage.mapping import to_micros
from federation.storage.reader import ListQuery, RecordRow, local_first
from federation.storage.records import (
    RecordError,
    RecordGone,
    RecordNotFound,
    StoredRecord,
    VersionMismatch,
    WriteConflict,
)


@dataclass(frozen=True)
class Filter:
    """A list query parameter: the column it filters and how its value is checked."""

    column: str
    check: Callable[[str], str]
    description: str
    schema: dict[str, Any]
    # The values a checked value stands for, when it stands for more than itself (a city and its arrondissements).
    expand: Callable[[str], tuple[str, ...]] | None = None

    def parameter(self) -> dict[str, Any]:
        """What the OpenAPI document says about this query parameter."""
        return {"description": self.description, "schema": self.schema}


def _enum_check(enum: type[StrEnum]) -> Callable[[str], str]:
    def check(value: str) -> str:
        allowed = [member.value for member in enum]
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return check


def _pattern_check(pattern: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"must be {what}")
        return value

    return check


def _enum_schema(enum: type[StrEnum]) -> dict[str, Any]:
    return {"type": "string", "enum": [member.value for member in enum]}


def _enum_filter(column: str, enum: type[StrEnum], description: str) -> Filter:
    return Filter(column, _enum_check(enum), description, _enum_schema(enum))


_KEY = _pattern_check(KEY_PATTERN, "a service type key")
_ORIGIN = Filter(
    "origin",
    _pattern_check(NODE_ID_PATTERN, "a node id"),
    "Only records from this origin node.",
    {"type": "string", "pattern": NODE_ID_PATTERN},
)


def _commune_and_arrondissements(code: str) -> tuple[str, ...]:
    return (code, *arrondissements_of(code))


_COMMUNE = Filter(
    "commune",
    normalize_insee_commune,
    "INSEE commune code of the place. Format insee-commune: the code must exist in the shipped official list "
    "(current communes and municipal arrondissements, or a code retired since 2019); a postal code is a 400. "
    "Paris (75056), Lyon (69123) and Marseille (13055) also match the records filed under their municipal "
    "arrondissements.",
    {
        "type": "string",
        "pattern": INSEE_COMMUNE_PATTERN,
        "format": INSEE_COMMUNE_FORMAT,
        "examples": ["93048", "2A004"],
    },
    expand=_commune_and_arrondissements,
)
# Years a period may name (Period: 2000–2100); that a survey period ends after it starts is said in prose.
_YEAR = "(20[0-9]{2}|2100)"
PERIOD_KEY_PATTERN = f"^{_YEAR}(-Q[1-4]|-{_YEAR})?$"


def _period_check(value: str) -> str:
    # The pattern alone let an inverted survey period (2025-2023) through, to an empty page; the hub said 400.
    return parse_period_key(value).key or value


# The filter columns whose meaning the core fixes, whatever kind fills them: their checks and descriptions.
_COLUMN_FILTERS: dict[str, Filter] = {
    "category": _enum_filter("category", Category, "Field of action."),
    "service_type": Filter("service_type", _KEY, "Service type key.", {"type": "string", "pattern": KEY_PATTERN}),
    "commune": _COMMUNE,
    "period": Filter(
        "period",
        _period_check,
        "Period: 2025, 2025-Q3 or 2023-2025 (a survey period ends after it starts).",
        {"type": "string", "pattern": PERIOD_KEY_PATTERN},
    ),
}
# What a column of another meaning may hold (storage.tables: the filter columns are at most 64 characters).
_TEXT_VALUE = r"^[^\x00-\x1f]{1,64}$"


def list_filters(kind: RecordKind) -> dict[str, Filter]:
    """The list filters of a kind's collection, by query parameter, from its declaration (RecordKind.filters), then
    `origin`: a column of fixed meaning is checked as the core says, an enumeration against its values, any other
    value as text."""
    filters: dict[str, Filter] = {}
    for kind_filter in kind.filters:
        if kind_filter.parameter is None:
            continue
        spec = _COLUMN_FILTERS.get(kind_filter.column)
        if spec is None:
            value_type = field_type(kind.record_model, kind_filter.field)
            if isinstance(value_type, type) and issubclass(value_type, StrEnum):
                spec = _enum_filter(kind_filter.column, value_type, kind_filter.description)
            else:
                check = _pattern_check(_TEXT_VALUE, "1 to 64 characters")
                schema = {"type": "string", "pattern": _TEXT_VALUE}
                spec = Filter(kind_filter.column, check, kind_filter.description, schema)
        filters[kind_filter.parameter] = spec
    filters["origin"] = _ORIGIN
    return filters


PAGING_PARAMS = ("limit", "cursor", "updated_since")
# A list cursor names the last row served: any such value is a valid place to resume, so the published
# pattern says exactly which cursors the API accepts. 18 digits stay within a 64-bit row id.
CURSOR_PATTERN = r"^r[0-9]{1,18}$"


def filter_parameters(kinds: Iterable[RecordKind]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each collection's list filters as the OpenAPI document describes them, by kind name."""
    return {
        kind.name: {name: spec.parameter() for name, spec in list_filters(kind).items()}
        for kind in kinds
        if kind.collection is not None and not kind.one_per_origin
    }


def encode_cursor(rid: int) -> str:
    return f"r{rid}"


def decode_cursor(cursor: str) -> int:
    if re.fullmatch(CURSOR_PATTERN, cursor) is not None:
        return int(cursor[1:])
    try:  # cursors never expire: the base64 form ("r:<row id>") handed out by earlier versions still works
        return decode_b64_cursor(cursor, "r")
    except ValueError as exc:
        raise invalid_query("cursor", "is not a cursor returned by this API") from exc


_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def parse_updated_since(value: str) -> int:
    """Microseconds since the epoch of an RFC 3339 date-time (any fraction length, leap second, z or Z)."""
    # A "+" in a query string decodes to a space: "…T12:00:00 01:00" means "+01:00".
    match = _RFC3339.fullmatch(re.sub(r" ([0-9]{2}:[0-9]{2})$", r"+\1", value.strip()))
    if match is None:
        if re.fullmatch(r"[0-9T:.\- ]+", value) and "T" in value:
            raise invalid_query("updated_since", "needs a time zone (e.g. Z or +01:00)")
        raise invalid_query("updated_since", "must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z")
    offset = match["offset"].upper().replace("Z", "+00:00")
    second = min(int(match["second"]), 59)  # a leap second (:60) counts as the last second of its minute
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    try:
        moment = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}:{second:02d}.{fraction}{offset}")
    except ValueError as exc:
        raise invalid_query("updated_since", f"is not a valid date-time: {exc}") from exc
    return to_micros(moment)


class RecordCollection:
    """Handlers of one collection, e.g. /api/v1/activities."""

    def __init__(self, kind: RecordKind) -> None:
        self.kind = kind
        self.filters = list_filters(kind)
        self.base_path = f"/api/v1/{kind.collection}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(self.base_path, self.list, name=f"{self.kind.collection}-list", allow_head=False)
        app.router.add_post(self.base_path, self.create)
        item = self.base_path + "/{id}"
        app.router.add_get(item, self.get, name=f"{self.kind.collection}-item", allow_head=False)
        app.router.add_put(item, self.replace)
        app.router.add_delete(item, self.delete)

    def list_query(self, request: web.Request, paging: bool = True) -> ListQuery:
        """The list query a request asks for; 400 on unknown parameters or invalid values."""
        settings = request.app[appkeys.SETTINGS]
        params = request.query
        allowed_extra = set(PAGING_PARAMS) if paging else {"updated_since", "format"}
        unknown = sorted(set(params) - set(self.filters) - allowed_extra)
        if unknown:
            allowed = ", ".join([*self.filters, *sorted(allowed_extra)])
            raise invalid_query(unknown[0], f"is not supported here (allowed: {allowed})")
        equals: dict[str, str | tuple[str, ...]] = {}
        for name, spec in self.filters.items():
            if name in params:
                try:
                    value = spec.check(params[name])
                except ValueError as exc:
                    raise invalid_query(name, str(exc)) from exc
                expanded = spec.expand(value) if spec.expand else (value,)
                equals[spec.column] = expanded if len(expanded) > 1 else value
        limit = settings.api.default_page_size
        if "limit" in params:
            raw = params["limit"]
            if not raw.isdigit() or not 1 <= int(raw) <= settings.api.max_page_size:
                raise invalid_query("limit", f"must be an integer from 1 to {settings.api.max_page_size}")
            limit = int(raw)
        return ListQuery(
            kind=self.kind.name,
            after_rid=decode_cursor(params["cursor"]) if "cursor" in params else 0,
            limit=limit,
            equals=equals,
            updated_since_us=parse_updated_since(params["updated_since"]) if "updated_since" in params else None,
        )

    async def list(self, request: web.Request) -> web.StreamResponse:
        if self.kind.private:  # only its audience sees it: reports the hub, a record addressed to a node that node
            await require_token(request)
        query = self.list_query(request)
        rows = await request.app[appkeys.READER].page(query)
        has_more = len(rows) > query.limit
        rows = rows[: query.limit]
        next_cursor = encode_cursor(rows[-1][0]) if has_more else None
        # Stored bodies are already JSON: splice them in rather than decode and re-encode.
        body = (
            '{"items":['
            + ",".join(row[1] for row in rows)
            + f'],"next_cursor":{json.dumps(next_cursor)},"limit":{query.limit}}}'
        ).encode("utf-8")
        etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        if not_modified(request, etag):
            return web.Response(status=304, headers={"ETag": etag})
        headers = {}
        if next_cursor:
            query_args = {**request.query, "cursor": next_cursor}
            headers["Link"] = f'<{request.path}?{urlencode(query_args)}>; rel="next"'
        return json_response(body, etag=etag, headers=headers)

    async def get(self, request: web.Request) -> web.StreamResponse:
        if self.kind.private:
            await require_token(request)
        record_id = _record_id(request)
        row = await self._addressed(request, record_id)
        if row is None:
            raise Problem(404, f"no {self.kind.name} with id {record_id}", slug="not-found")
        if row.deleted:
            raise Problem(410, f"{self.kind.name} {record_id} was deleted", slug="gone")
        etag = f'"{record_id}.{row.version}"'
        if not_modified(request, etag):
            return web.Response(status=304, headers={"ETag": etag})
        return json_response(row.body, etag=etag)

    async def _addressed(self, request: web.Request, record_id: str) -> RecordRow | None:
        """The record a path names: `(origin, id)` with `?origin=`; without it, this node's own record with that id,
        else the one other origin's record with it (409 if several origins hold one: the client names which)."""
        unknown = sorted(set(request.query) - {"origin"})
        if unknown:
            raise invalid_query(unknown[0], "is not supported here (allowed: origin)")
        reader = request.app[appkeys.READER]
        if "origin" in request.query:
            try:
                origin = _ORIGIN.check(request.query["origin"])
            except ValueError as exc:
                raise invalid_query("origin", str(exc)) from exc
            return await reader.get(self.kind.name, record_id, origin)
        found = await reader.find(self.kind.name, record_id)
        node_id = request.app[appkeys.STORE].node_id
        if len(found) > 1 and all(row.origin != node_id for row in found):
            origins = ", ".join(row.origin for row in found)
            raise Problem(
                409,
                f"several origins hold a {self.kind.name} with id {record_id} ({origins}): name one with ?origin=",
                slug="ambiguous-id",
                errors=[{"pointer": "/origin", "detail": f"one of {origins}", "code": "ambiguous_id"}],
            )
        return local_first(found, node_id)

    async def create(self, request: web.Request) -> web.StreamResponse:
        actor = await require_token(request)
        payload = await read_json_object(request)
        stored = await write_or_problem(request.app[appkeys.STORE].create(self.kind.name, payload, actor.name))
        location = f"{self.base_path}/{stored.id}"
        return json_response(stored.body, status=201, etag=stored.etag, headers={"Location": location})

    async def replace(self, request: web.Request) -> web.StreamResponse:
        actor = await require_token(request)
        record_id = _record_id(request)
        payload = await read_json_object(request)
        store = request.app[appkeys.STORE]
        # If-Match is read once the body is known to be valid: an invalid body is a 4xx whatever If-Match says.
        if_match = functools.partial(if_match_version, request, self.kind.name, record_id)
        stored = await write_or_problem(
            store.replace(self.kind.name, record_id, payload, actor.name, if_match=if_match)
        )
        return json_response(stored.body, etag=stored.etag)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        await require_token(request)
        record_id = _record_id(request)
        if_match = await if_match_version(request, self.kind.name, record_id)
        await write_or_problem(request.app[appkeys.STORE].delete(self.kind.name, record_id, if_match=if_match))
        return web.Response(status=204)


def _record_id(request: web.Request) -> str:
    from uuid import UUID

    raw = request.match_info["id"]
    try:
        return str(UUID(raw))
    except ValueError as exc:
        raise Problem(404, f"'{raw}' is not a record id (a UUID)", slug="not-found") from exc


async def write_or_problem(operation: Any) -> StoredRecord:
    """Await a store write and map its domain errors to problems."""
    try:
        result: StoredRecord = await operation
    except RecordNotFound as exc:
        raise Problem(404, str(exc), slug="not-found") from exc
    except RecordGone as exc:
        raise Problem(410, str(exc), slug="gone") from exc
    except VersionMismatch as exc:
        raise Problem(412, str(exc), slug="precondition-failed") from exc
    except WriteConflict as exc:
        raise Problem(409, str(exc), slug="conflict") from exc
    except RecordError as exc:
        raise Problem(400, str(exc)) from exc
    return result


def collections(kinds: RecordKinds) -> list[RecordCollection]:
    """The API collections of a node's record kinds (/api/v1/<collection>), its profile aside (api/node.py)."""
    return [RecordCollection(kind) for kind in kinds.with_collection()]
