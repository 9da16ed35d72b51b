"""A record kind declared by a plugin federates like the core's (issue 21, item 3): the test plugin's `note`,
addressed to one peer, is created through the API, stored, served and pushed to its addressee alone, and refused
from a node that may not author it; a node that does not know the kind skips it without failing the page or the
batch (docs/protocol.md §6.4). Real nodes, real signed requests; no line of the core names `note`."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text

from federation import appkeys, hookimpl
from federation.plugins import build_plugins
from federation.protocol import persistence, sender
from federation.protocol.apply import page_rows
from federation.protocol.page_parsers import serve
from federation.protocol.puller import pull_peer
from federation.registry import PluginError
from federation.schema.kinds import RecordKind, addressed_to
from federation.storage.tables import outbox_batches, records
from tests.plugins.note_kind import NOTE, Note, NoteData, NotePlugin
from tests.protocol.conftest import Node, NodeFactory, activity, answers, frames, signed_call
from tests.protocol.test_page_parsers import feed_page

NOTES = [("notes", NotePlugin())]


async def _pull(node: Node, origin: str) -> None:
    peer = await persistence.get_peer(node.context.engine, origin)
    assert peer is not None
    await pull_peer(node.context, peer)


async def _stored(node: Node, kind: str, origin: str) -> dict[str, dict[str, Any]]:
    """Every stored record (tombstones included) of `kind` from `origin`, by id, read from the database."""
    async with node.context.engine.connect() as connection:
        rows = await connection.execute(
            select(records.c.id, records.c.body).where(records.c.kind == kind, records.c.origin == origin)
        )
        return {row.id: json.loads(row.body) for row in rows}


async def _feed_kinds(reader: Node, origin: Node) -> list[str]:
    """The kinds of the records `origin`'s feed serves `reader`, read with a request `reader` signs."""
    status, page, _headers = await signed_call(reader, origin, "GET", "/federation/v1/changes?limit=100")
    assert status == 200, page
    return [record["kind"] for record in page["records"]]


async def _pushed_kinds(node: Node) -> dict[str, list[str]]:
    """Push `node`'s changes; the kinds of the records each destination was sent (delivered batches included)."""
    await sender.push_all(node.context)
    sent: dict[str, list[str]] = {}
    async with node.context.engine.connect() as connection:
        rows = await connection.execute(select(outbox_batches.c.destination, outbox_batches.c.payload))
        for destination, payload in rows:
            sent.setdefault(destination, []).extend(record["kind"] for record in json.loads(payload)["records"])
    return {destination: sorted(kinds) for destination, kinds in sent.items()}


async def _add_peer_of_unknown_versions(node: Node, other: Node, *, push: bool) -> None:
    """Pin `other` as a node pinned before nodes recorded what their peers speak: it is served every kind, so the
    records of kinds it does not know do reach it."""
    remote = await node.context.client.fetch_discovery(other.url)
    await persistence.save_peer(
        node.context.engine,
        node_id=remote.node_id,
        name=remote.name,
        base_url=remote.base_url,
        keys=remote.keys,
        pull=False,
        push=push,
    )


async def test_a_plugin_kind_addressed_to_one_peer_reaches_that_peer_alone(make_node: NodeFactory) -> None:
    a = await make_node("rq-a", extra_plugins=NOTES)
    b = await make_node("rq-b", extra_plugins=NOTES)
    c = await make_node("rq-c", extra_plugins=NOTES)
    for reader in (b, c):
        await reader.add_peer(a)
        await a.add_peer(reader, pull=False, push=True)

    # Created through the API, like any record; the collection is private: only token holders list it.
    note = await a.create("notes", {"to": "rq-b", "subject": "Prêt du minibus", "body": "Libre samedi ?"})
    assert (note["to"], note["status"], note["version"]) == ("rq-b", "open", 1)
    await a.create("activities", activity(1))
    assert (await a.get("/api/v1/notes"))[0] == 401
    assert (await a.get(f"/api/v1/notes/{note['id']}"))[0] == 401
    status, listed = await a.get("/api/v1/notes?status=open", headers=a.auth)
    assert status == 200 and [item["id"] for item in listed["items"]] == [note["id"]]
    assert (await a.get("/api/v1/notes?status=closed", headers=a.auth))[0] == 400

    # The feed serves it to its addressee only.
    assert sorted(await _feed_kinds(b, a)) == ["activity", "node", "note"]
    assert sorted(await _feed_kinds(c, a)) == ["activity", "node"]

    # Pulled: B stores it and serves it to its own token holders; C never sees it.
    await _pull(b, "rq-a")
    await _pull(c, "rq-a")
    status, got = await b.get(f"/api/v1/notes/{note['id']}?origin=rq-a", headers=b.auth)
    assert (status, got) == (200, note)
    assert await _stored(c, "note", "rq-a") == {}
    assert len(await c.records("rq-a")) == 1  # the activity did arrive

    # Pushed: the batches for B carry it, those for C do not; nor do they carry its deletion.
    assert await _pushed_kinds(a) == {"peer:rq-b": ["activity", "node", "note"], "peer:rq-c": ["activity", "node"]}
    answered = await a.put("notes", note["id"], {"to": "rq-b", "subject": "Prêt du minibus", "status": "answered"})
    assert answered["version"] == 2
    await a.delete("notes", note["id"])
    assert await _pushed_kinds(a) == {
        "peer:rq-b": ["activity", "node", "note", "note"],
        "peer:rq-c": ["activity", "node"],
    }
    assert [entry.state for entry in await sender.list_outbox(a.context)] == []
    assert (await b.get(f"/api/v1/notes/{note['id']}?origin=rq-a", headers=b.auth))[0] == 410
    assert await _stored(c, "note", "rq-a") == {}
    assert sorted(await _feed_kinds(c, a)) == ["activity", "node"]  # nor does the deletion reach C


