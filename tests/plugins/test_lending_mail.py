"""Lending e-mails through a real local SMTP server (aiosmtpd): the resource's contact is told of a new request,
the borrower of the decision, in French; with the mail server down first, nothing is lost and the message goes out
once it is back (the outbox and the plugin background task that delivers it)."""

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
from sqlalchemy import select

from federation.storage.tables import node_meta
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
