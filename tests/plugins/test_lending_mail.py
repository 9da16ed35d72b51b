"""Lending e-mails through a real local SMTP server (aiosmtpd): the resource's contact is told of a new request,
the borrower of the decision, in French; with the mail server down first, nothing is lost and the message goes out
once it is back (the outbox and the plugin background task that delivers it). The queue is derived from the
records: a request stored by a process that died before its hook ran is mailed by the next round, a request
delivered twice (pulled and pushed) while the round runs is mailed once, and records stored before the first round
(an upgrade) are not mailed. A round reads only what was stored after its checkpoint, which never passes a record
still being committed."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from regies_lending.mail import queue_due
from regies_lending.mail_settings import MailSettings
from sqlalchemy import delete, select

from federation.protocol.apply import apply_rows
from federation.protocol.sender import push_all
from federation.storage.tables import node_meta, records
from federation.storage.upsert import RECORD_COLUMNS, Row
from tests.plugins.lending_helpers import call, loan_body, next_weekday, pull, van
from tests.protocol.conftest import Node, NodeFactory, make_node

__all__ = ["make_node"]


class Inbox:
    """The messages the local SMTP server received, decoded."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


@pytest.fixture
def smtp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp(smtp_port: int) -> Iterator[tuple[Inbox, Controller]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)  # started by the test, when it wants
    yield inbox, controller
    with contextlib.suppress(AssertionError):  # never started
        controller.stop()


def mail_settings(port: int) -> dict[str, Any]:
    return {
        "lending": {
            "notifications": True,
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "sender": "noreply@regies.example",
            "public_url": "https://gestion.rq-lilas.example",
            "retry_first_s": 0.2,
            "retry_max_s": 0.4,
            "poll_s": 0.1,
        }
    }


async def outbox(node: Node) -> list[dict[str, Any]]:
    async with node.context.engine.connect() as connection:
        rows = await connection.execute(select(node_meta.c.value).where(node_meta.c.key.like("lending.mail.%")))
        return [json.loads(row.value) for row in rows]


async def scanned(node: Node) -> bool:
    """Whether the plugin's first round ran on `node` (it notes where its scan of the records starts)."""
    async with node.context.engine.connect() as connection:
        found = await connection.scalar(select(node_meta.c.key).where(node_meta.c.key == "lending.mailed.from"))
        return found is not None


async def stored_row(node: Node, kind: str, record_id: str) -> Row:
    """A record as `node` stores it, as a `records` row (what a pulled page or pushed batch carries)."""
    async with node.context.engine.connect() as connection:
        query = select(*(records.c[column] for column in RECORD_COLUMNS))
        row = (await connection.execute(query.where(records.c.kind == kind, records.c.id == record_id))).one()
        return tuple(row)


async def replica_row(node: Node, kind: str, record_id: str) -> Row:
    """`stored_row` with the body as UTF-8 bytes, as replicated rows carry it (PostgreSQL's copy needs them)."""
    row = await stored_row(node, kind, record_id)
    return (*row[:-1], row[-1].encode())


async def rid_of(node: Node, kind: str, record_id: str) -> int:
    async with node.context.engine.connect() as connection:
        query = select(records.c.rid).where(records.c.kind == kind, records.c.id == record_id)
        return int((await connection.execute(query)).scalar_one())


async def store_and_die(node: Node, rows: list[Row]) -> None:
    """Apply replicas the way a pull or push does (apply_rows, in one transaction) and stop after the commit: what a
    process killed right then leaves behind, records whose `records_replicated` hook never ran."""
    async with node.context.engine.begin() as connection:
        await apply_rows(node.context.store, connection, rows)


async def wait_for(condition: Any) -> None:
    async with asyncio.timeout(15):
        while not await condition():  # noqa: ASYNC110 (the SMTP server and the outbox have no event to wait on)
            await asyncio.sleep(0.1)


