"""`regies hub …`: set a node up as the hub, decide on join requests and grant the network's label."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tomllib
from collections.abc import Awaitable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugin_api import CONFIG_FILE_NAME, CommandError, Node, Settings, UnopenedNode, printable

from . import enrolment, labels


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="hub_action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="initialise this node as the hub and create a national coordinator token")
    init.add_argument("--name", default="Comité national de liaison des régies de quartier")
    init.add_argument("--node-id", default="hub-national")
    init.add_argument("--coordinator", default="coordination-nationale", help="name of the first coordinator token")
    init.add_argument("--base-url", help="the hub's public URL, e.g. https://hub.regies.example (as `regies init`)")
    listing = actions.add_parser("enrolments", help="list join requests with their keys' fingerprints")
    listing.add_argument("--state", choices=enrolment.STATES)
    approve = actions.add_parser(
        "approve", help="accept a join request once its fingerprints are compared: the node becomes a member"
    )
    approve.add_argument("id", type=int)
    approve.add_argument(
        "--fingerprint",
        action="append",
        default=[],
        metavar="FINGERPRINT",
        help="the fingerprint of a key of the request, as the régie's operator read it out (once per key); "
        "without it the command shows the keys and asks",
    )
    approve.add_argument("--pull", action="store_true", help="also pull the node's feed (if the hub can reach it)")
    reject = actions.add_parser("reject", help="refuse a join request")
    reject.add_argument("id", type=int)
    reject.add_argument("--comment", required=True, help="why (shown to the node)")
    revoke = actions.add_parser(
        "revoke", help="revoke a member: out of the signed directory, its keys refused, its records kept"
    )
    revoke.add_argument("node_id")
    revoke.add_argument("--reason", required=True, help="why (kept with the enrolment)")
    label = actions.add_parser(
        "label", help="record the label the network grants a member (the directory and exports state it)"
    )
    label.add_argument("node_id")
    label.add_argument("--status", required=True, choices=labels.STATUSES)
    label.add_argument("--since", help="first day the status holds, YYYY-MM-DD (required for labellisee)")
    label.add_argument("--until", help="last day the status holds, YYYY-MM-DD (none: open-ended)")


def needs_node(args: argparse.Namespace) -> bool:
    """`regies hub init` creates the node the other actions open."""
    return bool(args.hub_action != "init")


def run(args: argparse.Namespace, node: Node | UnopenedNode) -> int | Awaitable[int]:
    if not isinstance(node, Node):
        return _init(args, node.settings)
    return _decisions(args, node.engine)


def _init(args: argparse.Namespace, settings: Settings) -> int:
    from federation.plugin_api import create_token, init_node
    from federation.plugin_api.network import KeyStore, fingerprint
    from federation.plugin_api.storage import create_engine

    config_path = settings.config_file or settings.data_dir / CONFIG_FILE_NAME

    async def setup() -> tuple[str, str, list[str]]:
        result = await init_node(
            settings, name=args.name, kind="quartier", node_id=args.node_id, base_url=args.base_url
        )
        engine = create_engine(settings.database_url)
        try:
            token = await create_token(engine, args.coordinator, role="national")
            keys = await KeyStore.load(engine, settings.keys_dir)
        finally:
            await engine.dispose()
        return result.node_id, token, [f"{key.kid}: {fingerprint(key.x)}" for key in keys.published]

    node_id, token, prints = asyncio.run(setup())
    existing: dict[str, Any] = tomllib.loads(config_path.read_text()) if config_path.exists() else {}
    hub_table = existing.get("plugins", {}).get("hub", {})
    if not hub_table.get("enabled"):
        if hub_table:
            raise CommandError(f"{config_path} has a [plugins.hub] table: set enabled = true in it")
        with config_path.open("a", encoding="utf-8") as handle:
            handle.write(
                "\n[plugins.hub]\n# This node is the network's hub (see config/hub.example.toml).\nenabled = true\n"
            )
    print(f"Hub '{node_id}' ready in {settings.data_dir} (hub role enabled in {config_path}).")
    print("Régies join with its address and this key fingerprint (their regies.toml, [plugins.hubclient]):")
    for line in prints:
        print(f"  {line}")
    print(f"National coordinator token '{args.coordinator}' (shown once):")
    print(token)
    return 0


def _print_enrolments(found: list[enrolment.Enrolment]) -> None:
    """One line per request, then its keys; every value from the request is escaped (an anonymous requester
    chose it)."""
    print(f"{'ID':>4}  {'NODE':<24} {'STATE':<9} {'REGION':<6} {'DEPT':<4}  {'REQUESTED':<28} NAME")
    for item in found:
        print(
            f"{item.id:>4}  {printable(item.node_id):<24} {item.state:<9} {printable(item.region or '-'):<6} "
            f"{printable(item.department or '-'):<4}  {item.requested_at:<28} {printable(item.name)}"
        )
        print(f"      {printable(item.base_url)}")
        for key in item.fingerprints:
            print(f"      key {printable(key['kid'])}: {key['fingerprint']}")


async def _approve(engine: Any, args: argparse.Namespace) -> enrolment.Enrolment:
    """Show the request's keys and approve it with the fingerprints given, or, at a terminal, once confirmed."""
    current = await enrolment.get_enrolment(engine, args.id)
    if current is None:
        raise CommandError(f"no enrolment {args.id}")
    print(f"Node:    {printable(current.node_id)}  ({printable(current.name)})")
    print(f"Address: {printable(current.base_url)}")
    for key in current.fingerprints:
        print(f"Key {printable(key['kid'])}: {key['fingerprint']}")
    confirmed = list(args.fingerprint)
    if not confirmed:
        if not sys.stdin.isatty():
            raise CommandError(
                "compare each fingerprint with the régie's operator, then rerun with --fingerprint <fingerprint>"
            )
        for key in current.fingerprints:
            prompt = f"Fingerprint of key {printable(key['kid'])} as the régie's operator reads it out: "
            confirmed.append(await asyncio.to_thread(input, prompt))
    return await enrolment.decide(engine, args.id, True, actor="cli", pull=args.pull, fingerprints=confirmed)


