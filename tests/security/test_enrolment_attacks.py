"""Attacks on the hub's enrolment, performed against a real hub: signed join requests from freshly generated keys,
coordinators' decisions through the API, the dashboard and the `regies hub` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from multidict import MultiDict
from regies_hubclient import HubClientSettings
from regies_hubclient.cli import _join
from sqlalchemy import func, select, text

from federation.cli import main
from federation.protocol import persistence, sender
from federation.protocol.directory import verify_directory
from federation.protocol.keys import PublicKeyInfo, b64url, create_key, fingerprint, raw_public
from federation.protocol.signing import sign_request
from federation.storage.tables import enrolments, records
from federation.storage.tokens import create_token
from tests.plugins.test_hub import REPORT
from tests.protocol.conftest import Node, NodeFactory, activity

HUB_ID = "hub-national"
HTML = {"Accept": "text/html"}


@dataclass
class ForgedNode:
    """Whoever sends a join request: any node id, any name and address, keys it generated itself."""

    node_id: str
    name: str = "Régie de Belleville"
    base_url: str = "http://127.0.0.1:9"
    private_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.private_keys:
            self.private_keys = {f"key-{uuid.uuid4().hex[:8]}": Ed25519PrivateKey.generate()}

    @property
    def public_keys(self) -> list[PublicKeyInfo]:
        return [
            PublicKeyInfo(kid, b64url(raw_public(key.public_key())), int(time.time()))
            for kid, key in self.private_keys.items()
        ]

    @property
    def fingerprints(self) -> list[str]:
        return [fingerprint(key.x) for key in self.public_keys]

    def join_body(self, **discovery: Any) -> dict[str, Any]:
        now = "2025-12-07T09:00:00Z"
        return {
            "discovery": {
                "node_id": self.node_id,
                "name": self.name,
                "base_url": self.base_url,
                "keys": [key.jwk() for key in self.public_keys],
                **discovery,
            },
            "profile": {
                "origin": self.node_id,
                "id": str(uuid.uuid4()),
                "version": 1,
                "updated_at": now,
                "name": self.name,
                "kind": "quartier",
                "commune": "75056",
                "label_status": "labellisee",
            },
        }

    async def join(
        self,
        hub: Node,
        body: dict[str, Any] | bytes | None = None,
        signing_kid: str | None = None,
        forwarded_for: str | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """POST a join request signed by one of this node's keys: (status, headers, JSON answer)."""
        data = body if isinstance(body, bytes) else json.dumps(body or self.join_body()).encode()
        kid = signing_kid or next(iter(self.private_keys))
        url = f"{hub.url}/plugins/hub/enrolments"
        headers = sign_request("POST", url, data, node_id=self.node_id, kid=kid, private_key=self.private_keys[kid])
        headers["Content-Type"] = "application/json"
        if forwarded_for:  # as a reverse proxy on the hub's machine passes the client's address on
            headers["X-Forwarded-For"] = forwarded_for
        async with hub.session.post(url, data=data, headers=headers) as response:
            answer = await response.json() if "json" in response.content_type else await response.text()
            return response.status, dict(response.headers), answer


async def enrolment_rows(hub: Node) -> list[dict[str, Any]]:
    async with hub.context.engine.connect() as connection:
        rows = await connection.execute(select(enrolments).order_by(enrolments.c.id))
        return [dict(row) for row in rows.mappings()]


async def coordinator(hub: Node, role: str = "national", region: str | None = None) -> dict[str, str]:
    token = await create_token(hub.context.engine, f"coordination {role} {region or ''}", role, region)
    return {"Authorization": f"Bearer {token}"}


async def hub_call(hub: Node, method: str, path: str, auth: dict[str, str], body: Any = None) -> tuple[int, Any]:
    async with hub.session.request(method, f"{hub.url}/plugins/hub{path}", json=body, headers=auth) as response:
        return response.status, await response.json()


async def signed_directory(hub: Node) -> dict[str, list[str]]:
    """The directory's members and the fingerprints it publishes for them, checked with the hub's key."""
    async with hub.session.get(f"{hub.url}/plugins/hub/directory") as response:
        document = await response.json()
    hub_keys = {key.kid: key for key in hub.context.identity.keys.published}
    return {
        node["node_id"]: [fingerprint(jwk["x"]) for jwk in node["keys"]]
        for node in verify_directory(document, hub_keys)
    }


