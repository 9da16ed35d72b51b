"""The fast path for the live activities of feed pages: msgspec checks them and the origin's bytes are stored as sent.

Why: validating a page with the pydantic models and writing each record's canonical body again was most of a
pull's CPU (docs/performance.md: about 156,000 CPU instructions per record, against 76,000 on this path).

Why it accepts nothing the models would refuse or store differently: a record takes this path only if msgspec
accepts it against structs that mirror the wire models field for field (same types; ranges, lengths, enumerations
and patterns read from the models' JSON Schema at import, a few patterns replaced by checks that imply them;
tests/protocol/test_fastpage.py fails when a model gains a field or a bound its mirror lacks), its payload is
already byte for byte msgspec's encoding of what was decoded (so nothing was left out, reordered, escaped or
formatted otherwise), and every rule of the models that would change a value is an identity on it: strings already
stripped, identifiers already normalised, department and region present and equal to those of the commune. Any other
record (a tombstone, another kind, a value the models would change) is left to the models, one by one
(apply.page_rows); a page this path cannot read at all, or of which the models refuse any record, goes through the
models as a whole, which decide and word the errors exactly as before.

The stored body is then the origin's own bytes. They are the models' canonical JSON whenever the origin wrote them
with the models, as this project's nodes do; msgspec spells a few numbers otherwise (1e16 where pydantic writes
1e+16), so a body written by another implementation may keep such a spelling: the same JSON values either way.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, TypeAlias

import msgspec
from msgspec import Meta, Struct
from pydantic import BaseModel, TypeAdapter

from federation.schema.identifiers import INSEE_COMMUNE_PATTERN, QPV_PATTERN, normalize_siret, qpv_errors
from federation.schema.records import Activity, ActivityStatus
from federation.schema.types import (
    KEY_PATTERN,
    NODE_ID_PATTERN,
    NOT_BLANK_PATTERN,
    GeoPoint,
    Partner,
    PartnerKind,
    Place,
    department_and_region,
    insee_commune,
    qpv_code,
)
from federation.storage.mapping import replica_activity_values
from federation.storage.upsert import Row

# The structs' bounds (lengths, ranges, patterns, enumerations) are read from the models' JSON Schema when this
# module is imported, never written here: a bound tightened in the models is the fast path's at once (what it
# no longer vouches for goes to the models), and one it cannot express stops the import naming the field.
_BOUNDS = {
    "minLength": "min_length",
    "maxLength": "max_length",
    "minItems": "min_length",
    "maxItems": "max_length",
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "multipleOf": "multiple_of",
    "pattern": "pattern",
}
# What a field's schema may say besides bounds: documentation, and the type, which the struct declares itself
# (tests/protocol/test_fastpage.py compares both schemas).
_NOT_BOUNDS = frozenset(
    {"title", "description", "examples", "default", "type", "format", "items", "additionalProperties", "enum"}
)


@cache
def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def field_schema(model: type[BaseModel], field: str, *, items: bool = False) -> dict[str, Any]:
    """The JSON Schema of a model's field as the models publish it (of its items with `items`), references
    resolved and an optional field's null choice left out."""
    schema = _model_schema(model)
    definitions = schema.get("$defs", {})
    found: dict[str, Any] = schema["properties"][field]
    if items:
        found = found["items"]
    choices = [choice for choice in found.get("anyOf", ()) if choice != {"type": "null"}]
    if len(choices) == 1:
        found = {**{key: value for key, value in found.items() if key != "anyOf"}, **choices[0]}
    if "$ref" in found:
        name = found["$ref"].removeprefix("#/$defs/")
        found = {**definitions[name], **{key: value for key, value in found.items() if key != "$ref"}}
    return found


def bounds(
    model: type[BaseModel],
    field: str,
    *,
    items: bool = False,
    checked_apart: str | None = None,
    unique_checked_apart: bool = False,
) -> Meta:
    """The bounds the models set on a field (on its items with `items`), as msgspec checks them. `checked_apart`
    is a pattern this module checks otherwise (once per page or per distinct value, or by a check that implies
    it: a msgspec pattern costs about 0.6 µs per record); any other pattern the models set is checked here.
    `unique_checked_apart`: the list's `uniqueItems`, which msgspec cannot express, is checked by this module's
    own code (QPV codes: `qpv_errors`)."""
    schema = field_schema(model, field, items=items)
    if unique_checked_apart:
        schema = {key: value for key, value in schema.items() if key != "uniqueItems"}
    return _meta(schema, f"{model.__name__}.{field}", checked_apart)


def _meta(schema: dict[str, Any], where: str, checked_apart: str | None = None) -> Meta:
    kwargs: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _BOUNDS:
            if not (key == "pattern" and value == checked_apart and _implied(value, schema)):
                kwargs[_BOUNDS[key]] = value
        elif key not in _NOT_BOUNDS:
            raise TypeError(f"{where}: the fast path cannot mirror the models' {key!r}")
    return Meta(**kwargs)