async def test_request_and_decision_mailed_in_french_nothing_lost_while_the_server_is_down(
    make_node: NodeFactory, smtp: tuple[Inbox, Controller], smtp_port: int
) -> None:
    received, server = smtp
    # The background worker runs (it delivers the outbox); its own pulls and pushes wait an hour: the test syncs.
    quiet = {"worker": True, "pull_interval_s": 3600, "push_interval_s": 3600}
    plugins = mail_settings(smtp_port)
    lender = await make_node("rq-lilas", plugin_settings=plugins, **quiet)
    borrower = await make_node("rq-voisine", plugin_settings=plugins, **quiet)
    await lender.add_peer(borrower)
    await borrower.add_peer(lender)
    resource = await lender.create("resources", van())
    await pull(borrower, "rq-lilas")

    status, loan = await call(borrower, "POST", "/requests", loan_body(resource, next_weekday(1)))
    assert status == 201, loan
    await pull(lender, "rq-voisine")  # the request reaches the lender: its contact is to be told

    # The mail server is down: the message stays queued, retried.
    async def retried() -> bool:
        queued = await outbox(lender)
        return len(queued) == 1 and queued[0]["attempts"] >= 2

    await wait_for(retried)
    assert received.messages == []

    server.start()  # the mail server comes back: the queued message goes out
    await wait_for(lambda: _true_if(received.messages))
    [message] = received.messages
    assert message["To"] == "parc@rq-lilas.example" and message["From"] == "noreply@regies.example"
    assert message["Subject"] == "Demande de prêt : Camion benne 3,5 t"
    body = message.get_content()
    assert "La régie rq-voisine demande à emprunter « Camion benne 3,5 t »" in body
    assert "Objet : Déménagement de la ressourcerie" in body and "Assurance : MAIF, contrat RC-2026-0042" in body
    assert "page « Prêts reçus » : https://gestion.rq-lilas.example/lending" in body
    await wait_for(lambda: _empty(outbox(lender)))

    # The lender accepts: the borrower's node tells the borrower's contact.
    path = f"/loans/rq-voisine/{loan['request']['id']}/accept"
    body_sent = {"deposit_eur": 500, "pickup_instructions": "Clés à l'accueil"}
    assert (await call(lender, "POST", path, body_sent))[0] == 200
    await pull(borrower, "rq-lilas")
    await wait_for(lambda: _true_if(received.messages[1:]))
    decision = received.messages[1]
    assert decision["To"] == "karim@rq-voisine.example"
    assert decision["Subject"] == "Demande de prêt acceptée : Camion benne 3,5 t"
    text = decision.get_content()
    assert "La régie rq-lilas a accepté votre demande de prêt de « Camion benne 3,5 t »" in text
    assert "Caution demandée : 500 €" in text and "Consignes de retrait : Clés à l'accueil" in text
    await wait_for(lambda: _empty(outbox(borrower)))


async def _true_if(items: list[Any]) -> bool:
    return bool(items)


async def _empty(pending: Any) -> bool:
    return not await pending


async def test_notifications_are_off_by_default(make_node: NodeFactory) -> None:
    lender, borrower = await make_node("rq-lilas"), await make_node("rq-voisine")
    await lender.add_peer(borrower)
    await borrower.add_peer(lender)
    resource = await lender.create("resources", van())
    await pull(borrower, "rq-lilas")
    assert (await call(borrower, "POST", "/requests", loan_body(resource, next_weekday(1))))[0] == 201
    await pull(lender, "rq-voisine")
    assert await outbox(lender) == []


# The background worker runs (it queues and delivers); its own pulls and pushes wait an hour: the tests sync.
QUIET = {"pull_interval_s": 3600, "push_interval_s": 3600}