def node_fingerprints(node: Node) -> list[str]:
    return [fingerprint(key.x) for key in node.context.identity.keys.published]


async def make_hub(make_node: NodeFactory, database_url: str | None = None, **limits: int) -> Node:
    # Behind a reverse proxy on its own machine, which names each client in X-Forwarded-For.
    return await make_node(
        HUB_ID,
        database_url,
        plugin_settings={"hub": {"enabled": True, **limits}},
        web={"trusted_proxies": ["127.0.0.1"]},
    )


async def make_regie(make_node: NodeFactory, hub: Node, node_id: str = "rq-paris") -> Node:
    """A real régie that asked to join `hub` with `regies network join`."""
    node = await make_node(node_id, plugin_settings={"hubclient": {"url": hub.url}})
    profile = {"name": "Régie de Belleville", "kind": "quartier", "commune": "75056", "label_status": "labellisee"}
    async with node.session.put(f"{node.url}/api/v1/node", json=profile, headers=node.auth) as response:
        assert response.status == 200
    config = HubClientSettings(url=hub.url, fingerprint=fingerprint(hub.context.identity.keys.published[0].x))
    assert await _join(argparse.Namespace(url=None, fingerprint=None), node.opened, config) == 0
    return node


@pytest.fixture
async def hub(make_node: NodeFactory, database_url: str) -> Node:
    """A hub on SQLite, then on PostgreSQL."""
    return await make_hub(make_node, database_url)


# --- Takeover of a régie's enrolment ----------------------------------------------------------------------


async def test_a_second_request_with_other_keys_is_refused_and_the_first_keys_stay(
    make_node: NodeFactory, hub: Node
) -> None:
    regie = await make_regie(make_node, hub)
    before = await enrolment_rows(hub)
    impostor = ForgedNode("rq-paris", name="Régie de Belleville (nouvelle clé)")
    status, headers, problem = await impostor.join(hub)
    assert status == 409 and problem["type"].endswith("conflict")
    assert "already awaits a decision with other keys" in problem["detail"]
    assert problem["errors"] == [{"pointer": "/discovery/keys", "detail": problem["detail"]}]
    assert "Retry-After" not in headers  # asking again changes nothing: no client is told to come back
    assert await enrolment_rows(hub) == before  # nothing merged, nothing added
    status, listing = await hub_call(hub, "GET", "/enrolments", await coordinator(hub))
    (only,) = listing["items"]
    assert [key["fingerprint"] for key in only["keys"]] == node_fingerprints(regie)
    assert only["name"] == "Régie de Belleville"


async def test_two_requests_with_other_keys_at_the_same_moment_store_one(hub: Node) -> None:
    racers = [ForgedNode("rq-paris") for _ in range(4)]
    answers = await asyncio.gather(*(racer.join(hub) for racer in racers))
    statuses = sorted(status for status, _headers, _answer in answers)
    assert statuses == [202, 409, 409, 409], answers
    (stored,) = await enrolment_rows(hub)
    winner = next(racer for racer, (status, _h, _a) in zip(racers, answers, strict=True) if status == 202)
    assert [fingerprint(jwk["x"]) for jwk in json.loads(stored["keys"])] == winner.fingerprints


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite lets one writer in at a time
async def test_a_request_stored_while_another_was_checked_is_the_one_kept(hub: Node) -> None:
    """The race made certain: a request for the same id, stored but not yet committed while this one is checked,
    is invisible to its checks; the unique index stops this one, and its sender hears 409, not a server error."""
    first, second = ForgedNode("rq-paris"), ForgedNode("rq-paris")
    async with hub.context.engine.connect() as other_request:
        await other_request.begin()
        values = {"keys": json.dumps([key.jwk() for key in first.public_keys]), "requested_at_us": 1}
        await other_request.execute(
            enrolments.insert().values(
                node_id="rq-paris", name="x", base_url="http://127.0.0.1:9", state="pending", **values
            )
        )
        joining = asyncio.create_task(second.join(hub))
        async with hub.context.engine.connect() as watcher:  # until the second request waits on the index
            waiting = text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            for _ in range(200):
                if joining.done() or await watcher.scalar(waiting):
                    break
                await asyncio.sleep(0.05)
        await other_request.commit()
    status, _headers, problem = await joining
    assert status == 409 and "arrived at the same moment" in problem["detail"], problem
    assert problem["errors"][0]["pointer"] == "/discovery/node_id"
    (kept,) = await enrolment_rows(hub)
    assert [fingerprint(jwk["x"]) for jwk in json.loads(kept["keys"])] == first.fingerprints