def _implied(pattern: str, schema: dict[str, Any]) -> bool:
    # Stripped text matches the not-blank pattern only if it is not empty: the models must also require that.
    return pattern != NOT_BLANK_PATTERN or schema.get("minLength", 0) >= 1


def enumeration(model: type[BaseModel], field: str) -> tuple[str, ...]:
    """The values the models allow in an enumerated field."""
    return tuple(field_schema(model, field)["enum"])


_NODE_ID = re.compile(NODE_ID_PATTERN)
_KEY = re.compile(KEY_PATTERN)
# A record id must be a UUID as the models write it (lower case, hyphens): kept as text, which the row stores,
# rather than parsed and written again; any other spelling the models accept is left to them. Matched here
# rather than as a msgspec pattern: 0.2 µs against 0.6.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Patterns checked apart: an origin must equal the sender, whose id is matched against NODE_ID_PATTERN once per
# page; each distinct service type is matched once per page; a short text's not-blank pattern holds for any
# text that strip() leaves unchanged and that is not empty (its first character is then no white space,
# separators included) and _unchanged_by_the_models checks both; communes, QPV codes and SIRETs are checked by
# the models' own normalisers, which refuse what their patterns refuse.
_SIRET_PATTERN = "^[0-9]{14}$"  # what normalize_siret implies: another pattern in the models is checked here
_AwareDatetime = Annotated[dt.datetime, Meta(tz=True)]
if TYPE_CHECKING:  # to mypy, the values are text
    _CategoryValue: TypeAlias = str
    _StatusValue: TypeAlias = str
    _PartnerKindValue: TypeAlias = str
else:  # Literals of the values the models' schema allows
    _CategoryValue = Literal[enumeration(Activity, "category")]
    _StatusValue = Literal[enumeration(Activity, "status")]
    _PartnerKindValue = Literal[enumeration(Partner, "kind")]


class _GeoPoint(Struct, forbid_unknown_fields=True):
    lat: Annotated[float, bounds(GeoPoint, "lat")]
    lon: Annotated[float, bounds(GeoPoint, "lon")]


class _Place(Struct, forbid_unknown_fields=True):
    commune: Annotated[str, bounds(Place, "commune", checked_apart=INSEE_COMMUNE_PATTERN)] | None = None
    department: Annotated[str, bounds(Place, "department")] | None = None
    region: Annotated[str, bounds(Place, "region")] | None = None
    qpv: Annotated[
        list[Annotated[str, bounds(Place, "qpv", items=True, checked_apart=QPV_PATTERN)]],
        bounds(Place, "qpv", unique_checked_apart=True),
    ] = []
    address: Annotated[str, bounds(Place, "address")] | None = None
    point: _GeoPoint | None = None


class _Partner(Struct, forbid_unknown_fields=True):
    name: Annotated[str, bounds(Partner, "name", checked_apart=NOT_BLANK_PATTERN)]
    kind: _PartnerKindValue = PartnerKind.OTHER.value
    siret: Annotated[str, bounds(Partner, "siret", checked_apart=_SIRET_PATTERN)] | None = None


class _Activity(Struct, forbid_unknown_fields=True, kw_only=True):
    """federation.schema.records.Activity, fields in its order (the order of its canonical JSON); keyword-only so
    that required fields may follow optional ones, as in the model."""

    origin: Annotated[str, bounds(Activity, "origin", checked_apart=NODE_ID_PATTERN)]
    id: str
    version: Annotated[int, bounds(Activity, "version")]
    updated_at: _AwareDatetime
    deleted: bool = False
    category: _CategoryValue
    service_type: Annotated[str, bounds(Activity, "service_type", checked_apart=KEY_PATTERN)]
    title: Annotated[str, bounds(Activity, "title", checked_apart=NOT_BLANK_PATTERN)]
    description: Annotated[str, bounds(Activity, "description")] = ""
    status: _StatusValue = ActivityStatus.ACTIVE.value
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    place: _Place = msgspec.field(default_factory=_Place)
    partners: Annotated[list[_Partner], bounds(Activity, "partners")] = []
    inhabitants_involved: Annotated[int, bounds(Activity, "inhabitants_involved")] | None = None
    details: dict[str, Any] = {}


class _Envelope(Struct):
    # Text, compared with the payload's canonical text: stricter than the models, which compare values. Members a
    # later minor version adds are ignored, as by the models (apply._WireEnvelope): such a page stays on this path.
    origin: str
    id: str
    kind: str
    version: int
    updated_at: str
    payload: msgspec.Raw
    deleted: bool = False