async def lending_pair(
    make_node: NodeFactory,
    smtp: tuple[Inbox, Controller],
    port: int,
    worker: bool = True,
    database_url: str | None = None,
) -> tuple[Node, Node, dict[str, Any]]:
    """The mail server started, a lender with notifications on (on `database_url`, else SQLite), a borrower pushing
    to it, and the lender's van as the borrower sees it."""
    smtp[1].start()
    lender = await make_node(
        "rq-lilas", plugin_settings=mail_settings(port), worker=worker, database_url=database_url, **QUIET
    )
    borrower = await make_node("rq-voisine", **QUIET)
    await lender.add_peer(borrower, pull=False)  # pulled by the tests only, not by the worker as it starts
    await borrower.add_peer(lender, push=True)
    resource = await lender.create("resources", van())
    await pull(borrower, "rq-lilas")
    return lender, borrower, resource


async def request_loan(borrower: Node, resource: dict[str, Any], day: int, purpose: str) -> str:
    status, loan = await call(borrower, "POST", "/requests", loan_body(resource, next_weekday(day), purpose=purpose))
    assert status == 201, loan
    request_id: str = loan["request"]["id"]
    return request_id


async def test_a_request_whose_hook_never_ran_is_mailed_by_the_next_round(
    make_node: NodeFactory, smtp: tuple[Inbox, Controller], smtp_port: int
) -> None:
    received = smtp[0]
    lender, borrower, resource = await lending_pair(make_node, smtp, smtp_port)
    await wait_for(lambda: scanned(lender))  # the first round ran: what comes next is new
    request_id = await request_loan(borrower, resource, 1, "Déménagement de la ressourcerie")

    await store_and_die(lender, [await stored_row(borrower, "loan_request", request_id)])

    await wait_for(lambda: _true_if(received.messages))
    [message] = received.messages
    assert message["To"] == "parc@rq-lilas.example"
    assert message["Subject"] == "Demande de prêt : Camion benne 3,5 t"
    assert "La régie rq-voisine demande à emprunter « Camion benne 3,5 t »" in message.get_content()
    await wait_for(lambda: _empty(outbox(lender)))


async def test_a_request_pulled_and_pushed_while_the_round_runs_is_mailed_once(
    make_node: NodeFactory, smtp: tuple[Inbox, Controller], smtp_port: int
) -> None:
    received = smtp[0]
    lender, borrower, resource = await lending_pair(make_node, smtp, smtp_port)
    await request_loan(borrower, resource, 1, "Déménagement de la ressourcerie")

    # At-least-once delivery: the same first version arrives by the lender's pull and by the borrower's push at
    # once, each telling the plugin's hook, while the background task's rounds run every 0.1 s.
    await asyncio.gather(pull(lender, "rq-voisine"), push_all(borrower.context))

    await wait_for(lambda: _true_if(received.messages))
    await wait_for(lambda: _empty(outbox(lender)))
    await asyncio.sleep(0.5)  # rounds enough for a second message to be queued and sent, were there one
    assert [message["Subject"] for message in received.messages] == ["Demande de prêt : Camion benne 3,5 t"]
    assert await outbox(lender) == []


async def test_records_stored_before_the_first_round_are_not_mailed(
    make_node: NodeFactory, smtp: tuple[Inbox, Controller], smtp_port: int
) -> None:
    received = smtp[0]
    lender, borrower, resource = await lending_pair(make_node, smtp, smtp_port, worker=False)
    old = await request_loan(borrower, resource, 1, "Sortie au jardin partagé")
    new = await request_loan(borrower, resource, 2, "Déménagement de la ressourcerie")
    # The lender's previous version stored this request (and mailed it, or had notifications off): no marker.
    await store_and_die(lender, [await stored_row(borrower, "loan_request", old)])

    async with lender.opened.running_worker():  # the node starts again, with this version: its first round
        await wait_for(lambda: scanned(lender))
        await store_and_die(lender, [await stored_row(borrower, "loan_request", new)])
        await wait_for(lambda: _true_if(received.messages))
        await wait_for(lambda: _empty(outbox(lender)))
        await asyncio.sleep(0.5)

    [message] = received.messages  # the new request's, not the old one's
    assert "Objet : Déménagement de la ressourcerie" in message.get_content()