async def test_a_plugin_kind_is_refused_from_a_node_that_may_not_author_it(make_node: NodeFactory) -> None:
    """The note's declaration says members author notes: one from the hub is refused, on push and on pull."""
    b = await make_node("rq-b", extra_plugins=NOTES)
    hub = await make_node("hub-national", extra_plugins=NOTES)
    await b.add_peer(hub, role="hub")
    await hub.add_peer(b, pull=False, push=True)
    forged = await hub.server.app[appkeys.STORE].create_built(
        "note",
        lambda _previous, envelope: Note.model_validate({"to": "rq-b", "subject": "Du hub", **envelope}),
    )
    assert await sender.push_all(hub.context) == {"peer:rq-b": 0}  # refused: none delivered, the batch kept failed
    (entry,) = await sender.list_outbox(hub.context)
    assert entry.state == "failed" and "403 Forbidden (not-author)" in (entry.last_error or "")
    with pytest.raises(Exception, match="may not author a 'note' record"):
        await _pull(b, "hub-national")
    assert await _stored(b, "note", "hub-national") == {}
    assert str(forged.id)  # the hub does hold it: its own write, which no member takes


async def test_a_record_of_a_kind_the_receiver_does_not_know_is_skipped_not_fatal(make_node: NodeFactory) -> None:
    """D has no notes plugin. A page and a batch mixing notes with known records: the notes are skipped, the rest
    is applied, the checkpoint moves past them; their envelopes are still checked (another origin's is refused)."""
    a = await make_node("rq-a", extra_plugins=NOTES)
    d = await make_node("rq-d")
    await d.add_peer(a)
    await _add_peer_of_unknown_versions(a, d, push=True)
    first = await a.create("activities", activity(1))
    await a.create("notes", {"to": "rq-d", "subject": "Pour D"})
    second = await a.create("activities", activity(2))
    assert sorted(await _feed_kinds(d, a)) == ["activity", "activity", "node", "note"]

    await _pull(d, "rq-a")
    assert set(await d.records("rq-a")) == {first["id"], second["id"]}
    async with d.context.engine.connect() as connection:
        kinds = (await connection.execute(text("SELECT DISTINCT kind FROM records WHERE origin = 'rq-a'"))).all()
    assert sorted(kind for (kind,) in kinds) == ["activity", "node"]
    peer = await persistence.get_peer(d.context.engine, "rq-a")
    assert peer is not None and peer.last_error is None and peer.cursor

    # Pushed in one batch with a new activity: 202, the activity applied, the note counted as received only.
    await a.create("notes", {"to": "rq-d", "subject": "Encore"})
    third = await a.create("activities", activity(3))
    assert await _pushed_kinds(a) == {"peer:rq-d": ["activity", "activity", "activity", "node", "note", "note"]}
    assert [entry.state for entry in await sender.list_outbox(a.context)] == []
    assert third["id"] in await d.records("rq-a")

    # A batch of any sender with another origin's record of an unknown kind is refused all the same.
    stranger = {
        "origin": "rq-x",
        "id": str(uuid.uuid4()),
        "kind": "loan_request",
        "version": 1,
        "updated_at": "2026-01-01T00:00:00Z",
        "payload": {"anything": True},
    }
    batch = {"origin": "rq-a", "batch_id": str(uuid.uuid4()), "records": [stranger]}
    status, problem, _headers = await signed_call(a, d, "POST", "/federation/v1/inbox", json.dumps(batch).encode())
    assert status == 403 and "rq-x" in problem["detail"]
    batch["records"] = [{**stranger, "origin": "rq-a", "kind": "Not A Kind"}]
    status, problem, _headers = await signed_call(a, d, "POST", "/federation/v1/inbox", json.dumps(batch).encode())
    assert status == 422