async def test_a_squatted_request_cannot_be_approved_with_the_real_regies_fingerprint(
    make_node: NodeFactory, hub: Node
) -> None:
    """The impostor asks first in the régie's name; the coordinator confirms what the real operator reads out."""
    impostor = ForgedNode("rq-paris")
    assert (await impostor.join(hub))[0] == 202
    auth = await coordinator(hub)
    _status, listing = await hub_call(hub, "GET", "/enrolments?state=pending", auth)
    (squatted,) = listing["items"]
    assert [key["fingerprint"] for key in squatted["keys"]] == impostor.fingerprints  # what coordinators compare
    real_fingerprint = fingerprint(b64url(raw_public(Ed25519PrivateKey.generate().public_key())))
    for body in (None, {}, {"fingerprints": [real_fingerprint]}, {"fingerprints": ["*"]}):
        status, problem = await hub_call(hub, "POST", f"/enrolments/{squatted['id']}/approve", auth, body)
        assert status == 422 and problem["errors"][0]["pointer"] == "/fingerprints", body
    assert await persistence.get_peer(hub.context.engine, "rq-paris") is None
    assert await signed_directory(hub) == {}
    assert [row["state"] for row in await enrolment_rows(hub)] == ["pending"]


async def test_an_approval_confirms_every_key_not_just_one(hub: Node) -> None:
    """A request may carry the real régie's public key next to the impostor's: confirming one key is not enough."""
    impostor = ForgedNode("rq-paris")
    assert (await impostor.join(hub))[0] == 202
    (row,) = await enrolment_rows(hub)
    second = ForgedNode("rq-lyon", private_keys={"a": Ed25519PrivateKey.generate(), "b": Ed25519PrivateKey.generate()})
    assert (await second.join(hub, signing_kid="a"))[0] == 202
    two = (await enrolment_rows(hub))[-1]
    auth = await coordinator(hub)
    status, problem = await hub_call(
        hub, "POST", f"/enrolments/{two['id']}/approve", auth, {"fingerprints": second.fingerprints[:1]}
    )
    assert status == 422 and "not confirmed: b" in problem["detail"]
    status, approved = await hub_call(
        hub, "POST", f"/enrolments/{two['id']}/approve", auth, {"fingerprints": second.fingerprints}
    )
    assert status == 200 and approved["state"] == "approved"
    assert (await signed_directory(hub))["rq-lyon"] == second.fingerprints
    assert row["state"] == "pending"


async def test_a_member_cannot_be_taken_over_by_a_new_request(make_node: NodeFactory, hub: Node) -> None:
    regie = await make_regie(make_node, hub)
    auth = await coordinator(hub)
    (pending,) = await enrolment_rows(hub)
    body = {"fingerprints": node_fingerprints(regie)}
    assert (await hub_call(hub, "POST", f"/enrolments/{pending['id']}/approve", auth, body))[0] == 200
    directory_before, rows_before = await signed_directory(hub), await enrolment_rows(hub)
    impostor = ForgedNode("rq-paris", base_url="http://127.0.0.1:1")
    status, _headers, problem = await impostor.join(hub)
    assert status == 409 and "already a member of the network with other keys" in problem["detail"]
    assert await signed_directory(hub) == directory_before == {"rq-paris": node_fingerprints(regie)}
    assert await enrolment_rows(hub) == rows_before
    peer = await persistence.get_peer(hub.context.engine, "rq-paris")
    assert peer is not None and peer.base_url == regie.settings.public_base_url.rstrip("/")
    # The member itself, signing with its own key, is told it is a member: nothing changes either.
    config = HubClientSettings(url=hub.url, fingerprint=fingerprint(hub.context.identity.keys.published[0].x))
    assert await _join(argparse.Namespace(url=None, fingerprint=None), regie.opened, config) == 0
    assert await enrolment_rows(hub) == rows_before


