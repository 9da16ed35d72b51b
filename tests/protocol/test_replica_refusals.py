"""What a peer is told when a page or a batch of replicated records breaks the rules federation.protocol.apply
enforces (a record sent twice, a live record without payload, a payload contradicting its envelope, "more to come"
with nothing in it), and that nothing of a refused page or batch is stored."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from federation.protocol import persistence, receiver
from federation.protocol.apply import BatchRejected, check_authors, model_page_rows, page_rows
from federation.protocol.puller import PullError, pull_peer
from federation.storage.tables import records
from federation.storage.upsert import RECORD_COLUMNS
from tests.protocol.conftest import Node, NodeFactory, activity, signed_call

SENDER = "rq-a"
ID, DELETED = RECORD_COLUMNS.index("id"), RECORD_COLUMNS.index("deleted")
WHEN = "2026-01-01T00:00:00Z"
FIELDS: dict[str, dict[str, Any]] = {
    "activity": activity(1),
    "resource": {"kind": "vehicle", "name": "Camionnette"},
    "node": {"name": "Régie fantôme", "kind": "quartier", "commune": "13055", "label_status": "labellisee"},
    "review": {
        "report_origin": "rq-b",
        "report_id": str(uuid.UUID(int=5)),
        "report_version": 1,
        "decision": "validated",
        "reviewer": "coordination nationale",
    },
}


def live(record_id: str | None = None, kind: str = "activity", **payload_changes: Any) -> dict[str, Any]:
    """A live record as its origin sends it: the envelope, and the payload agreeing with it (then `payload_changes`)."""
    record_id = record_id or str(uuid.uuid4())
    payload = {**FIELDS[kind], "origin": SENDER, "id": record_id, "version": 1, "updated_at": WHEN}
    envelope = {key: payload[key] for key in ("origin", "id", "version", "updated_at")}
    return {**envelope, "kind": kind, "deleted": False, "payload": {**payload, **payload_changes}}


def tombstone(record_id: str | None = None) -> dict[str, Any]:
    record_id = record_id or str(uuid.uuid4())
    return {"origin": SENDER, "id": record_id, "version": 2, "updated_at": WHEN, "kind": "activity", "deleted": True}


def unknown_kind(kind: str = "gossip", **changes: Any) -> dict[str, Any]:
    """A record of a kind this node does not know (a later version's, or a plugin's this node lacks)."""
    return {**tombstone(), "kind": kind, "deleted": False, "payload": {"anything": [1, 2]}, **changes}


def feed_page(*sent: dict[str, Any], more: bool = False, origin: str = SENDER) -> bytes:
    return json.dumps(
        {"origin": origin, "records": list(sent), "next_cursor": "Yzo5", "more": more, "remaining": 0}
    ).encode()


def refusal(raw: bytes) -> BatchRejected:
    """How the puller's own parsing (apply.page_rows) refuses the page."""
    with pytest.raises(BatchRejected) as refused:
        page_rows(raw, SENDER)
    return refused.value


TWICE = str(uuid.UUID(int=7))
OTHER = str(uuid.UUID(int=8))

