"""Attacks on the hub's enrolment, performed against a real hub: signed join requests from freshly generated keys,
coordinators' decisions through the API, the dashboard and the `regies hub` command."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from multidict import MultiDict
from regies_hubclient import HubClientSettings
from regies_hubclient.cli import _join
from sqlalchemy import func, select, text

from federation.cli import main
from federation.protocol import persistence, sender
from federation.protocol.keys import b64url, create_key, fingerprint, raw_public
from federation.storage.tables import enrolments, records
from tests.plugins.test_hub import REPORT
from tests.protocol.conftest import Node, NodeFactory, activity
from tests.security.enrolment_helpers import (
    HTML,
    HUB_ID,
    ForgedNode,
    coordinator,
    csrf,
    dashboard,
    enrolment_rows,
    hub_call,
    make_hub,
    make_regie,
    node_fingerprints,
    signed_directory,
)


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