async def test_a_member_signing_with_a_key_it_rotated_to_is_told_it_is_a_member(hub: Node) -> None:
    member = ForgedNode("rq-paris")
    assert (await member.join(hub))[0] == 202
    (pending,) = await enrolment_rows(hub)
    body = {"fingerprints": member.fingerprints}
    assert (await hub_call(hub, "POST", f"/enrolments/{pending['id']}/approve", await coordinator(hub), body))[0] == 200
    # It rotates to a new key, which the hub pins once the rotation proof verifies; the old one is retired.
    member.private_keys = {"rotated": Ed25519PrivateKey.generate()}
    await persistence.update_peer_keys(hub.context.engine, "rq-paris", member.public_keys)
    rows = await enrolment_rows(hub)
    status, _headers, answer = await member.join(hub)
    assert status == 200 and answer["state"] == "approved", answer
    assert await enrolment_rows(hub) == rows


async def test_enrolment_for_the_hubs_own_id_or_a_peers_is_refused(make_node: NodeFactory, hub: Node) -> None:
    other = await make_node("rq-voisine")
    await hub.add_peer(other)
    for node_id, detail in ((HUB_ID, "this hub's own node id"), ("rq-voisine", "the node id of a peer of this hub")):
        status, _headers, problem = await ForgedNode(node_id).join(hub)
        assert status == 409 and detail in problem["detail"]
        assert problem["errors"][0]["pointer"] == "/discovery/node_id"
    assert await enrolment_rows(hub) == []
    peer = await persistence.get_peer(hub.context.engine, "rq-voisine")
    assert peer is not None and peer.role == "peer"


async def test_a_request_for_an_id_that_became_a_peers_cannot_be_approved(make_node: NodeFactory, hub: Node) -> None:
    """Stored while the id was free, then the hub's operator added a peer of that id: approving the request would
    hand the peer's place to whoever asked, so it is refused and the peer stays as it was."""
    forged = ForgedNode("rq-voisine")
    assert (await forged.join(hub))[0] == 202
    await hub.add_peer(await make_node("rq-voisine"))
    auth = await coordinator(hub)
    (pending,) = await enrolment_rows(hub)
    path = f"/enrolments/{pending['id']}/approve"
    status, problem = await hub_call(hub, "POST", path, auth, {"fingerprints": forged.fingerprints})
    assert status == 409 and "the node id of a peer of this hub" in problem["detail"]
    peer = await persistence.get_peer(hub.context.engine, "rq-voisine")
    assert peer is not None and peer.role == "peer"
    status, rejected = await hub_call(hub, "POST", f"/enrolments/{pending['id']}/reject", auth, {"comment": "pair"})
    assert (status, rejected["state"]) == (200, "rejected")
    status, problem = await hub_call(hub, "POST", f"/enrolments/{pending['id']}/reject", auth, {"comment": "encore"})
    assert status == 409 and "already rejected" in problem["detail"]


async def test_coordinators_deciding_one_request_at_once_decide_it_once(hub: Node) -> None:
    """One decision holds; the others are told it was taken (409: nothing to retry), the peer entry follows it."""
    forged = ForgedNode("rq-paris")
    assert (await forged.join(hub))[0] == 202
    (pending,) = await enrolment_rows(hub)
    auth = await coordinator(hub)
    path = f"/enrolments/{pending['id']}"
    approval = hub_call(hub, "POST", f"{path}/approve", auth, {"fingerprints": forged.fingerprints})
    rejections = [hub_call(hub, "POST", f"{path}/reject", auth, {"comment": f"refus {n}"}) for n in range(3)]
    answers = await asyncio.gather(approval, *rejections)
    assert sorted(status for status, _answer in answers) == [200, 409, 409, 409], answers
    (winner,) = [answer for status, answer in answers if status == 200]
    (decided,) = await enrolment_rows(hub)
    assert (decided["state"], decided["comment"]) == (winner["state"], winner["comment"])
    peer = await persistence.get_peer(hub.context.engine, "rq-paris")
    assert (peer is not None) == (winner["state"] == "approved")


# --- Revocation -------------------------------------------------------------------------------------------


