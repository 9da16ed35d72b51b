"""A test plugin built on the plugin API alone: a federated record kind of its own, `note`, addressed to one
peer, a `regies notes` command and a staff page `/notes` listing the notes this node received (docs/plugins.md, "A
plugin from scratch"). The core names `note` nowhere."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field

from federation.plugin_api import (
    ENVELOPE_FIELDS,
    MEMBER,
    Command,
    Envelope,
    KindFilter,
    ListQuery,
    LongText,
    NavEntry,
    Node,
    NodeId,
    RecordKind,
    Registry,
    SchemaEnum,
    ShortText,
    StrictModel,
    addressed_to,
    appkeys,
    hookimpl,
    printable,
)
from federation.plugin_api.web import NODE_ROLES, render, require_user


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


# Where the page's template and its French catalogue live (compiled with `python -m federation.web.messages
# tests/plugins/note_pages`).
PAGES = Path(__file__).parent / "note_pages"
# Notes read per query: a node holds few, but a read stays bounded however many.
PAGE_SIZE = 200


async def notes_received(node: Node, status: str | None = None) -> list[dict[str, Any]]:
    """The live notes addressed to this node, oldest first (of one status if given), read through its reader.

    Its own notes to other nodes are stored here too: only those whose `to` is this node are kept."""
    equals = {"status": status} if status else {}
    received: list[dict[str, Any]] = []
    after_rid = 0
    while True:
        rows = await node.reader.page(ListQuery(NOTE.name, after_rid=after_rid, limit=PAGE_SIZE, equals=equals))
        for _rid, body in rows[:PAGE_SIZE]:
            note = json.loads(body)
            if note["to"] == node.node_id:
                received.append(note)
        if len(rows) <= PAGE_SIZE:
            return received
        after_rid = rows[PAGE_SIZE - 1][0]


def configure_notes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--status", choices=[status.value for status in NoteStatus], help="only notes of this status")


async def run_notes(args: argparse.Namespace, node: Node) -> int:
    """`regies notes`: one line per note received (sender, status, subject); other nodes' text printed safely."""
    notes = await notes_received(node, args.status)
    for note in notes:
        print(f"{note['origin']}\t{note['status']}\t{printable(note['subject'])}")
    if not notes:
        print(f"no notes for {node.node_id}")
    return 0


routes = web.RouteTableDef()


@routes.get("")  # the prefix itself: /notes
async def notes_page(request: web.Request) -> web.StreamResponse:
    await require_user(request, roles=NODE_ROLES)
    notes = await notes_received(request.config_dict[appkeys.NODE])
    return await render(request, "notes/notes.html", {"notes": notes})


class NotePlugin:
    """Registered under the name `notes` (its templates are found as `notes/<file>`)."""

    @hookimpl
    def register_record_kinds(self, registry: Registry) -> None:
        registry.add_record_kind(NOTE)

    @hookimpl
    def register_commands(self, registry: Registry) -> None:
        registry.add_command(Command("notes", "list the notes other régies sent this node", configure_notes, run_notes))

    @hookimpl
    def register_web_pages(self, registry: Registry) -> None:
        registry.add_web_pages(
            "/notes",
            routes,
            nav=[NavEntry("/notes", "Notes reçues", "Notes received", NODE_ROLES)],
            templates=PAGES / "templates",
            locale=PAGES / "locale",
        )