# Pages a peer might serve, and what the refusal says: (status, the message's start).
REFUSED_PAGES: dict[str, tuple[bytes, int, str]] = {
    "an activity twice": (feed_page(live(TWICE), live(TWICE)), 422, f"record {TWICE} appears twice"),
    "a resource twice": (
        feed_page(live(TWICE, "resource"), live(TWICE, "resource")),
        422,
        f"record {TWICE} appears twice",
    ),
    "a record and its tombstone": (feed_page(live(TWICE), tombstone(TWICE)), 422, f"record {TWICE} appears twice"),
    # The first problem in the page's order is the one named, whichever path the page took.
    "a record twice, then a contradiction": (
        feed_page(live(TWICE), live(TWICE), live(OTHER, version=3)),
        422,
        f"record {TWICE} appears twice",
    ),
    "a live record without payload": (
        feed_page({**live(TWICE), "payload": None}),
        422,
        f"record {TWICE} is not deleted but has no payload",
    ),
    "a payload marked deleted under a live envelope": (
        feed_page(live(TWICE, deleted=True)),
        422,
        f"record {TWICE}: payload says deleted but the envelope does not",
    ),
    "a record of another origin": (
        feed_page({**live(TWICE, origin="rq-x"), "origin": "rq-x"}),
        403,
        f"record {TWICE} has origin 'rq-x' but the batch comes from '{SENDER}'",
    ),
    "a page of another origin": (
        feed_page(live(TWICE), origin="rq-x"),
        403,
        f"the feed answered for origin 'rq-x', not '{SENDER}'",
    ),
    # The row is built from the payload: a payload of another origin would store a record in that origin's name.
    "a payload of another origin": (
        feed_page(live(TWICE, origin="rq-x")),
        403,
        f"record {TWICE}: payload origin 'rq-x' contradicts the envelope",
    ),
    "a payload of another id": (
        feed_page(live(TWICE, id=OTHER)),
        422,
        f"record {TWICE}: payload id UUID('{OTHER}') contradicts the envelope",
    ),
    "a payload of another version": (
        feed_page(live(TWICE, version=3)),
        422,
        f"record {TWICE}: payload version 3 contradicts the envelope",
    ),
    "a payload of another time": (
        feed_page(live(TWICE, updated_at="2026-01-01T00:00:01Z")),
        422,
        f"record {TWICE}: payload updated_at",
    ),
    "more announced with no record": (
        feed_page(more=True),
        422,
        "the peer announces more changes but sent none: stopping to avoid a loop",
    ),
    "an invalid field": (
        feed_page(live(TWICE, title="")),
        422,
        f"record {TWICE}: invalid payload: 1 invalid field(s), first at title",
    ),
    "two invalid fields": (
        feed_page(live(TWICE, title="", inhabitants_involved=-1)),
        422,
        f"record {TWICE}: invalid payload: 2 invalid field(s), first at title",
    ),
    "not JSON": (b'{"origin":"rq-a","records":[', 422, "invalid feed page: 1 invalid field(s)"),
    "an envelope of version 0": (
        feed_page({**live(TWICE), "version": 0}),
        422,
        "invalid feed page: 1 invalid field(s), first at records/0/activity/version",
    ),
    "an unknown kind with an invalid envelope": (
        feed_page(live(), unknown_kind(version=0)),
        422,
        "invalid feed page: record 1: 1 invalid field(s), first at version",
    ),
    "an unknown kind beside an invalid envelope": (
        feed_page(unknown_kind(), {**live(TWICE), "version": 0}),
        422,
        "invalid feed page: 1 invalid field(s), first at records/0/activity/version",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED_PAGES))
def test_a_page_breaking_a_rule_is_refused_saying_which(case: str) -> None:
    raw, status, says = REFUSED_PAGES[case]
    refused = refusal(raw)
    assert (refused.status, refused.slug) == (status, "spoofed-origin" if status == 403 else "validation")
    assert str(refused).startswith(says), str(refused)


def test_a_record_whose_payload_agrees_with_its_envelope_is_taken() -> None:
    # The same instant written with an offset agrees: times are compared as instants, not as text.
    sent = [live(), live(kind="resource"), tombstone(), live(updated_at="2026-01-01T02:00:00+02:00")]
    parsed = page_rows(feed_page(*sent, more=True), SENDER)
    assert [(row[ID], row[DELETED]) for row in parsed.rows] == [(record["id"], record["deleted"]) for record in sent]
    assert parsed.more


def test_records_of_unknown_kinds_are_skipped_and_counted_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    # What a page leaves out of its envelopes is read as the protocol says: a record without `deleted` is live, a
    # page without `more` is the last, without `remaining` has none left.
    sent = [unknown_kind(), live(), unknown_kind("rumour"), unknown_kind(), live()]
    del sent[4]["deleted"]
    raw = json.dumps({"origin": SENDER, "records": sent, "next_cursor": "Yzo5"}).encode()
    with caplog.at_level(logging.INFO, logger="federation.protocol.apply"):
        parsed = page_rows(raw, SENDER)
    assert [(row[ID], row[DELETED]) for row in parsed.rows] == [(sent[1]["id"], False), (sent[4]["id"], False)]
    assert (parsed.more, parsed.remaining) == (False, 0)
    assert caplog.messages == [
        f"skipped records of kinds this node does not know from {SENDER}: 2 'gossip', 1 'rumour'"
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="federation.protocol.apply"):
        page_rows(feed_page(live(kind="resource")), SENDER)
    assert caplog.messages == []  # nothing skipped, nothing said


@pytest.mark.parametrize(
    ("sent", "status", "says"),
    [
        ([live(), live(TWICE, "review")], 403,
         f"record {TWICE}: a member may not author a 'review' record (the hub does)"),
        ([live(TWICE, "node"), live(), live(OTHER, "node")], 409,
         f"an origin has one node record; this batch holds 2: ['{TWICE}', '{OTHER}']"),
    ],
    ids=["a review from a member", "two profiles in one page"],
)  # fmt: skip
def test_a_page_its_sender_may_not_author_is_refused_saying_who_may(
    sent: list[dict[str, Any]], status: int, says: str
) -> None:
    # As the puller checks each parsed page (Puller._check), and the inbox each batch, here from a member.
    rows = page_rows(feed_page(*sent), SENDER).rows
    with pytest.raises(BatchRejected) as refused:
        check_authors(rows, sender_is_hub=False)
    assert (refused.value.status, str(refused.value)) == (status, says)
    assert refused.value.slug == {403: "not-author", 409: "conflict"}[status]