async def test_a_node_knows_its_plugins_kinds_in_discovery_openapi_and_indexes(make_node: NodeFactory) -> None:
    a = await make_node("rq-a", extra_plugins=NOTES)
    status, document = await a.get("/.well-known/regies-node")
    assert status == 200 and "note" in document["record_kinds"]
    status, openapi = await a.get("/openapi.json")
    operation = openapi["paths"]["/api/v1/notes"]["get"]
    assert operation["security"] and [p["name"] for p in operation["parameters"]][:2] == ["status", "origin"]
    assert "notes" in openapi["paths"]["/api/v1/export/{collection}"]["get"]["parameters"][0]["schema"]["enum"]
    await a.create("notes", {"to": "rq-b", "subject": "Exportée"})
    assert (await a.get("/api/v1/export/notes?format=json"))[0] == 401  # private, as its collection
    async with a.session.get(f"{a.url}/api/v1/export/notes?format=csv", headers=a.auth) as response:
        assert response.status == 200
        header, row = (await response.text()).splitlines()
    assert header.split(",")[-4:] == ['"to"', '"subject"', '"body"', '"status"'] and "Exportée" in row
    async with a.context.engine.connect() as connection:
        sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_records_note_status'"
        (created,) = (await connection.execute(text(sql))).one()
    assert "WHERE kind = 'note'" in created


def test_a_kind_declaration_that_does_not_hold_stops_start_up() -> None:
    class Optional(NoteData):
        to: str | None = None  # type: ignore[assignment]

    class Plugin:
        def __init__(self, kind: RecordKind) -> None:
            self.kind = kind

        @hookimpl
        def register_record_kinds(self, registry: Any) -> None:
            registry.add_record_kind(self.kind)

    unaddressed = RecordKind("memo", Optional, Optional, None, "memo", frozenset(), audience=addressed_to("to"))
    with pytest.raises(PluginError, match="plugin 'memos': record kind 'memo': the audience field 'to' must be"):
        build_plugins(extra=[("memos", Plugin(unaddressed))], load_entry_points=False)
    with pytest.raises(PluginError, match="record kind 'note' is registered twice: by plugin 'notes' and by plugin"):
        build_plugins(extra=[*NOTES, ("again", Plugin(NOTE))], load_entry_points=False)
    core = build_plugins(load_entry_points=False).registry.kinds
    assert list(core) == ["node", "activity", "resource", "report", "review"]


def _with_records(page: bytes, *extra: dict[str, Any]) -> bytes:
    document = json.loads(page)
    document["records"].extend(extra)
    return json.dumps(document).encode()


def _note_envelope(origin: str, kind: str = "note") -> dict[str, Any]:
    record = Note.model_validate(
        {"to": "rq-b", "subject": "Bonjour", "origin": origin, "id": str(uuid.uuid4()), "version": 1,
         "updated_at": "2026-01-02T03:04:05Z"}
    )  # fmt: skip
    payload = record.model_dump(mode="json")
    return {key: payload[key] for key in ("origin", "id", "version", "updated_at")} | {"kind": kind, "payload": payload}


def test_a_page_parser_process_hands_a_page_of_a_plugin_kind_back_and_skips_unknown_ones() -> None:
    """Parser processes know the core's kinds only: a page with a record of one of the node's plugin kinds goes back
    to the pulling process (which parses it with the node's kinds); a kind the node does not know is skipped there."""
    with_note = _with_records(feed_page("rq-a", range(2)), _note_envelope("rq-a"))
    with_zebra = _with_records(feed_page("rq-a", range(2, 4)), _note_envelope("rq-a", "zebra"))
    out = io.BytesIO()
    assert serve(frames((with_note, "rq-a", ("note",)), (with_zebra, "rq-a", ("note",))), out) == 0
    _ready, yours, page = answers(out)
    assert yours == ("yours", with_note)
    assert page[0] == "page" and [row[0] for row in page[1]] == ["activity", "activity"]
    kinds = build_plugins(extra=NOTES, load_entry_points=False).registry.kinds
    assert [row[0] for row in page_rows(with_note, "rq-a", kinds).rows] == ["activity", "activity", "note"]


async def test_inbox_workers_hand_a_batch_of_a_plugin_kind_back_to_the_server(make_node: NodeFactory) -> None:
    a = await make_node("rq-a", extra_plugins=NOTES)
    b = await make_node("rq-b", extra_plugins=NOTES, inbox_parse_workers=1)
    await a.add_peer(b, pull=False, push=True)
    await b.add_peer(a, pull=False)
    note = await a.create("notes", {"to": "rq-b", "subject": "Par le parseur"})
    assert await _pushed_kinds(a) == {"peer:rq-b": ["node", "note"]}
    status, got = await b.get(f"/api/v1/notes/{note['id']}?origin=rq-a", headers=b.auth)
    assert (status, got) == (200, note)


def test_register_record_kinds() -> None:
    """The hook registers each kind under its plugin's name, the core's through its internal plugin, which is not
    listed among the node's plugins; the kinds keep the order they were registered in."""
    plugins = build_plugins(extra=NOTES, load_entry_points=False)
    registry = plugins.registry
    assert list(registry.kinds) == ["node", "activity", "resource", "report", "review", "note"]
    assert registry.kinds["note"] is NOTE and registry.owner("record kind", "note") == "notes"
    assert registry.owner("record kind", "report") == "regies.core_kinds"
    assert plugins.hooks_of("notes") == ["register_commands", "register_record_kinds", "register_web_pages"]
    assert "regies.core_kinds" not in plugins.infos
    assert registry.indexes["ix_records_note_status"].create_sql() == (
        "CREATE INDEX IF NOT EXISTS ix_records_note_status ON records (kind, status, rid) WHERE kind = 'note'"
    )