async def checkpoint(node: Node) -> int:
    async with node.context.engine.connect() as connection:
        value = await connection.scalar(select(node_meta.c.value).where(node_meta.c.key == "lending.mailed.from"))
        return int(value)


async def queued_purposes(node: Node) -> list[str]:
    return sorted(line for message in await outbox(node) for line in message["body"].splitlines() if "Objet" in line)


async def test_a_round_reads_only_the_records_stored_since_the_last(
    make_node: NodeFactory, smtp: tuple[Inbox, Controller], smtp_port: int, database_url: str
) -> None:
    lender, borrower, resource = await lending_pair(make_node, smtp, smtp_port, worker=False, database_url=database_url)
    settings = MailSettings.model_validate(mail_settings(smtp_port)["lending"])
    first = await request_loan(borrower, resource, 1, "Sortie au jardin partagé")
    second = await request_loan(borrower, resource, 2, "Déménagement de la ressourcerie")
    assert await queue_due(lender.opened, settings) == 0  # the first round notes where the scan starts
    await store_and_die(lender, [await replica_row(borrower, "loan_request", first)])
    assert await queue_due(lender.opened, settings) == 1
    # The first request's marker goes: a round that read the old rows again would queue its e-mail a second time.
    async with lender.context.engine.begin() as connection:
        markers = node_meta.c.key.like("lending.mailed.%") & (node_meta.c.key != "lending.mailed.from")
        assert (await connection.execute(delete(node_meta).where(markers))).rowcount == 1

    await store_and_die(lender, [await replica_row(borrower, "loan_request", second)])
    assert await queue_due(lender.opened, settings) == 1  # the loan stored between the rounds, once
    assert await queue_due(lender.opened, settings) == 0
    assert await queued_purposes(lender) == [
        "Objet : Déménagement de la ressourcerie",
        "Objet : Sortie au jardin partagé",
    ]
    assert await checkpoint(lender) == await rid_of(lender, "loan_request", second)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_record_committed_after_a_higher_rid_is_still_mailed(
    make_node: NodeFactory, smtp: tuple[Inbox, Controller], smtp_port: int, database_url: str
) -> None:
    """PostgreSQL hands out rids from a sequence: a pull's transaction may take rid n and commit after a push's n + 1.
    The round that sees n + 1 alone must not move the checkpoint past n. (The two writers are of two borrowers: two
    writers of one origin's records of a kind queue on its revision, storage/upsert.py, and commit in rid order.)"""
    lender, borrower, resource = await lending_pair(make_node, smtp, smtp_port, worker=False, database_url=database_url)
    other = await make_node("rq-tierce", **QUIET)
    await lender.add_peer(other, pull=False)
    await other.add_peer(lender, push=True)
    await pull(other, "rq-lilas")
    settings = MailSettings.model_validate(mail_settings(smtp_port)["lending"])
    slow = await request_loan(other, resource, 1, "Sortie au jardin partagé")
    fast = await request_loan(borrower, resource, 2, "Déménagement de la ressourcerie")
    assert await queue_due(lender.opened, settings) == 0
    start = await checkpoint(lender)

    async with lender.context.engine.connect() as writer:
        await apply_rows(lender.context.store, writer, [await replica_row(other, "loan_request", slow)])
        await store_and_die(lender, [await replica_row(borrower, "loan_request", fast)])  # a higher rid, committed
        assert await queue_due(lender.opened, settings) == 1
        assert await checkpoint(lender) == start  # a writer is in flight: the round cannot tell what it holds
        await writer.commit()

    assert await queue_due(lender.opened, settings) == 1
    assert await queued_purposes(lender) == [
        "Objet : Déménagement de la ressourcerie",
        "Objet : Sortie au jardin partagé",
    ]
    slow_rid, fast_rid = await rid_of(lender, "loan_request", slow), await rid_of(lender, "loan_request", fast)
    assert slow_rid < fast_rid
    assert await checkpoint(lender) == fast_rid
