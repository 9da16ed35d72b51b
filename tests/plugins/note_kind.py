"""A test plugin that declares a federated record kind of its own, `note`, addressed to one peer: what a plugin
writes to add a kind (docs/plugins.md, "Record kinds"). The core names `note` nowhere."""

from __future__ import annotations

from pydantic import Field

from federation.plugin_api import (
    ENVELOPE_FIELDS,
    MEMBER,
    Envelope,
    KindFilter,
    LongText,
    NodeId,
    RecordKind,
    Registry,
    SchemaEnum,
    ShortText,
    StrictModel,
    addressed_to,
    hookimpl,
)


class NoteStatus(SchemaEnum):
    OPEN = "open"
    ANSWERED = "answered"


class NoteData(StrictModel):
    """A note from one régie to another."""

    to: NodeId = Field(description="The node the note is for: only it receives the note.")
    subject: ShortText
    body: LongText = ""
    status: NoteStatus = NoteStatus.OPEN


class Note(NoteData, Envelope):
    """A note as a federated record."""


NOTE = RecordKind(
    "note",
    NoteData,
    Note,
    "notes",
    "note",
    ENVELOPE_FIELDS,
    authors=frozenset({MEMBER}),  # a member writes notes; the hub does not
    audience=addressed_to("to"),
    filters=(KindFilter("status", "status", "status", "Note status."),),
    indexes=(("status",),),
)


class NotePlugin:
    @hookimpl
    def register_record_kinds(self, registry: Registry) -> None:
        registry.add_record_kind(NOTE)
