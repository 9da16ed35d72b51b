"""The fast path for the live activities of feed pages: msgspec checks them and the origin's bytes are stored as sent.

Why: validating a page with the pydantic models and writing each record's canonical body again was most of a
pull's CPU (docs/performance.md: 15 and 4.5 ms per page of 1,000 activities, against 4.2 and 0.9 with msgspec).

Why it accepts nothing the models would refuse or store differently: a record takes this path only if msgspec
accepts it against structs that mirror the wire models field for field (same types, ranges, lengths and
enumerations, their patterns or checks that imply them; tests/protocol/test_fastpage.py fails when a model gains a
field its mirror lacks), its payload is already byte for byte msgspec's encoding of what was decoded (so nothing
was left out, reordered, escaped or formatted otherwise), and every rule of the models that would change a value
is an identity on it: strings already stripped, identifiers already normalised, department and region present
and equal to those of the commune. Any other record (a tombstone, another kind, a value the models would change)
is left to the models, one by one (apply.page_rows); a page this path cannot read at all, or of which the models
refuse any record, goes through the models as a whole, which decide and word the errors exactly as before.

The stored body is then the origin's own bytes. They are the models' canonical JSON whenever the origin wrote them
with the models, as this project's nodes do; msgspec spells a few numbers otherwise (1e16 where pydantic writes
1e+16), so a body written by another implementation may keep such a spelling: the same JSON values either way.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, TypeAlias

import msgspec
from msgspec import Meta, Struct

from federation.schema.identifiers import normalize_siret, qpv_errors
from federation.schema.records import MAX_VERSION, ActivityStatus
from federation.schema.types import (
    KEY_PATTERN,
    NODE_ID_PATTERN,
    Category,
    PartnerKind,
    department_and_region,
    insee_commune,
    qpv_code,
)
from federation.storage.mapping import replica_activity_values
from federation.storage.upsert import Row

# Patterns cost msgspec about 0.6 µs each per record (a Python regular expression), more than the rest of a field:
# those that other checks here already imply are left out. An origin must equal the sender, whose id is checked
# against NODE_ID_PATTERN once per page. ShortText's not-blank pattern holds for any text that strip() leaves
# unchanged and that is not empty (its first character is then no white space, separators included). Service
# types repeat: each distinct one is matched once per page.
_ShortText = Annotated[str, Meta(min_length=1, max_length=200)]
_NODE_ID = re.compile(NODE_ID_PATTERN)
_KEY = re.compile(KEY_PATTERN)
_LongText = Annotated[str, Meta(max_length=20_000)]
_AwareDatetime = Annotated[dt.datetime, Meta(tz=True)]
# A record id must be a UUID as the models write it (lower case, hyphens): kept as text, which the row stores,
# rather than parsed and written again; any other spelling the models accept is left to them. Matched here
# rather than as a msgspec pattern: 0.2 µs against 0.6.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
if TYPE_CHECKING:  # to mypy, the values are text
    _CategoryValue: TypeAlias = str
    _StatusValue: TypeAlias = str
    _PartnerKindValue: TypeAlias = str
else:  # Literals of the enumerations' values, built from them: a new value is never refused here only
    _CategoryValue = Literal[tuple(member.value for member in Category)]
    _StatusValue = Literal[tuple(member.value for member in ActivityStatus)]
    _PartnerKindValue = Literal[tuple(member.value for member in PartnerKind)]


class _GeoPoint(Struct, forbid_unknown_fields=True):
    lat: Annotated[float, Meta(ge=-90, le=90)]
    lon: Annotated[float, Meta(ge=-180, le=180)]


class _Place(Struct, forbid_unknown_fields=True):
    commune: str | None = None
    department: str | None = None
    region: str | None = None
    qpv: Annotated[list[str], Meta(max_length=50)] = []
    address: Annotated[str, Meta(max_length=300)] | None = None
    point: _GeoPoint | None = None


class _Partner(Struct, forbid_unknown_fields=True):
    name: _ShortText
    kind: _PartnerKindValue = PartnerKind.OTHER.value
    siret: str | None = None


class _Activity(Struct, forbid_unknown_fields=True, kw_only=True):
    """federation.schema.records.Activity, fields in its order (the order of its canonical JSON); keyword-only so
    that required fields may follow optional ones, as in the model."""

    origin: str
    id: str
    version: Annotated[int, Meta(ge=1, le=MAX_VERSION)]
    updated_at: _AwareDatetime
    deleted: bool = False
    category: _CategoryValue
    service_type: str
    title: _ShortText
    description: _LongText = ""
    status: _StatusValue = ActivityStatus.ACTIVE.value
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    place: _Place = msgspec.field(default_factory=_Place)
    partners: Annotated[list[_Partner], Meta(max_length=100)] = []
    inhabitants_involved: Annotated[int, Meta(ge=0, le=1_000_000)] | None = None
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


class _Page(Struct):  # unknown top-level fields are ignored, as by apply.WirePage
    origin: str
    records: list[_Envelope]
    next_cursor: Annotated[str, Meta(max_length=100)]
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
