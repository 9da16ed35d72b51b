"""The federation status page: peers, last sync and errors, the outbox, and the retry and sync buttons."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from federation.protocol import persistence, pull_lease
from federation.storage.tables import outbox_batches
from tests.protocol.conftest import Node, NodeFactory, activity, make_node
from tests.web.conftest import add_account, csrf_of, log_in

__all__ = ["make_node"]  # the fixture, imported so these tests can start real nodes


@pytest.fixture
async def pair(make_node: NodeFactory, password_hash: str) -> AsyncIterator[tuple[Node, Node, TestClient[Any, Any]]]:
    """Régie A (whose back-office we use) pushes to and pulls from régie B, which does not know A yet."""
    a, b = await make_node("rq-lilas"), await make_node("rq-voisine")
    await a.add_peer(b, push=True)
    await add_account(a.server.app, password_hash, "marie", "staff")
    client: TestClient[Any, Any] = TestClient(a.server)
    await client.start_server()
    assert (await log_in(client)).status == 303
    yield a, b, client
    await client.close()


async def test_failures_are_shown_and_retried_from_the_page(pair: tuple[Node, Node, TestClient[Any, Any]]) -> None:
    a, b, client = pair
    await a.create("activities", activity(1))
    await b.create("activities", activity(2, title="Activité de la voisine"))

    page = await (await client.get("/admin/federation")).text()
    sync = await client.post("/admin/federation/sync", data={"_csrf": csrf_of(page)})
    page = html.unescape(await sync.text())
    # B refuses A's signed requests: it has not added A as a peer. The pull fails, the batch waits.
    assert "Régie rq-voisine : échec" in page
    # The peer's last error, and the batch's: the status and this node's own words for the peer's problem type.
    assert "401 Unauthorized (bad-signature: the peer did not accept this node's signature" in page
    assert "Réessayer" not in page  # a waiting batch is retried automatically, later

    async with a.context.engine.begin() as connection:  # as if B had refused the batch for good
        await connection.execute(outbox_batches.update().values(state="failed"))
    page = html.unescape(await (await client.get("/admin/federation")).text())
    assert '<span class="state-bad">(1 en échec)</span>' in page
    assert "Réessayer toutes les livraisons en échec" in page

    await b.add_peer(a)  # B's operator adds A: now both sides trust each other
    [batch_id] = re.findall(r'name="batch" value="([0-9]+)"', page)
    retried = await client.post("/admin/federation/retry", data={"_csrf": csrf_of(page), "batch": batch_id})
    page = html.unescape(await retried.text())
    assert "1 lot(s) remis en file, 1 livré(s) maintenant." in page
    assert "Tous les changements ont été livrés." in page
    assert len(await b.records("rq-lilas")) == 1  # A's activity reached B

    synced = await client.post("/admin/federation/sync", data={"_csrf": csrf_of(page), "peer": "rq-voisine"})
    page = html.unescape(await synced.text())
    assert "Régie rq-voisine : 2 enregistrement(s) reçu(s)" in page  # its profile and its activity
    assert "aucune" in page  # no error left on the peer
    assert [r["title"] for r in (await a.records("rq-voisine")).values()] == ["Activité de la voisine"]


async def test_sync_now_while_another_pull_runs_says_so(pair: tuple[Node, Node, TestClient[Any, Any]]) -> None:
    a, b, client = pair
    await b.add_peer(a)
    page = await (await client.get("/admin/federation")).text()
    async with pull_lease.held(a.context.engine, "rq-voisine"):  # the background worker, say, is pulling B
        synced = await client.post("/admin/federation/sync", data={"_csrf": csrf_of(page), "peer": "rq-voisine"})
    page = html.unescape(await synced.text())
    assert (
        "Régie rq-voisine : une synchronisation est déjà en cours ; ses enregistrements arriveront avec elle." in page
    )
    peer = await persistence.get_peer(a.context.engine, "rq-voisine")
    assert peer is not None and peer.last_error is None  # not a failure: nothing recorded on the peer


async def test_a_lone_node_is_not_told_that_everything_was_delivered(staff: Any) -> None:
    page = html.unescape(await (await staff.get("/admin/federation")).text())
    assert "Rien n'est envoyé : ce nœud n'a aucune régie partenaire" in page
    assert "Tous les changements ont été livrés" not in page
    assert "<code>regies network join</code>" in page and "`" not in page


async def test_a_link_cannot_word_the_pages_notice(pair: tuple[Node, Node, TestClient[Any, Any]]) -> None:
    _a, _b, client = pair
    forged = "Votre compte est suspendu : appelez le 08 99 00 00 00"
    for query in (
        {"message": forged},
        {"done": "sync", "failed": forged, "received": f"{forged}:3", "busy": "rq-inconnue"},
        {"done": "retry", "queued": forged, "delivered": "1"},
        {"done": "sync", "received": "rq-voisine:" + "9" * 40},
    ):
        page = html.unescape(await (await client.get("/admin/federation", params=query)).text())
        assert forged not in page and "9" * 40 not in page
        assert 'class="notice"' not in page
    page = html.unescape(
        await (await client.get("/admin/federation", params={"done": "sync", "received": "rq-voisine:3"})).text()
    )
    assert "Régie rq-voisine : 3 enregistrement(s) reçu(s)" in page  # the name comes from the peer's row


async def test_a_huge_or_odd_batch_id_is_refused_in_french(pair: tuple[Node, Node, TestClient[Any, Any]]) -> None:
    _a, _b, client = pair
    page = await (await client.get("/admin/federation")).text()
    for batch in ("9" * 30, "²", "-1", str(2**63)):
        answer = await client.post("/admin/federation/retry", data={"_csrf": csrf_of(page), "batch": batch})
        assert answer.status == 400
        assert "Cette livraison n'existe pas" in html.unescape(await answer.text())