async def test_a_revoked_member_is_out_of_the_directory_and_its_keys_are_refused(
    make_node: NodeFactory, hub: Node
) -> None:
    regie = await make_regie(make_node, hub)
    auth = await coordinator(hub)
    (pending,) = await enrolment_rows(hub)
    body = {"fingerprints": node_fingerprints(regie)}
    assert (await hub_call(hub, "POST", f"/enrolments/{pending['id']}/approve", auth, body))[0] == 200
    member = await persistence.get_peer(hub.context.engine, "rq-paris")
    assert member is not None and (member.role, member.push) == ("member", False)  # the hub sends members nothing
    await regie.create("activities", activity(1))
    await regie.create("reports", {**REPORT, "state": "submitted"})
    assert await sender.push_all(regie.context) == {"target:hub": 1}
    assert len(await hub.records("rq-paris")) == 1

    # The member rotates its key and the hub pins the new one (as it does once the rotation proof verifies).
    rotated = await create_key(regie.context.engine, regie.settings.keys_dir, "rq-paris")
    pinned = await persistence.get_peer(hub.context.engine, "rq-paris")
    assert pinned is not None
    await persistence.update_peer_keys(hub.context.engine, "rq-paris", [*pinned.keys, rotated])

    other_region = await coordinator(hub, "regional", "84")
    assert (await hub_call(hub, "POST", "/members/rq-paris/revoke", other_region, {"comment": "x"}))[0] == 403
    status, problem = await hub_call(hub, "POST", "/members/rq-paris/revoke", auth, {})
    assert status == 422 and problem["errors"] == [{"pointer": "/comment", "detail": "required"}]
    status, revoked = await hub_call(hub, "POST", "/members/rq-paris/revoke", auth, {"comment": "Clé compromise"})
    assert status == 200
    assert (revoked["state"], revoked["revoke_reason"]) == ("revoked", "Clé compromise")
    assert revoked["revoked_by"] and revoked["revoked_at"]
    assert (await hub_call(hub, "POST", "/members/rq-paris/revoke", auth, {"comment": "encore"}))[0] == 404

    assert await signed_directory(hub) == {}
    await regie.create("activities", activity(2))
    assert await sender.push_all(regie.context) == {"target:hub": 0}  # 401: the hub refuses its keys
    (refused,) = [batch for batch in await sender.list_outbox(regie.context) if batch.state == "pending"]
    assert "401" in (refused.last_error or "")
    assert len(await hub.records("rq-paris")) == 1  # what it sent before is kept
    async with hub.context.engine.connect() as connection:
        kept = await connection.scalar(select(func.count()).select_from(records).where(records.c.origin == "rq-paris"))
    assert kept and kept >= 1
    status, listing = await hub_call(hub, "GET", "/enrolments?state=revoked", auth)
    assert [item["node_id"] for item in listing["items"]] == ["rq-paris"]
    status, reports = await hub_call(hub, "GET", "/reports?period=2025", auth)
    assert [(item["origin"], item["membership"]) for item in reports["items"]] == [("rq-paris", "revoked")]
    peer = await persistence.get_peer(hub.context.engine, "rq-paris")
    assert peer is not None and (peer.status, peer.pull, peer.push) == ("revoked", False, False)  # no more pulls

    # Its revoked key cannot come back through a new join request, not even in a list of new keys.
    rows = await enrolment_rows(hub)
    config = HubClientSettings(url=hub.url, fingerprint=fingerprint(hub.context.identity.keys.published[0].x))
    from federation.errors import CommandError

    with pytest.raises(CommandError, match="403"):
        await _join(argparse.Namespace(url=None, fingerprint=None), regie.opened, config)
    smuggled = ForgedNode("rq-paris")
    body_with_old_key = smuggled.join_body()
    body_with_old_key["discovery"]["keys"].append(regie.context.identity.keys.published[0].jwk())
    status, _headers, problem = await smuggled.join(hub, body_with_old_key)
    assert status == 403 and problem["errors"][0]["pointer"] == "/discovery/keys"
    body_with_rotated_key = smuggled.join_body()
    body_with_rotated_key["discovery"]["keys"].append(rotated.jwk())
    assert (await smuggled.join(hub, body_with_rotated_key))[0] == 403
    assert await enrolment_rows(hub) == rows
    # With new keys it asks again, and coordinators decide again, the new fingerprint shown.
    assert (await smuggled.join(hub))[0] == 202
    status, listing = await hub_call(hub, "GET", "/enrolments?state=pending", auth)
    assert [key["fingerprint"] for key in listing["items"][0]["keys"]] == smuggled.fingerprints
    assert await signed_directory(hub) == {}


