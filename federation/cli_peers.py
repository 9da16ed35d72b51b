"""The `regies` commands about peers: `peer add | remove` and `peers`, the table of their state (registered in
federation/commands.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from typing import Any

from federation.errors import CommandError
from federation.node import Node
from federation.protocol import persistence, pull_lease, sender
from federation.protocol.keys import describe_validity, fingerprint
from federation.protocol.persistence import Peer
from federation.protocol.transport import TransportError
from federation.storage.mapping import from_micros
from federation.terminal import printable
from federation.versions import PROTOCOL_VERSION, SCHEMA_VERSION, parse_version, skew, spoken

SERVED_URL_META = "served_base_url"  # where `regies serve` last listened (node_meta), for the `peer add` hint
NO_PEERS = "No peers yet. Add one with: regies peer add https://other-node.example"
# Errors name the request that failed with its full URL; in a table the row already says which node it was.
_URL_HOST_AND_QUERY = re.compile(r"https?://[^/\s:]+(?::\d+)?(/[^\s?:]*)(\?[^\s:]*)?")
ERROR_WIDTH = 100
PIPED_WIDTH = 300  # `regies peers` into a file or a pipe: rows on one line each, not wrapped at 80 columns


def iso_time(micros: int | None) -> str:
    if micros is None:
        return "-"
    return from_micros(micros).astimezone().strftime("%Y-%m-%d %H:%M:%S")


async def cmd_peer_add(args: argparse.Namespace, node: Node) -> int:
    context = node.federation
    try:
        remote = await context.client.fetch_discovery(args.url)
    except TransportError as exc:
        raise CommandError(printable(f"could not read the discovery document: {exc}")) from exc
    if remote.node_id == context.node_id:
        own_keys = {key.x for key in context.identity.keys.published}
        if own_keys & {key.x for key in remote.keys}:
            raise CommandError("this URL is this node itself")
        raise CommandError(
            f"the two nodes share the id '{remote.node_id}': node ids must be unique in the network, "
            "so one of them must be created again with another id (`regies init --node-id ID`)"
        )
    # Everything below comes from the other node: escaped, so that its name or a key id cannot move the
    # cursor and overwrite the fingerprint line the operator is about to compare.
    print(f"Node:    {printable(remote.node_id)}  ({printable(remote.name)})")
    print(f"Address: {printable(remote.base_url)}")
    for key in remote.keys:
        print(f"Key {printable(key.kid)}: {fingerprint(key.x)}  ({describe_validity(key)})")
    if not args.yes:
        if not sys.stdin.isatty():
            raise CommandError("compare the fingerprint with the peer's operator, then rerun with --yes")
        prompt = "Pin these keys and add this peer? [y/N] "
        answer = (await asyncio.to_thread(input, prompt)).strip().lower()
        if answer not in ("y", "yes", "o", "oui"):
            print("Nothing changed.")
            return 1
    await persistence.save_peer(
        context.engine,
        node_id=remote.node_id,
        name=remote.name,
        base_url=remote.base_url,
        keys=remote.keys,
        role="hub" if args.hub else "peer",
        pull=not args.no_pull,
        push=args.push,
        speaks=spoken(remote.document),
    )
    modes = ", ".join(m for m, on in (("pull", not args.no_pull), ("push", args.push)) if on) or "none"
    print(f"Added peer '{printable(remote.node_id)}' ({modes}). Its operator must also add this node:")
    print(f"  regies peer add {await served_url(node)}")
    return 0


async def served_url(node: Node) -> str:
    """The address other nodes reach this one at: `server.base_url` if set, else where `regies serve` last
    listened (its --port or REGIES_SERVER__PORT may differ from the config file this command reads)."""
    from federation.storage.records import get_meta

    settings = node.settings
    if settings.server.base_url:
        return settings.public_base_url
    return await get_meta(node.engine, SERVED_URL_META) or settings.public_base_url


async def remember_served_url(app: Any) -> None:
    """On `regies serve`'s start-up, once the app opened the node: note the address it serves on."""
    from federation import appkeys
    from federation.storage.records import set_meta

    node = app[appkeys.NODE]
    await set_meta(node.engine, SERVED_URL_META, node.settings.public_base_url)


async def cmd_peer_remove(args: argparse.Namespace, node: Node) -> int:
    if not await persistence.remove_peer(node.engine, args.node_id):
        raise CommandError(f"no peer '{args.node_id}' (see `regies peers`)")
    print(f"Removed peer '{args.node_id}'. Its replicated records stay, read-only.")
    return 0


