"""`regies hub …`: set a node up as the hub and let the national coordination decide on join requests."""

from __future__ import annotations

import argparse
import asyncio
import tomllib
from typing import Any

from federation.config import CONFIG_FILE_NAME, Settings
from federation.errors import CommandError

from . import enrolment


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="hub_action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help="initialise this node as the hub and create a national coordinator token")
    init.add_argument("--name", default="Comité national de liaison des régies de quartier")
    init.add_argument("--node-id", default="hub-national")
    init.add_argument("--coordinator", default="coordination-nationale", help="name of the first coordinator token")
    init.add_argument("--base-url", help="the hub's public URL, e.g. https://hub.regies.example (as `regies init`)")
    listing = actions.add_parser("enrolments", help="list join requests")
    listing.add_argument("--state", choices=["pending", "approved", "rejected"])
    approve = actions.add_parser("approve", help="accept a join request: the node becomes a member")
    approve.add_argument("id", type=int)
    approve.add_argument("--pull", action="store_true", help="also pull the node's feed (if the hub can reach it)")
    reject = actions.add_parser("reject", help="refuse a join request")
    reject.add_argument("id", type=int)
    reject.add_argument("--comment", required=True, help="why (shown to the node)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.hub_action == "init":
        return _init(args, settings)
    return asyncio.run(_decisions(args, settings))


def _init(args: argparse.Namespace, settings: Settings) -> int:
    from federation.bootstrap import init_node
    from federation.protocol.keys import KeyStore, fingerprint
    from federation.storage.engine import create_engine
    from federation.storage.tokens import create_token

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


async def _decisions(args: argparse.Namespace, settings: Settings) -> int:
    from federation.storage.engine import create_engine

    engine = create_engine(settings.database_url)
    try:
        if args.hub_action == "enrolments":
            found = await enrolment.list_enrolments(engine, args.state)
            if not found:
                print("No join requests" + (f" in state {args.state}." if args.state else "."))
                return 0
            print(f"{'ID':>4}  {'NODE':<24} {'STATE':<9} {'REGION':<6} {'DEPT':<4}  {'REQUESTED':<28} NAME")
            for item in found:
                print(
                    f"{item.id:>4}  {item.node_id:<24} {item.state:<9} {item.region or '-':<6} "
                    f"{item.department or '-':<4}  {item.requested_at:<28} {item.name}"
                )
            return 0
        try:
            decided = await enrolment.decide(
                engine,
                args.id,
                approve=args.hub_action == "approve",
                actor="cli",
                comment=getattr(args, "comment", None),
                pull=getattr(args, "pull", False),
            )
        except enrolment.EnrolmentError as exc:
            raise CommandError(str(exc)) from exc
        print(f"Enrolment {decided.id} of '{decided.node_id}' is now {decided.state}.")
        return 0
    finally:
        await engine.dispose()