async def test_approve_and_revoke_from_the_command_line(
    make_node: NodeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = await make_hub(make_node)  # on SQLite in its data directory, which the command finds
    regie = await make_regie(make_node, hub)
    (pending,) = await enrolment_rows(hub)
    data_dir = str(hub.settings.data_dir)
    capsys.readouterr()
    # Only a member can be revoked: a request awaiting a decision stays one, an unknown id is said to be unknown.
    for node_id in ("rq-paris", "rq-inconnue"):
        assert await asyncio.to_thread(main, ["--data-dir", data_dir, "hub", "revoke", node_id, "--reason", "x"]) == 1
        assert "is not a member of the network" in capsys.readouterr().err
    assert [row["state"] for row in await enrolment_rows(hub)] == ["pending"]
    assert await asyncio.to_thread(main, ["--data-dir", data_dir, "hub", "approve", str(pending["id"])]) == 1
    assert "--fingerprint" in capsys.readouterr().err  # no terminal: the fingerprint must be given
    confirmed = [arg for value in node_fingerprints(regie) for arg in ("--fingerprint", value)]
    argv = ["--data-dir", data_dir, "hub", "approve", str(pending["id"]), *confirmed]
    assert await asyncio.to_thread(main, argv) == 0
    assert "now approved" in capsys.readouterr().out
    argv = ["--data-dir", data_dir, "hub", "revoke", "rq-paris", "--reason", "a quitté le réseau"]
    assert await asyncio.to_thread(main, argv) == 0
    assert await signed_directory(hub) == {}
    assert (await enrolment_rows(hub))[0]["state"] == "revoked"


async def test_a_member_removed_as_a_peer_is_no_longer_published(make_node: NodeFactory, hub: Node) -> None:
    regie = await make_regie(make_node, hub)
    (pending,) = await enrolment_rows(hub)
    body = {"fingerprints": node_fingerprints(regie)}
    assert (await hub_call(hub, "POST", f"/enrolments/{pending['id']}/approve", await coordinator(hub), body))[0] == 200
    assert list(await signed_directory(hub)) == ["rq-paris"]
    assert await persistence.remove_peer(hub.context.engine, "rq-paris")
    assert await signed_directory(hub) == {}


# --- Spam -------------------------------------------------------------------------------------------------


async def test_oversized_requests_and_key_lists_are_refused_before_storing(hub: Node) -> None:
    forged = ForgedNode("rq-spam")
    huge = json.dumps({**forged.join_body(), "padding": "x" * 70_000}).encode()
    status, _headers, problem = await forged.join(hub, huge)
    assert status == 413 and problem["type"].endswith("too-large")
    many = ForgedNode("rq-spam", private_keys={f"k{n}": Ed25519PrivateKey.generate() for n in range(5)})
    status, _headers, problem = await many.join(hub, signing_kid="k0")
    assert status == 422 and problem["errors"][0]["pointer"] == "/discovery/keys"
    long_kid = ForgedNode("rq-spam", private_keys={"k" * 101: Ed25519PrivateKey.generate()})
    assert (await long_kid.join(hub))[0] in (401, 422)
    long_url = ForgedNode("rq-spam", base_url="https://example.org/" + "a" * 500)
    status, _headers, problem = await long_url.join(hub)
    assert status == 422 and problem["errors"][0]["pointer"] == "/discovery/base_url"
    assert await enrolment_rows(hub) == []
    no_name, foreign = forged.join_body(), forged.join_body()
    del no_name["profile"]["name"]
    foreign["profile"]["origin"] = "rq-paris"
    for body, pointer in ((no_name, "/profile/name"), (foreign, "/profile/origin")):
        status, _headers, problem = await forged.join(hub, body)
        assert status == 422 and problem["errors"][0]["pointer"] == pointer, problem
    assert await enrolment_rows(hub) == []
    # The largest allowed is stored like any other: the longest key id, four keys, the longest address.
    longest_kid = ForgedNode("rq-spam", private_keys={"k" * 100: Ed25519PrivateKey.generate()})
    assert (await longest_kid.join(hub))[0] == 202
    four_keys = ForgedNode("rq-four", private_keys={f"k{n}": Ed25519PrivateKey.generate() for n in range(4)})
    assert (await four_keys.join(hub, signing_kid="k0"))[0] == 202
    longest_url = "http://127.0.0.1:9/" + "a" * (500 - len("http://127.0.0.1:9/"))
    assert (await ForgedNode("rq-long", base_url=longest_url).join(hub))[0] == 202
    assert [row["node_id"] for row in await enrolment_rows(hub)] == ["rq-spam", "rq-four", "rq-long"]


async def test_pending_requests_are_capped_per_source_and_in_all(make_node: NodeFactory) -> None:
    hub = await make_hub(make_node, enrolment_max_pending=4, enrolment_max_pending_per_source=2)
    # Behind the hub's reverse proxy the client's address is the one the proxy appended last.
    spammer = "attacker-chosen, 198.51.100.7"
    for n in range(2):
        assert (await ForgedNode(f"rq-spam-{n}").join(hub, forwarded_for=spammer))[0] == 202
    status, headers, problem = await ForgedNode("rq-spam-2").join(hub, forwarded_for="192.0.2.1, 198.51.100.7")
    assert status == 429 and "from this address" in problem["detail"] and int(headers["Retry-After"]) > 0
    # Other addresses fill the rest: the total cap holds whoever asks.
    for n in range(3, 5):
        assert (await ForgedNode(f"rq-spam-{n}").join(hub, forwarded_for=f"203.0.113.{n}"))[0] == 202
    status, headers, problem = await ForgedNode("rq-spam-5").join(hub, forwarded_for="203.0.113.99")
    assert status == 429 and "too many join requests awaiting a decision" in problem["detail"]
    assert "Retry-After" in headers
    rows = await enrolment_rows(hub)
    assert [(row["node_id"], row["source"]) for row in rows] == [
        ("rq-spam-0", "198.51.100.7"),
        ("rq-spam-1", "198.51.100.7"),
        ("rq-spam-3", "203.0.113.3"),
        ("rq-spam-4", "203.0.113.4"),
    ]


async def test_a_proxys_name_for_a_client_is_kept_to_the_columns_width(hub: Node) -> None:
    """A proxy that hides its clients names them with an obfuscated identifier, not an address: coordinators see
    it as given, up to the 64 characters of the column, and the per-address cap counts it as one address."""
    hidden = "_" + "h" * 63 + "-tail-cut-off"
    assert (await ForgedNode("rq-hidden").join(hub, forwarded_for=hidden))[0] == 202
    status, listing = await hub_call(hub, "GET", "/enrolments", await coordinator(hub))
    assert status == 200 and [item["source"] for item in listing["items"]] == [hidden[:64]]


async def test_join_requests_are_rate_limited_per_address(make_node: NodeFactory) -> None:
    hub = await make_hub(make_node, enrolment_requests_per_hour=3, enrolment_max_pending_per_source=100)
    for n in range(3):
        assert (await ForgedNode(f"rq-flood-{n}").join(hub))[0] == 202
    status, headers, problem = await ForgedNode("rq-flood-3").join(hub)
    assert status == 429 and problem["type"].endswith("too-many-requests")
    assert 0 < int(headers["Retry-After"]) <= 3600
    # Unsigned garbage counts as well: flooding cannot go around the limit.
    async with hub.session.post(f"{hub.url}/plugins/hub/enrolments", data=b"{}") as response:
        assert response.status == 429
    assert len(await enrolment_rows(hub)) == 3


async def test_approvals_are_paged_in_the_api_and_on_the_page(make_node: NodeFactory, regies_login: Any) -> None:
    hub = await make_hub(make_node, enrolment_max_pending_per_source=100, enrolment_requests_per_hour=100)
    for n in range(30):
        assert (await ForgedNode(f"rq-page-{n:02}").join(hub))[0] == 202
    auth = await coordinator(hub)
    seen: list[str] = []
    path: str | None = "/enrolments?state=pending&limit=12"
    while path:
        status, page = await hub_call(hub, "GET", path, auth)
        assert status == 200 and len(page["items"]) <= 12
        seen += [item["node_id"] for item in page["items"]]
        path = page["next"] and page["next"].removeprefix("/plugins/hub")
    assert seen == [f"rq-page-{n:02}" for n in range(30)]
    for bad in ("limit=0", "limit=100000", "after=-1", "limit=abc"):
        status, problem = await hub_call(hub, "GET", f"/enrolments?{bad}", auth)
        assert status == 400 and problem["errors"][0]["pointer"] in ("/limit", "/after")
    async with dashboard(hub, regies_login) as browser:
        first = await (await browser.get("/hub/enrolments", headers=HTML)).text()
        second = await (await browser.get("/hub/enrolments?page=2", headers=HTML)).text()
    assert first.count('action="/hub/enrolments/') == 2 * 25 and "rq-page-24" in first and "rq-page-25" not in first
    assert second.count('action="/hub/enrolments/') == 2 * 5 and "rq-page-29" in second and 'rel="prev"' in second


@contextlib.asynccontextmanager
async def dashboard(hub: Node, regies_login: Any) -> AsyncIterator[TestClient[Any, Any]]:
    """A national coordinator logged in on the hub's pages (closing it stops the hub's server: use it last)."""
    client: TestClient[Any, Any] = TestClient(hub.server)
    await client.start_server()
    try:
        assert (await regies_login(client, "national")).status == 303
        yield client
    finally:
        await client.close()


def csrf(page: str) -> str:
    match = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert match
    return match.group(1)


async def test_the_dashboard_approval_needs_the_fingerprint_and_can_revoke(hub: Node, regies_login: Any) -> None:
    impostor = ForgedNode("rq-paris")
    assert (await impostor.join(hub))[0] == 202
    (row,) = await enrolment_rows(hub)
    async with dashboard(hub, regies_login) as browser:
        page = await (await browser.get("/hub/enrolments", headers=HTML)).text()
        assert impostor.fingerprints[0] in page  # shown, to compare with what the régie's operator reads out
        real = fingerprint(b64url(raw_public(Ed25519PrivateKey.generate().public_key())))
        for typed in ([], [real], [""]):
            form = MultiDict([("_csrf", csrf(page)), *(("fingerprint", value) for value in typed)])
            refused = await browser.post(f"/hub/enrolments/{row['id']}/approve", data=form, headers=HTML)
            assert refused.status == 422 and "empreinte ne correspond pas" in await refused.text()
        assert await persistence.get_peer(hub.context.engine, "rq-paris") is None
        assert await enrolment_rows(hub) == [row]
        # The real régie's keys, confirmed: approved; then revoked from the same page.
        form = MultiDict([("_csrf", csrf(page)), ("fingerprint", impostor.fingerprints[0].lower())])
        approved = await browser.post(f"/hub/enrolments/{row['id']}/approve", data=form, headers=HTML)
        assert "maintenant membre" in await approved.text()
        page = await approved.text()
        revoke = {"_csrf": csrf(page), "comment": "Adhésion usurpée"}
        revoked = await browser.post("/hub/members/rq-paris/revoke", data=revoke, headers=HTML)
        assert "Adhésion révoquée" in await revoked.text() and "Adhésion usurpée" in await revoked.text()
        assert await signed_directory(hub) == {}


# --- Terminal escapes -------------------------------------------------------------------------------------


async def test_hub_enrolments_escapes_what_requesters_chose(
    make_node: NodeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = await make_hub(make_node)
    forged = ForgedNode(
        "rq-escape",
        name="Régie\x1b[2K\r   7  rq-paris                 approved",
        base_url="http://127.0.0.1:9/\x1b]0;pwned\x07",
        private_keys={"main": Ed25519PrivateKey.generate(), "fake\x1b[1A\x1b[2K": Ed25519PrivateKey.generate()},
    )
    status, _headers, answer = await forged.join(hub, signing_kid="main")
    assert status == 202, answer  # the hub stores what it was sent: the terminal is where it must be defused
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["--data-dir", str(hub.settings.data_dir), "hub", "enrolments"]) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\r" not in shown and "\x07" not in shown
    assert "\\x1b[2K\\x0d" in shown and "fake\\x1b[1A" in shown
    assert len(shown.strip().splitlines()) == 1 + 1 + 1 + 2  # header, request, address, its two keys