async def _label(engine: Any, args: argparse.Namespace) -> int:
    from federation.plugin_api import Problem

    statement = {key: getattr(args, key) for key in ("status", "since", "until") if getattr(args, key)}
    try:
        grant = await labels.grant_label(engine, "admin", "cli", args.node_id, statement)
    except Problem as problem:
        details = "; ".join(f"--{e['pointer'].lstrip('/')}: {e['detail']}" for e in problem.errors or [])
        raise CommandError(printable(f"{problem.detail}{': ' + details if details else ''}")) from problem
    dates = f" from {grant.since}" if grant.since else ""
    dates += f" until {grant.until}" if grant.until else ""
    print(f"Label of '{printable(grant.node_id)}' recorded by the hub: {grant.status}{dates}.")
    return 0


async def _decisions(args: argparse.Namespace, engine: AsyncEngine) -> int:
    if args.hub_action == "enrolments":
        found = await enrolment.list_enrolments(engine, args.state)
        if not found:
            print("No join requests" + (f" in state {args.state}." if args.state else "."))
            return 0
        _print_enrolments(found)
        return 0
    if args.hub_action == "label":
        return await _label(engine, args)
    try:
        if args.hub_action == "revoke":
            revoked = await enrolment.revoke(engine, args.node_id, "cli", args.reason)
            print(f"Member '{printable(revoked.node_id)}' revoked: out of the directory, its keys refused.")
            return 0
        if args.hub_action == "approve":
            decided = await _approve(engine, args)
        else:
            decided = await enrolment.decide(engine, args.id, False, actor="cli", comment=args.comment)
    except enrolment.EnrolmentError as exc:
        raise CommandError(printable(exc)) from exc
    print(f"Enrolment {decided.id} of '{printable(decided.node_id)}' is now {decided.state}.")
    return 0