async def cmd_peers(args: argparse.Namespace, node: Node) -> int:
    peers = await persistence.list_peers(node.engine)
    depth = await sender.outbox_depth(node.federation)
    pulling = await pull_lease.running_pulls(node.engine)
    if args.json:
        described = []
        for peer in peers:
            entry = peer.describe()
            entry["outbox"] = depth.get(f"peer:{peer.node_id}", {"pending": 0, "failed": 0})
            entry["pulling"] = pulling.get(peer.node_id)
            described.append(entry)
        print(json.dumps(described, ensure_ascii=False, indent=2))
        return 0
    if not peers:
        print(NO_PEERS)
        return 0
    console = _console()
    table = peers_table(peers, depth)
    narrowest = _console(10 * PIPED_WIDTH).measure(table).minimum
    if narrowest > console.width:  # rather long lines the terminal wraps than ids, dates or counts cut short
        console = _console(narrowest)
    console.print(table)
    for node_id, holder in sorted(pulling.items()):
        print(f"{printable(node_id)}: a pull is running now ({printable(holder)})")
    if any(peer.last_error for peer in peers):
        print("Full error texts: regies peers --json")
    return 0


def versions_cell(peer: Peer) -> str:
    """The versions a peer speaks, and how they compare with this node's when they differ: `1.0, 1.0 (older
    minor)`. A peer added before nodes recorded versions shows `?` until its discovery document is read again."""
    if peer.speaks is None:
        return "?"
    protocol = str(peer.speaks.get("protocol_version"))
    schemas = [str(item) for item in peer.speaks.get("schema_versions") or []]
    cell = f"{protocol}, {'/'.join(schemas) or '?'}"
    protocol_skew = skew(protocol, PROTOCOL_VERSION)
    if protocol_skew != "same":
        return f"{cell} (protocol: {protocol_skew})"
    if SCHEMA_VERSION not in schemas:
        schema_skew = skew(max(schemas, key=_version_key) if schemas else None, SCHEMA_VERSION)
        return f"{cell} (schema: {schema_skew})"
    return cell


def _version_key(version: str) -> tuple[int, int]:
    try:
        return parse_version(version)
    except ValueError:
        return (-1, -1)


def _console(width: int | None = None) -> Any:
    from rich.console import Console

    # On a terminal, its width; in a pipe or a file, wide enough that each peer stays on one line.
    return Console(width=width or (None if sys.stdout.isatty() else PIPED_WIDTH), highlight=False)


def peers_table(peers: list[Peer], depth: dict[str, dict[str, int]]) -> Any:
    """`regies peers` as a table whose headers say what each column counts. Every cell is plain text (no rich
    markup) and escaped: names and errors come from other nodes."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    # Ids and dates are never cut (a cut id names another node); on a narrow terminal the name is shortened and
    # the error wraps.
    longest_id = max((len(printable(peer.node_id)) for peer in peers), default=4)
    table.add_column("Node", no_wrap=True, min_width=longest_id)
    table.add_column("Name", min_width=12, max_width=30, no_wrap=True, overflow="ellipsis")
    table.add_column("Exchanges", no_wrap=True, min_width=len("pull + push (hub)"))
    table.add_column("Status", no_wrap=True, min_width=len("failing"))
    table.add_column("Last successful\nsync", no_wrap=True, min_width=len("2026-01-01 00:00:00"))
    table.add_column("Records\nbehind", justify="right", no_wrap=True)
    table.add_column("Batches\nwaiting", justify="right", no_wrap=True)
    table.add_column("Batches\nfailed", justify="right", no_wrap=True)
    table.add_column("Versions\n(protocol, schema)", no_wrap=True, min_width=len("1.1, 1.1"))
    table.add_column("Last error", max_width=ERROR_WIDTH, min_width=20, overflow="fold")  # wraps when narrow
    for peer in peers:
        exchanges = " + ".join(m for m, on in (("pull", peer.pull), ("push", peer.push)) if on) or "none"
        if peer.is_hub:
            exchanges += " (hub)"
        queue = depth.get(f"peer:{peer.node_id}", {"pending": 0, "failed": 0})
        cells = (
            peer.node_id,
            peer.name,
            exchanges,
            peer.status,
            iso_time(peer.last_success_at_us),
            "-" if peer.lag is None else str(peer.lag),
            str(queue["pending"]),
            str(queue["failed"]),
            versions_cell(peer),
            brief_error(peer.last_error),
        )
        table.add_row(*(Text(printable(cell)) for cell in cells))
    return table


def brief_error(error: str | None) -> str:
    """An error as a table shows it: URLs reduced to their path, cut to ERROR_WIDTH characters."""
    if not error:
        return ""
    brief = _URL_HOST_AND_QUERY.sub(lambda match: match.group(1), error)
    return brief if len(brief) <= ERROR_WIDTH else brief[: ERROR_WIDTH - 1] + "…"


def configure_peer(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="peer_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="fetch a node's discovery document, show its key, pin it")
    add.add_argument("url", help="the other node's base URL, e.g. https://regie-voisine.example")
    add.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add.add_argument("--push", action="store_true", help="also push this node's changes to its inbox")
    add.add_argument("--no-pull", action="store_true", help="do not pull its feed")
    add.add_argument("--hub", action="store_true", help="this peer is the network hub (receives period reports)")
    add.set_defaults(action_handler=cmd_peer_add)
    remove = actions.add_parser("remove", help="forget a peer (its records stay)")
    remove.add_argument("node_id")
    remove.set_defaults(action_handler=cmd_peer_remove)


def configure_peers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true")