# A feed cursor (docs/protocol.md §7): at most this many characters, each printable ASCII other than space (what
# a peers' checkpoint column holds, and what a query parameter carries once percent-encoded).
MAX_CURSOR_LENGTH = 1024
CURSOR_PATTERN = r"^[\x21-\x7e]*$"


class _Page(Struct):  # unknown top-level fields are ignored, as by apply.WirePage
    origin: str
    records: list[_Envelope]
    next_cursor: str  # within apply.WirePage's bounds: checked by fast_page_rows
    more: bool = False
    remaining: int = 0


_PAGE = msgspec.json.Decoder(_Page)
_ACTIVITY = msgspec.json.Decoder(_Activity)
_ENCODER = msgspec.json.Encoder()


class _NotVouched(Exception):
    """The record goes through the models."""


class FastPage(NamedTuple):
    """A feed page as this path read it: `rows` in feed order, None where a record is left to the models, which
    `left` lists (its index, and its envelope as JSON)."""

    rows: list[Row | None]
    left: list[tuple[int, bytes]]
    next_cursor: str
    more: bool
    remaining: int


def fast_page_rows(raw: bytes, sender: str) -> FastPage | None:
    """The page's records as rows where this path can vouch for them (see the module's docstring), the others left
    to the models; None if it cannot read the page itself. Ids are not checked for repeats (apply.page_rows does)."""
    if _NODE_ID.fullmatch(sender) is None:
        return None
    try:
        page = _PAGE.decode(raw)
        msgspec.convert(page.next_cursor, _cursor_type())
    except msgspec.DecodeError:  # ValidationError included
        return None
    if page.origin != sender or (page.more and not page.records):
        return None
    rows: list[Row | None] = []
    left: list[tuple[int, bytes]] = []
    service_types: set[str] = set()  # those already matched against KEY_PATTERN
    for envelope in page.records:
        try:
            rows.append(_activity_row(envelope, sender, service_types))
        except (msgspec.DecodeError, _NotVouched):
            # The envelope as read, written again: its payload as sent, its other fields the same values.
            left.append((len(rows), _ENCODER.encode(envelope)))
            rows.append(None)
    return FastPage(rows, left, page.next_cursor, page.more, page.remaining)


@lru_cache(maxsize=1)
def _cursor_type() -> Any:
    from federation.protocol.apply import WirePage  # read at first use: apply imports this module

    # The field's own schema: the page's whole schema holds every record kind's (about 20 ms to build).
    cursor = WirePage.model_fields["next_cursor"]
    schema = TypeAdapter(Annotated[str, cursor]).json_schema()
    return Annotated[str, _meta(schema, "WirePage.next_cursor")]


def _activity_row(envelope: _Envelope, sender: str, service_types: set[str]) -> Row:
    if envelope.kind != "activity" or envelope.deleted or envelope.origin != sender:
        raise _NotVouched
    body = bytes(envelope.payload)
    record = _ACTIVITY.decode(body)
    record_id = record.id
    if (
        _CANONICAL_UUID.fullmatch(record_id) is None
        or record.deleted
        or record.origin != sender
        or envelope.id != record_id
        or envelope.version != record.version
        or _ENCODER.encode(record.updated_at) != f'"{envelope.updated_at}"'.encode()
        or _ENCODER.encode(record) != body
        or not _unchanged_by_the_models(record)
    ):
        raise _NotVouched
    if record.service_type not in service_types:
        if _KEY.fullmatch(record.service_type) is None:
            raise _NotVouched
        service_types.add(record.service_type)
    return replica_activity_values(record, record_id, body)


# Python's strip() removes a superset of what pydantic strips (Unicode White_Space): stricter, never looser. The
# checks below run for every replicated record: C-level calls (str.strip, map, memoised normalisers), few branches.
_strip = str.strip


def _unchanged_by_the_models(record: _Activity) -> bool:
    """Whether every rule of the models that may change a value leaves this record as it is, and every rule the
    structs cannot express holds."""
    title, description, place = record.title, record.description, record.place
    if title != _strip(title) or description != _strip(description):
        return False
    start, end = record.start_date, record.end_date
    if start and end and end < start:
        return False
    commune, address, qpv = place.commune, place.address, place.qpv
    if address is not None and address != _strip(address):
        return False
    try:
        if commune is None:
            if place.department is not None or place.region is not None:
                return False
        elif insee_commune(commune) != commune or (place.department, place.region) != department_and_region(commune):
            return False
        if qpv and (list(map(qpv_code, qpv)) != qpv or qpv_errors(qpv, place.department)):
            return False
        for partner in record.partners:
            name, siret = partner.name, partner.siret
            if name != _strip(name) or (siret is not None and normalize_siret(siret) != siret):
                return False
    except ValueError:  # an invalid identifier: the models refuse it, in their words
        return False
    return True
