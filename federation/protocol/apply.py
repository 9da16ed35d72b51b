"""Applying replicated records: validate a whole page in one pass, then one idempotent upsert that keeps only
newer versions.

Pull and push both end here, in the record service's replica entry point (`apply_rows`), inside the caller's
transaction (which also moves the pull checkpoint or records the inbox batch), so a crash leaves either the whole
batch and its checkpoint, or neither.

Speed matters here (a new node replicates hundreds of thousands of records): a page is parsed and validated by
pydantic straight from the response bytes (no intermediate Python dicts), and the service writes the rows with one
driver-level `executemany` of a fixed upsert statement (a binary COPY on PostgreSQL).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, Union, cast
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    create_model,
)

from federation.protocol.fastpage import CURSOR_PATTERN, MAX_CURSOR_LENGTH, FastPage, fast_page_rows
from federation.schema.kinds import HUB, KIND_NAME_PATTERN, MEMBER, RecordKind, RecordKinds
from federation.schema.records import CORE_KINDS, MAX_VERSION
from federation.schema.types import NodeId
from federation.storage.mapping import replica_tombstone_values, replica_values
from federation.storage.records import ReplicaConflict
from federation.storage.service import StoredDocuments as StoredDocuments  # where plugins have imported it from
from federation.storage.upsert import ONE_PROFILE_KIND, RECORD_COLUMNS, Row

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from federation.storage.service import RecordService

_BODY = RECORD_COLUMNS.index("body")
_ID = RECORD_COLUMNS.index("id")
_KIND = RECORD_COLUMNS.index("kind")
_ORIGIN = RECORD_COLUMNS.index("origin")
_DELETED = RECORD_COLUMNS.index("deleted")


log = logging.getLogger(__name__)


# --- Who may author what (docs/design.md, trust rule 2) ---------------------------------------------------------
#
# Every replicated record is its sender's own (wire_rows, the fast path). On top of that, a kind's declaration says
# which senders may author it (RecordKind.authors): a member authors its profile, activities, resources and
# reports; only the network's hub authors reviews. A receiver knows its hub as the peer registered with the hub role
# (`regies network join`); the hub itself has no such peer, so it accepts hub-only kinds from nobody: its only
# reviews are those it writes.
# The review state of a report is the hub's alone, but a member's report may carry a state the member recorded
# from a real hub review (it sends its report back once the decision is applied): the report is kept, and the hub
# takes its state from its own reviews only (plugins/regies_hub/coordination.py, effective_state).


def check_authors(rows: Sequence[Row], sender_is_hub: bool, kinds: RecordKinds = CORE_KINDS) -> None:
    """BatchRejected (403) if a row's kind may not be authored by its sender (its origin, already checked to be the
    sender), 409 if a page or batch holds two live records of a kind an origin has one of (a profile). Runs on
    every replicated page: a set of the kinds present first, each kind then checked once."""
    role = HUB if sender_is_hub else MEMBER
    present = {row[_KIND] for row in rows}
    for name in present:
        kind = kinds.get(name)
        if kind is None:  # unknown kinds never become rows (skipped_kinds): a row of one is this node's own bug
            raise BatchRejected(422, f"no record kind '{name}' on this node")
        if not kind.may_author(role):
            offender = next(row for row in rows if row[_KIND] == name)
            authors = " and ".join(f"the {author}" if author == HUB else "a member" for author in sorted(kind.authors))
            raise BatchRejected(
                403,
                f"record {offender[_ID]}: a {role} may not author a '{name}' record ({authors} does)",
                "not-author",
            )
        if kind.one_per_origin:
            live = {row[_ID] for row in rows if row[_KIND] == name and not row[_DELETED]}
            if len(live) > 1:
                raise BatchRejected(
                    409, f"an origin has one {name} record; this batch holds {len(live)}: {sorted(live)}", "conflict"
                )


class BatchRejected(Exception):
    """The batch as a whole is refused (nothing is stored); `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, slug: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        # The problem type an HTTP answer names; by default from the status (403: spoofed-origin, else validation).
        self.slug = slug or ("spoofed-origin" if status == 403 else "validation")

    def __reduce__(self) -> tuple[type[BatchRejected], tuple[int, str, str]]:
        # Raised in worker processes too (federation.protocol.batchparser): pickled with its status and slug.
        return (BatchRejected, (self.status, str(self), self.slug))


class _WireEnvelope(BaseModel):
    # Tolerant reader (docs/protocol.md §6.1, §14): a member a later minor version adds to the envelope is ignored,
    # not stored; the members known here are validated strictly.
    model_config = ConfigDict(extra="ignore")

    origin: NodeId
    id: UUID
    version: int = Field(ge=1, le=MAX_VERSION)
    updated_at: AwareDatetime
    deleted: bool = False


class _UnknownKindEnvelope(_WireEnvelope):
    """A record of a kind this node does not know (docs/protocol.md §6.4): its envelope is checked like any other,
    its payload is not read, and the record is skipped."""

    kind: str = Field(pattern=KIND_NAME_PATTERN)
    payload: Any = None


class LeftToThisNode(Exception):
    """A helper process, which knows only the core's kinds, met a kind its node knows: the node parses it itself."""


# One envelope model per record kind, told apart by `kind`, so the payload is validated by the right model in
# the same pass. The payload is the complete record document, envelope fields included (null for tombstones).
# A tombstone's payload is ignored (§6.3), so a payload the model refuses is kept as sent rather than failing the
# page at once: wire_rows drops it for a tombstone and, for a live record, validates it again to word the refusal.
# Left to right, the model is tried first: a valid payload costs what it cost before.
_IgnoredPayload = Annotated[Any, WithJsonSchema({"description": "A tombstone's payload: ignored."})]


def _wire_record(kinds: RecordKinds) -> Any:
    envelopes = tuple(
        create_model(
            f"{kind.record_model.__name__}Envelope",
            __base__=_WireEnvelope,
            kind=(Literal[kind.name], ...),  # type: ignore[arg-type]
            payload=(  # type: ignore[arg-type]
                Optional[Union[kind.record_model, _IgnoredPayload]],  # noqa: UP007, UP045
                Field(None, union_mode="left_to_right"),
            ),
        )
        for kind in kinds.values()
    )
    return Annotated[Union[envelopes], Field(discriminator="kind")]  # noqa: UP007


WireRecord = _wire_record(CORE_KINDS)


class WirePage(BaseModel):
    """A page of a peer's change feed (GET /federation/v1/changes)."""

    model_config = ConfigDict(extra="ignore")

    origin: NodeId
    records: list[WireRecord]  # type: ignore[valid-type]
    next_cursor: str = Field(max_length=MAX_CURSOR_LENGTH, pattern=CURSOR_PATTERN)
    more: bool = False
    remaining: int = 0


class WireBatch(BaseModel):
    """A batch pushed to the inbox (POST /federation/v1/inbox)."""

    model_config = ConfigDict(extra="forbid")

    origin: NodeId
    # Printable ASCII only: the id is stored as text, and PostgreSQL text cannot hold a NUL (it was a 500).
    batch_id: str = Field(min_length=8, max_length=64, pattern=r"^[\x21-\x7e]+$")
    records: list[WireRecord]  # type: ignore[valid-type]


@dataclass(frozen=True)
class WireModels:
    """The wire models of one set of record kinds: a record, a feed page, an inbox batch."""

    kinds: RecordKinds
    page: type[WirePage]
    batch: type[WireBatch]

    @functools.cached_property
    def record(self) -> TypeAdapter[Any]:
        # Built on first use: pydantic builds a validator for it (milliseconds), and a pull of nothing new needs none.
        return TypeAdapter(self.page.model_fields["records"].annotation.__args__[0])  # type: ignore[union-attr]


@functools.cache
def wire_models(kinds: RecordKinds) -> WireModels:
    """The wire models of `kinds`, built once per set of kinds (the core's are the module's WirePage and WireBatch,
    whose schema the OpenAPI document publishes)."""
    if kinds == CORE_KINDS:
        return WireModels(kinds, WirePage, WireBatch)
    records: Any = (list[_wire_record(kinds)], ...)  # type: ignore[misc]
    page = create_model("WirePage", __base__=WirePage, records=records)
    batch = create_model("WireBatch", __base__=WireBatch, records=records)
    return WireModels(kinds, page, batch)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while batches are parsed and applied.

    Each page or batch creates thousands of acyclic objects that live until it is written: reference counting
    frees them all, but the collector, triggered by the allocation count, would traverse them again and again
    (measured: a fifth of a pull's CPU, half of the parsing time). Cycles created meanwhile are collected
    once the collector is back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    location = "/".join(str(part) for part in first["loc"])
    return f"{exc.error_count()} invalid field(s), first at {location}: {first['msg']}"


def parse_page(raw: bytes, kinds: RecordKinds = CORE_KINDS, also_known: frozenset[str] = frozenset()) -> WirePage:
    """The page; its records of kinds this node does not know are _UnknownKindEnvelope, in their place.
    `also_known`: kinds that a helper process leaves to its node (LeftToThisNode)."""
    models = wire_models(kinds)
    try:
        return models.page.model_validate_json(raw)
    except ValidationError as exc:
        if not _unknown_kinds_in(exc):
            raise BatchRejected(422, f"invalid feed page: {_describe(exc)}") from exc
        page: WirePage = _without_unknown_kinds(raw, models.page, kinds, also_known, "feed page")
        return page


def _unknown_kinds_in(exc: ValidationError) -> bool:
    return any(error["type"] == "union_tag_invalid" for error in exc.errors(include_url=False))


def _without_unknown_kinds(
    raw: bytes, model: type[Any], kinds: RecordKinds, also_known: frozenset[str], what: str
) -> Any:
    """`raw` validated by `model` but for its records of unknown kinds, which are _UnknownKindEnvelope (their
    envelope checked) in their place among the records. Pages and batches of known kinds never come here."""
    document = json.loads(raw)
    records = document.get("records") if isinstance(document, dict) else None
    if not isinstance(records, list):
        raise BatchRejected(422, f"invalid {what}: no records")
    known: list[Any] = []
    unknown: dict[int, _UnknownKindEnvelope] = {}
    for position, record in enumerate(records):
        kind = record.get("kind") if isinstance(record, dict) else None
        if not isinstance(kind, str) or kind in kinds:
            known.append(record)
            continue
        if kind in also_known:
            raise LeftToThisNode(kind)
        try:
            unknown[position] = _UnknownKindEnvelope.model_validate(record)
        except ValidationError as exc:
            raise BatchRejected(422, f"invalid {what}: record {position}: {_describe(exc)}") from exc
    try:
        validated = model.model_validate_json(json.dumps({**document, "records": known}))
    except ValidationError as exc:
        raise BatchRejected(422, f"invalid {what}: {_describe(exc)}") from exc
    in_order = iter(validated.records)
    # Set without validation: the records were validated, each by its own model.
    validated.records = [
        unknown[position] if position in unknown else next(in_order) for position in range(len(records))
    ]
    return validated


@dataclass(frozen=True)
class ParsedPage:
    """A validated feed page as rows, and what the feed says about what follows."""

    rows: list[Row]
    next_cursor: str
    more: bool
    remaining: int


def page_rows(
    raw: bytes, sender: str, kinds: RecordKinds = CORE_KINDS, also_known: frozenset[str] = frozenset()
) -> ParsedPage:
    """A feed page from `sender` as `records` rows; BatchRejected if it is invalid or not all the sender's own.

    Live activities take the fast path (federation.protocol.fastpage), the records it leaves are validated one by
    one by the models, and a page whose records the models would not all take goes through them as a whole: the
    rows, and the errors, are those of model_page_rows. Records of kinds this node does not know are skipped.
    """
    with gc_paused():
        fast = fast_page_rows(raw, sender)
        rows = None if fast is None else _completed_by_the_models(fast, sender, kinds)
        if fast is not None and rows is not None:
            return ParsedPage(rows, fast.next_cursor, fast.more, fast.remaining)
    return model_page_rows(raw, sender, kinds, also_known)


def _completed_by_the_models(page: FastPage, sender: str, kinds: RecordKinds) -> list[Row] | None:
    """The fast path's rows, those it left validated by the models; None if the models refuse one of them or an id
    repeats (the page then goes through the models as a whole, which word the error as for any page)."""
    rows = page.rows
    adapter = wire_models(kinds).record
    for index, envelope in page.left:
        try:
            (rows[index],) = wire_rows([adapter.validate_json(envelope)], sender, kinds)
        except (ValidationError, BatchRejected):
            return None
    if len({row[_ID] for row in rows if row is not None}) != len(rows):
        return None
    return cast(list[Row], rows)


def model_page_rows(
    raw: bytes, sender: str, kinds: RecordKinds = CORE_KINDS, also_known: frozenset[str] = frozenset()
) -> ParsedPage:
    """page_rows through the pydantic models alone (every page the fast path does not vouch for)."""
    with gc_paused():
        page = parse_page(raw, kinds, also_known)
        if page.origin != sender:
            raise BatchRejected(403, f"the feed answered for origin '{page.origin}', not '{sender}'")
        if page.more and not page.records:
            raise BatchRejected(422, "the peer announces more changes but sent none: stopping to avoid a loop")
        parsed = ParsedPage(wire_rows(page.records, sender, kinds), page.next_cursor, page.more, page.remaining)
        # Freed while the collector is still paused: once back on, it would walk the thousand models.
        del page
    return parsed


def parse_batch(raw: bytes, kinds: RecordKinds = CORE_KINDS, also_known: frozenset[str] = frozenset()) -> WireBatch:
    """The batch (its records of kinds this node does not know are _UnknownKindEnvelope, in their place);
    BatchRejected 400 `malformed-json` if the body is not JSON (UTF-8), 422 if it is not a batch."""
    models = wire_models(kinds)
    try:
        return models.batch.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] in ("json_invalid", "json_type"):
            raise BatchRejected(400, f"the body is not valid JSON (UTF-8): {first['msg']}", "malformed-json") from exc
        if not _unknown_kinds_in(exc):
            raise BatchRejected(422, f"invalid batch: {_describe(exc)}") from exc
        batch: WireBatch = _without_unknown_kinds(raw, models.batch, kinds, also_known, "batch")
        return batch


def wire_rows(envelopes: list[Any], sender: str, kinds: RecordKinds = CORE_KINDS) -> list[Row]:
    """`records` rows for validated envelopes from `sender`; BatchRejected if any record is not the sender's own
    or contradicts its envelope. Records of kinds this node does not know are checked so, then skipped."""
    # Runs for every replicated record: plain attribute reads and comparisons, each id turned into text once.
    rows: list[Row] = []
    seen: set[str] = set()
    skipped: dict[str, int] = {}
    for envelope in envelopes:
        if envelope.origin != sender:
            raise BatchRejected(
                403, f"record {envelope.id} has origin '{envelope.origin}' but the batch comes from '{sender}'"
            )
        record_id = str(envelope.id)
        if record_id in seen:
            raise BatchRejected(422, f"record {record_id} appears twice in the batch")
        seen.add(record_id)
        if envelope.__class__ is _UnknownKindEnvelope:
            skipped[envelope.kind] = skipped.get(envelope.kind, 0) + 1
            continue
        if envelope.deleted:
            rows.append(
                replica_tombstone_values(
                    envelope.kind, envelope.origin, record_id, envelope.version, envelope.updated_at
                )
            )
            continue
        payload = envelope.payload
        if payload is None:
            raise BatchRejected(422, f"record {record_id} is not deleted but has no payload")
        if not isinstance(payload, BaseModel):
            _refuse_payload(record_id, kinds[envelope.kind], payload)
        if (
            payload.origin != envelope.origin
            or payload.id.int != envelope.id.int
            or payload.version != envelope.version
            or payload.updated_at != envelope.updated_at
        ):
            _contradiction(record_id, payload, envelope)
        if payload.deleted:
            raise BatchRejected(422, f"record {record_id}: payload says deleted but the envelope does not")
        rows.append(replica_values(kinds[envelope.kind], payload, record_id))
    if skipped:
        described = ", ".join(f"{count} '{kind}'" for kind, count in sorted(skipped.items()))
        log.info("skipped records of kinds this node does not know from %s: %s", sender, described)
    return rows


def _refuse_payload(record_id: str, kind: RecordKind, payload: Any) -> None:
    """BatchRejected (422) naming why the kind's model refuses a live record's payload."""
    try:
        kind.record_model.model_validate(payload)
    except ValidationError as exc:
        raise BatchRejected(422, f"record {record_id}: invalid payload: {_describe(exc)}") from exc
    # Refused from JSON but valid as Python values (a type only JSON cannot carry): refused all the same.
    raise BatchRejected(422, f"record {record_id}: invalid payload")


def _contradiction(record_id: str, payload: Any, envelope: Any) -> None:
    for field in ("origin", "id", "version", "updated_at"):
        if getattr(payload, field) != getattr(envelope, field):
            raise BatchRejected(
                403 if field == "origin" else 422,
                f"record {record_id}: payload {field} {getattr(payload, field)!r} contradicts the envelope",
            )


async def apply_rows(store: RecordService, connection: AsyncConnection, rows: list[Row]) -> int:
    """Store rows through the record service, in the caller's transaction (newer versions only); how many rows
    were inserted or changed.

    BatchRejected (409) if a row would give its origin a second live profile (the transaction is then rolled back
    by the caller).
    """
    try:
        return await store.apply_replicas(connection, rows)
    except ReplicaConflict as exc:
        origins = sorted({row[_ORIGIN] for row in rows if row[_KIND] == ONE_PROFILE_KIND})
        raise BatchRejected(
            409, f"an origin has one profile: {', '.join(origins)} already has another live node record", "conflict"
        ) from exc
