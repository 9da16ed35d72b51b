"""`regies network …`: join the hub, check this node's membership, and trust the members of its directory."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from federation.plugin_api import CommandError, printable
from federation.plugin_api.network import spoken

from . import HubClientSettings

if TYPE_CHECKING:
    from federation.plugin_api import Node
    from federation.plugin_api.network import Peer


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="network_action", required=True, metavar="ACTION")
    join = actions.add_parser("join", help="ask the hub (from [plugins.hubclient]) to admit this node")
    join.add_argument("--url", help="the hub's base URL (default: [plugins.hubclient] url)")
    join.add_argument("--fingerprint", help="the hub key's fingerprint (default: [plugins.hubclient] fingerprint)")
    actions.add_parser("status", help="this node's membership and the states of its reports on the hub")
    directory = actions.add_parser("directory", help="trust the network's members listed in the hub's directory")
    directory.add_argument("--pull", action="store_true", help="also pull their public records")


def _normalise(fingerprint: str) -> str:
    return fingerprint.replace(":", "").replace(" ", "").upper()


async def run(args: argparse.Namespace, node: Node) -> int:
    config = HubClientSettings.model_validate(node.settings.plugins.section("hubclient"))
    if args.network_action == "join":
        return await _join(args, node, config)
    from .sync import hub_peer

    try:
        hub = await hub_peer(node.federation)
    except Exception as exc:
        raise CommandError(str(exc)) from exc
    if args.network_action == "status":
        response = await node.client.request("GET", f"{hub.base_url}/plugins/hub/me")
        status = response.json()
        states = [e["state"] for e in status["enrolments"]]
        membership = str(states[-1]) if states else "none"
        print(printable(f"Hub {hub.node_id} ({hub.base_url}): membership {membership}"))
        for report in sorted(status["reports"], key=lambda r: r["period"] or ""):
            print(printable(f"  report {report['period']}: {report['state']} (version {report['version']})"))
        return 0
    return await _directory(args, node, hub)


async def _join(args: argparse.Namespace, node: Node, config: HubClientSettings) -> int:
    from federation.plugin_api.network import TransportError, build_discovery, fingerprint, save_peer

    url = (args.url or config.url).rstrip("/")
    expected = _normalise(args.fingerprint or config.fingerprint)
    if not url or not expected:
        raise CommandError("set url and fingerprint in [plugins.hubclient] (or pass --url and --fingerprint)")
    try:
        hub = await node.client.fetch_discovery(url)
    except TransportError as exc:
        raise CommandError(f"cannot reach the hub: {exc}") from exc
    if expected not in {_normalise(fingerprint(key.x)) for key in hub.keys}:
        raise CommandError(
            f"the node at {printable(url)} ({printable(hub.node_id)}) does not hold the key with fingerprint {expected}"
        )
    await save_peer(
        node.engine,
        node_id=hub.node_id,
        name=hub.name,
        base_url=hub.base_url,
        keys=hub.keys,
        role="hub",
        pull=True,
        speaks=spoken(hub.document),
    )
    row = await node.reader.get("node", node.profile_id, node.node_id)
    if row is None:
        raise CommandError("this node has no profile; run `regies init`")
    profile = json.loads(row.body)
    discovery = build_discovery(node.identity, node.settings.public_base_url, profile["name"], node.plugins)
    body = json.dumps({"discovery": discovery, "profile": profile}).encode()
    try:
        response = await node.client.request("POST", f"{hub.base_url}/plugins/hub/enrolments", body)
    except TransportError as exc:
        raise CommandError(f"the hub refused the request: {exc}") from exc
    answer = response.json()
    shown = f"{printable(hub.node_id)} ({printable(hub.base_url)})"
    if answer.get("state") == "approved":
        print(f"This node is already a member of the network of {shown}.")
        return 0
    print(f"Join request sent to {shown}: {printable(answer.get('state'))} (request {printable(answer.get('id'))}).")
    print("A coordinator of the network approves it once you have read out this node's key fingerprint(s):")
    for key in node.identity.keys.published:
        print(f"  key {key.kid}: {fingerprint(key.x)}")
    print("`regies network status` shows the answer.")
    return 0


async def _directory(args: argparse.Namespace, node: Node, hub: Peer) -> int:
    from federation.plugin_api.network import (
        PublicKeyInfo,
        TransportError,
        keep_revocations,
        list_peers,
        save_peer,
        shown,
        verify_directory,
    )

    response = await node.client.request("GET", f"{hub.base_url}/plugins/hub/directory")
    try:
        nodes = verify_directory(response.json(), {key.kid: key for key in hub.keys})
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    trusted = 0
    known = {peer.node_id: peer for peer in await list_peers(node.engine)}
    for member in nodes:
        if member["node_id"] in (node.node_id, hub.node_id):
            continue
        current = known.get(member["node_id"])
        try:
            node.client.check_url(member["base_url"])
        except TransportError as exc:
            print(f"Skipped {shown(member['node_id'], 64)}: {exc}")
            continue
        keys = [PublicKeyInfo.from_jwk(jwk) for jwk in member["keys"]]
        await save_peer(
            node.engine,
            node_id=member["node_id"],
            name=member["name"],
            base_url=member["base_url"],
            keys=keep_revocations(list(current.keys), keys) if current else keys,
            pull=args.pull or bool(current and current.pull),
            push=bool(current and current.push),
        )
        trusted += 1
    print(f"{trusted} member(s) of the network trusted from the hub's signed directory.")
    return 0