def test_the_collector_is_back_on_after_every_page_and_stays_off_if_it_was() -> None:
    # Paused while a page is parsed (federation.protocol.apply.gc_paused): left off, a node's memory would grow with
    # every cycle it creates from then on.
    taken, broken = feed_page(live()), feed_page(live(TWICE), live(TWICE))
    for parse in (page_rows, model_page_rows):
        parse(taken, SENDER)
        with pytest.raises(BatchRejected):
            parse(broken, SENDER)
        assert gc.isenabled()
    gc.disable()
    try:
        page_rows(taken, SENDER)
        assert not gc.isenabled()  # a caller that paused it (a whole pull) keeps it paused
    finally:
        gc.enable()


# --- Between real nodes -----------------------------------------------------------------------------------------


async def stored(node: Node, kind: str = "activity") -> list[str]:
    async with node.context.engine.connect() as connection:
        found = await connection.execute(
            select(records.c.id).where(records.c.origin == SENDER, records.c.kind == kind).order_by(records.c.rid)
        )
        return [str(record_id) for (record_id,) in found]


async def push(a: Node, b: Node, *sent: dict[str, Any]) -> tuple[int, Any]:
    """A batch of `sent` records signed by `a` and posted to `b`'s inbox, as `a`'s outbox would: b's answer."""
    body = json.dumps({"origin": SENDER, "batch_id": uuid.uuid4().hex, "records": list(sent)}).encode()
    status, answer, _ = await signed_call(a, b, "POST", "/federation/v1/inbox", body)
    return status, answer


@pytest.mark.parametrize(
    "case",
    ["an activity twice", "a record and its tombstone", "a payload of another origin", "a payload of another id"],
)
async def test_a_pushed_batch_breaking_a_rule_is_refused_and_nothing_of_it_stored(
    make_node: NodeFactory, case: str
) -> None:
    a, b = await make_node(SENDER), await make_node("rq-b")
    await b.add_peer(a, pull=False)
    raw, expected_status, says = REFUSED_PAGES[case]
    status, problem = await push(a, b, live(), *json.loads(raw)["records"])
    assert status == expected_status and problem["detail"].startswith(says), problem
    assert await stored(b) == []


async def test_a_second_profile_pushed_alone_is_refused_naming_its_origin(make_node: NodeFactory) -> None:
    a, b = await make_node(SENDER), await make_node("rq-b")
    await b.add_peer(a)
    await a.add_peer(b, pull=False)
    peer = await persistence.get_peer(b.context.engine, SENDER)
    assert peer is not None
    await pull_peer(b.context, peer)
    profiles = await stored(b, "node")
    assert len(profiles) == 1

    status, problem = await push(a, b, live(kind="node"))

    assert (status, problem["type"]) == (409, "urn:regies:problem:conflict")
    assert problem["detail"] == f"an origin has one profile: {SENDER} already has another live node record"
    assert await stored(b, "node") == profiles


async def test_a_peer_that_keeps_announcing_more_with_nothing_in_it_fails_the_pull(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rq-a's feed, as a faulty node's would, answers every request with "more to come" and no records (its answers
    signed as usual): followed, the pull would request the same page for ever."""
    a, b = await make_node(SENDER), await make_node("rq-b")
    await a.add_peer(b)
    await b.add_peer(a)
    answered = 0

    async def nothing_but_more(connection: Any, origin: str, since: int, *args: Any, **kwargs: Any) -> Any:
        nonlocal answered
        answered += 1
        return persistence.FeedPage([], since, since + 5)

    monkeypatch.setattr(receiver.persistence, "read_feed", nothing_but_more)
    peer = await persistence.get_peer(b.context.engine, SENDER)
    assert peer is not None

    with pytest.raises(PullError, match="announces more changes but sent none"):
        await asyncio.wait_for(pull_peer(b.context, peer), timeout=60)

    after = await persistence.get_peer(b.context.engine, SENDER)
    assert after is not None and "announces more changes but sent none" in (after.last_error or "")
    assert after.cursor in (None, "")  # the checkpoint did not move past pages that said nothing
    assert 1 <= answered < 10
