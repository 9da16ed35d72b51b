"""Outbound requests are narrow: no redirects, no private addresses unless allowed, https, bounded answers, key
refreshes only for well-formed requests, and stored errors that never quote what the other side answered."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import secrets
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from federation.protocol import persistence, sender
from federation.protocol.addresses import AddressRefused, CheckedResolver, non_public_kind
from federation.protocol.keys import PublicKeyInfo
from federation.protocol.signing import HttpMessage, sign_request, sign_response
from federation.protocol.transport import TransportError
from federation.storage.tables import enrolments, outbox_batches, records
from tests.protocol.conftest import Node, NodeFactory, activity, failed_pull

Serve = Callable[[web.Application], Awaitable[str]]
SECRET = "secret-interne-7f3a"


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """`await serve(app)` → the URL of `app` served on 127.0.0.1 (an attacker's server, an internal service)."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


def internal_service(hits: Counter[str]) -> web.Application:
    """What an attacker would like a node to reach: it counts every request and answers a secret."""

    async def answer(request: web.Request) -> web.Response:
        hits[f"{request.method} {request.path}"] += 1
        return web.Response(status=500, text=f"{SECRET} " * 200, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return app


def redirector(target: str) -> web.Application:
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(target + request.path_qs)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    return app


async def pin(node: Node, other: Node, base_url: str, **modes: bool) -> None:
    """`node` trusts `other`'s keys at `base_url` (as if its operator had added it there)."""
    keys = [PublicKeyInfo.from_jwk(jwk) for jwk in (await other.get("/.well-known/regies-node"))[1]["keys"]]
    await persistence.save_peer(
        node.context.engine, node_id=other.node_id, name=other.node_id, base_url=base_url, keys=keys, **modes
    )


async def test_a_redirected_pull_is_refused_naming_the_target(make_node: NodeFactory, serve: Serve) -> None:
    hits: Counter[str] = Counter()
    internal = await serve(internal_service(hits))
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b)
    await a.create("activities", activity(1))
    await pin(b, a, await serve(redirector(internal)))

    peer = await failed_pull(b, "rq-a", "a redirect to")
    assert peer.last_error is not None and f"a redirect to '{internal}/federation/v1/changes" in peer.last_error
    assert "never follow redirects" in peer.last_error
    assert not hits  # the internal service heard nothing
    assert await b.records("rq-a") == {}


async def test_a_redirected_push_keeps_the_records_and_names_the_target(make_node: NodeFactory, serve: Serve) -> None:
    hits: Counter[str] = Counter()
    internal = await serve(internal_service(hits))
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await b.add_peer(a)
    await pin(a, b, await serve(redirector(internal)), push=True, pull=False)
    await a.create("activities", activity(1, title="Chantier confidentiel"))

    await sender.push_all(a.context)
    assert not hits  # the POST and its records went nowhere else
    async with a.context.engine.connect() as connection:
        (state, error) = (await connection.execute(select(outbox_batches.c.state, outbox_batches.c.last_error))).one()
    assert state == "pending"  # kept for a later delivery
    assert f"answered 307, a redirect to '{internal}/federation/v1/inbox'" in error
    assert await b.records("rq-a") == {}


async def test_private_and_loopback_addresses_are_refused_unless_allowed(make_node: NodeFactory) -> None:
    hits: Counter[str] = Counter()
    strict = await make_node("rq-strict", allow_private_addresses=False)
    victim = await make_node("rq-victim")
    port = victim.server.port
    client = strict.context.client
    for url in (victim.url, f"http://localhost:{port}", f"https://[::1]:{port}", f"https://[::ffff:127.0.0.1]:{port}"):
        with pytest.raises(TransportError, match="loopback address"):
            await client.fetch_discovery(url)
    for url, kind in (
        ("https://10.1.2.3", "private"),
        ("https://169.254.169.254", "link-local"),
        ("https://[fe80::1]", "link-local"),
        ("https://192.168.1.10", "private"),
    ):
        with pytest.raises(TransportError, match=f"is a {kind} address"):
            await client.request("GET", f"{url}/federation/v1/changes")
    with pytest.raises(TransportError, match="uses plain http"):
        await client.fetch_discovery("http://regie.example.org")
    with pytest.raises(TransportError, match="user name or password"):
        await client.fetch_discovery("https://user:pw@regie.example.org")
    with pytest.raises(TransportError, match="'localhost' is a loopback address"):
        await client.request("GET", f"https://localhost:{port}/federation/v1/changes")
    assert not hits
    # With the setting, loopback is reachable (over http too: development on one machine).
    allowed = await make_node("rq-dev")
    assert (await allowed.context.client.fetch_discovery(victim.url)).node_id == "rq-victim"
    with pytest.raises(TransportError, match="uses plain http"):
        await allowed.context.client.fetch_discovery("http://10.1.2.3")  # http only on loopback, even then


async def test_a_host_name_is_checked_when_connecting_so_dns_cannot_rebind_it(make_node: NodeFactory) -> None:
    """A name that passes the URL check but resolves to a non-public address is refused by the resolver: what a
    rebinding DNS server would answer after the check is what the connection sees."""
    strict = await make_node("rq-strict", allow_private_addresses=False)
    victim = await make_node("rq-victim")
    resolver = CheckedResolver(strict.context.client.policy)
    with pytest.raises(AddressRefused, match=r"'localhost' .*is a loopback address"):
        await resolver.resolve("localhost", victim.server.port)
    await resolver.close()
    name = socket.gethostname()  # in /etc/hosts: this machine's own, loopback or private, address
    addresses = {info[4][0] for info in await asyncio.get_running_loop().getaddrinfo(name, None)}
    assert all(non_public_kind(ipaddress.ip_address(address)) for address in addresses), addresses
    strict.context.client.check_url(f"https://{name}:{victim.server.port}")  # a name passes the URL check…
    with pytest.raises(TransportError, match=f"'{name}' .*address: this node contacts only public addresses"):
        await strict.context.client.request("GET", f"https://{name}:{victim.server.port}/federation/v1/changes")


async def test_a_discovery_document_naming_a_private_base_url_is_refused(make_node: NodeFactory) -> None:
    """The document of a node at an allowed address cannot point this node at another one."""
    allowed = await make_node("rq-dev")
    victim = await make_node("rq-victim")
    victim.settings.server.base_url = "https://169.254.169.254"
    allowed.context.client.policy.allow_private = False
    with pytest.raises(TransportError, match="loopback"):  # refused first for its own address
        await allowed.context.client.fetch_discovery(victim.url)
    allowed.context.client.policy.allow_private = True
    victim.settings.server.base_url = "http://192.168.1.10:8080"
    with pytest.raises(TransportError, match=r"names a base URL this node will not contact: .*plain http"):
        await allowed.context.client.fetch_discovery(victim.url)


async def test_the_hub_refuses_a_join_request_naming_a_private_address(make_node: NodeFactory) -> None:
    hub = await make_node("hub-national", plugin_settings={"hub": {"enabled": True}}, allow_private_addresses=False)
    member = await make_node("rq-member")
    _, discovery = await member.get("/.well-known/regies-node")
    _, profile = await member.get("/api/v1/node")
    for base_url in ("http://127.0.0.1:8080", "https://10.0.0.5", "http://regie.example.org"):
        discovery["base_url"] = base_url
        body = json.dumps({"discovery": discovery, "profile": profile}).encode()
        with pytest.raises(TransportError, match="422") as refused:
            await member.context.client.request("POST", f"{hub.url}/plugins/hub/enrolments", body)
        assert refused.value.status == 422
    async with hub.context.engine.connect() as connection:
        assert (await connection.execute(select(enrolments))).first() is None


async def test_stored_errors_hold_a_status_and_a_short_reason_never_the_answer(
    make_node: NodeFactory, serve: Serve
) -> None:
    hits: Counter[str] = Counter()
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await pin(b, a, await serve(internal_service(hits)))
    peer = await failed_pull(b, "rq-a", "500 Internal Server Error")
    assert peer.last_error is not None
    assert SECRET not in peer.last_error
    assert len(peer.last_error) < 300
    assert hits["GET /federation/v1/changes"] == 1


def garbage_signature(node_id: str, kid: str) -> dict[str, str]:
    nonce = secrets.token_urlsafe(18)
    return {
        "Signature-Input": f'regies=("@method" "@target-uri");created=1;keyid="{node_id}#{kid}";nonce="{nonce}"',
        "Signature": "regies=:AAAA:",
    }


async def test_only_a_well_formed_request_refreshes_a_peers_keys_and_at_most_every_30_s(
    make_node: NodeFactory, serve: Serve
) -> None:
    """A forged request naming a pinned peer and a key it does not have must not make this node fetch anything."""
    fetches: Counter[str] = Counter()
    receiver, peer = await make_node("rq-receiver"), await make_node("rq-peer")

    async def counting_proxy(request: web.Request) -> web.Response:
        fetches[request.path] += 1
        async with peer.session.get(peer.url + request.path_qs) as answer:
            return web.Response(status=answer.status, body=await answer.read(), content_type="application/json")

    proxy = web.Application()
    proxy.router.add_get("/{tail:.*}", counting_proxy)
    await pin(receiver, peer, await serve(proxy))
    url = f"{receiver.url}/federation/v1/changes"

    for headers in (
        garbage_signature("rq-peer", "key-unknown"),
        {
            **sign_request("GET", url, None, node_id="rq-peer", kid="k2", private_key=Ed25519PrivateKey.generate()),
            "Signature": "regies=:" + "A" * 88 + ":",
        },
    ):
        async with receiver.session.get(url, headers=dict(headers)) as answer:
            assert answer.status == 401
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    stale = sign_request(
        "GET", url, None, node_id="rq-peer", kid="k2", private_key=Ed25519PrivateKey.generate(), created=long_ago
    )
    async with receiver.session.get(url, headers=dict(stale)) as answer:
        assert answer.status == 401
        assert "older than" in (await answer.json())["detail"]
    assert fetches == Counter()

    # Well formed, signed by a key the receiver does not know (a rotation it has not heard of): one fetch.
    for _ in range(3):
        headers = sign_request("GET", url, None, node_id="rq-peer", kid="k2", private_key=Ed25519PrivateKey.generate())
        async with receiver.session.get(url, headers=dict(headers)) as answer:
            assert answer.status == 401
            assert "even after fetching its discovery document" in (await answer.json())["detail"]
    assert fetches == Counter({"/.well-known/regies-node": 1})  # rate-limited per peer


class HugePage:
    """A peer that answers the feed with an endless page, signed with the peer's own key."""

    def __init__(self, node: Node, chunked: bool) -> None:
        self.node = node
        self.chunked = chunked
        self.sent = 0

    async def changes(self, request: web.Request) -> web.StreamResponse:
        kid, key = self.node.context.identity.keys.signing
        message = HttpMessage("GET", self.node.url + request.path_qs, request.headers)
        head = b'{"origin":"rq-a","records":['
        headers = dict(sign_response(200, head, message, node_id="rq-a", kid=kid, private_key=key))
        if not self.chunked:
            headers["Content-Length"] = str(400 * 1024 * 1024)
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        await response.write(head)
        chunk = b'{"origin":"rq-a","id":"x","kind":"activity"},' * 1000
        try:
            while self.sent < 400 * 1024 * 1024:
                await response.write(chunk)
                self.sent += len(chunk)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return response


@pytest.mark.parametrize("chunked", [True, False], ids=["streamed", "announced"])
async def test_a_huge_feed_page_is_refused_before_it_is_read(
    make_node: NodeFactory, serve: Serve, chunked: bool
) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b", max_answer_bytes=1_048_576)
    await a.add_peer(b)
    page = HugePage(a, chunked)
    app = web.Application()
    app.router.add_get("/federation/v1/changes", page.changes)
    await pin(b, a, await serve(app))

    peer = await failed_pull(b, "rq-a", "bytes")
    assert peer.last_error is not None and "1048576" in peer.last_error
    await asyncio.sleep(0.2)
    assert page.sent < 16 * 1024 * 1024  # the puller stopped reading long before the 400 MB were sent
    async with b.context.engine.connect() as connection:
        assert (await connection.execute(select(records).where(records.c.origin == "rq-a"))).first() is None


async def test_a_page_with_more_records_than_asked_is_refused(make_node: NodeFactory, serve: Serve) -> None:
    """A peer answering 5 records to a request for 2 (each one valid, the page signed by the peer) is refused."""
    a, b = await make_node("rq-a"), await make_node("rq-b", batch_size=2)
    await a.add_peer(b)
    for n in range(5):
        await a.create("activities", activity(n))
    full = await b.context.client.request("GET", f"{a.url}/federation/v1/changes?limit=5")

    async def too_many(request: web.Request) -> web.Response:
        kid, key = a.context.identity.keys.signing
        message = HttpMessage("GET", str(request.url), request.headers)
        return web.Response(
            body=full.body,
            content_type="application/json",
            headers=sign_response(200, full.body, message, node_id="rq-a", kid=kid, private_key=key),
        )

    app = web.Application()
    app.router.add_get("/federation/v1/changes", too_many)
    await pin(b, a, await serve(app))
    peer = await failed_pull(b, "rq-a", "answered 5 records to a request for at most 2")
    assert peer.cursor in (None, "")
    assert await b.records("rq-a") == {}
