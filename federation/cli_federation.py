"""The `regies` subcommands for federation: peers, sync, outbox and signing keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from federation.cli_setup import command_plugins
from federation.config import Settings
from federation.errors import CommandError
from federation.plugins import Plugins
from federation.protocol import persistence, pull_lease, sender
from federation.protocol.context import FederationContext
from federation.protocol.discovery import NodeIdentity
from federation.protocol.keys import (
    KeyStore,
    create_key,
    describe_validity,
    fingerprint,
    load_or_create_keys,
    revoke_key,
)
from federation.protocol.persistence import Peer
from federation.protocol.puller import PullBusy, PullError, PullProgress, pull_peer
from federation.protocol.transport import FederationClient, TransportError
from federation.storage.mapping import from_micros
from federation.terminal import printable
from federation.versions import PROTOCOL_VERSION, SCHEMA_VERSION, parse_version, skew, spoken

SERVED_URL_META = "served_base_url"  # where `regies serve` last listened (node_meta), for the `peer add` hint
MAX_BATCH_NUMBER = 2**63 - 1  # outbox ids are 64-bit integers on PostgreSQL and SQLite
BUSY_POLL_S = 1.0  # how often `regies sync` looks again when another pull of the peer is running
NO_PEERS = "No peers yet. Add one with: regies peer add https://other-node.example"
# Errors name the request that failed with its full URL; in a table the row already says which node it was.
_URL_HOST_AND_QUERY = re.compile(r"https?://[^/\s:]+(?::\d+)?(/[^\s?:]*)(\?[^\s:]*)?")
ERROR_WIDTH = 100
PIPED_WIDTH = 300  # `regies peers` into a file or a pipe: rows on one line each, not wrapped at 80 columns

SettingsLoader = Callable[[argparse.Namespace], Settings]


@contextlib.asynccontextmanager
async def federation_context(settings: Settings, plugins: Plugins | None = None) -> AsyncIterator[FederationContext]:
    """The node's database, identity, federation client and plugins (built from `settings` unless given)."""
    from federation.api.writes import record_service
    from federation.plugins import node_plugins
    from federation.storage import migrate
    from federation.storage.engine import create_engine
    from federation.storage.records import get_meta

    engine = create_engine(settings.database_url)
    client: FederationClient | None = None
    try:
        if await migrate.current_revision(engine) is None:
            raise CommandError(f"no node database at {settings.database_url}; run `regies init` first")
        await migrate.upgrade(engine)
        node_id = await get_meta(engine, "node_id")
        if node_id is None:
            raise CommandError("this node is not initialised; run `regies init` first")
        identity = NodeIdentity(node_id, await load_or_create_keys(engine, settings.keys_dir, node_id))
        client = FederationClient(identity, settings.federation)
        if plugins is None:
            plugins = node_plugins(settings)
        store = record_service(engine, node_id, plugins)
        yield FederationContext(engine, identity, client, settings.federation, plugins, store)
    finally:
        if client is not None:
            await client.close()
        await engine.dispose()


def _iso(micros: int | None) -> str:
    if micros is None:
        return "-"
    return from_micros(micros).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def cmd_peer_add(args: argparse.Namespace, load: SettingsLoader) -> int:
    settings = load(args)

    async def run() -> int:
        async with federation_context(settings, command_plugins(args, settings)) as context:
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
            print(f"  regies peer add {await served_url(context, settings)}")
            return 0

    return asyncio.run(run())


async def served_url(context: FederationContext, settings: Settings) -> str:
    """The address other nodes reach this one at: `server.base_url` if set, else where `regies serve` last
    listened (its --port or REGIES_SERVER__PORT may differ from the config file this command reads)."""
    from federation.storage.records import get_meta

    if settings.server.base_url:
        return settings.public_base_url
    return await get_meta(context.engine, SERVED_URL_META) or settings.public_base_url


async def remember_served_url(app: Any) -> None:
    """On `regies serve`'s start-up, after the database is open: note the address it serves on."""
    from federation import appkeys
    from federation.storage.records import set_meta

    await set_meta(app[appkeys.ENGINE], SERVED_URL_META, app[appkeys.SETTINGS].public_base_url)


def cmd_peer_remove(args: argparse.Namespace, load: SettingsLoader) -> int:
    settings = load(args)

    async def run() -> bool:
        async with federation_context(settings, command_plugins(args, settings)) as context:
            return await persistence.remove_peer(context.engine, args.node_id)

    if not asyncio.run(run()):
        raise CommandError(f"no peer '{args.node_id}' (see `regies peers`)")
    print(f"Removed peer '{args.node_id}'. Its replicated records stay, read-only.")
    return 0


def cmd_peers(args: argparse.Namespace, load: SettingsLoader) -> int:
    settings = load(args)

    async def run() -> tuple[list[persistence.Peer], dict[str, dict[str, int]], dict[str, str]]:
        async with federation_context(settings, command_plugins(args, settings)) as context:
            peers = await persistence.list_peers(context.engine)
            return peers, await sender.outbox_depth(context), await pull_lease.running_pulls(context.engine)

    peers, depth, pulling = asyncio.run(run())
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
            _iso(peer.last_success_at_us),
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


class ProgressBar:
    """Records pulled, rate and ETA on stderr: one line redrawn in place on a terminal; elsewhere (a log file,
    cron's mail) a line every LOG_EVERY_S seconds and the last one, not thousands of redraws in one line."""

    LOG_EVERY_S = 10.0

    def __init__(self, label: str, stream: Any = sys.stderr) -> None:
        self.label = label
        self.stream = stream
        self.interactive = bool(getattr(stream, "isatty", lambda: False)())
        self.every = 0.1 if self.interactive else self.LOG_EVERY_S
        self.last_draw = 0.0
        self.unshown: PullProgress | None = None

    def __call__(self, progress: PullProgress, force: bool = False) -> None:
        now = time.monotonic()
        if not force and progress.remaining and now - self.last_draw < self.every:
            self.unshown = progress
            return
        self.unshown = None
        self.last_draw = now
        total = progress.received + progress.remaining
        fraction = progress.received / total if total else 1.0
        bar = "█" * int(fraction * 24) + "░" * (24 - int(fraction * 24))
        rate = progress.rate
        eta = f"{progress.remaining / rate:5.0f}s" if rate > 0 and progress.remaining else "   0s"
        line = f"{self.label:<18} {bar} {progress.received:>9,}/{total:<9,} records {rate:>8,.0f}/s ETA {eta}"
        self.stream.write(f"\r{line}" if self.interactive else f"{line}\n")
        self.stream.flush()

    def done(self) -> None:
        """The last figures are shown (a log gets them too), and the terminal's line is ended."""
        if self.unshown is not None:
            self(self.unshown, force=True)
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


async def _pull_when_free(context: FederationContext, peer: Peer, bar: ProgressBar) -> PullProgress:
    """Pull now; if another pull of this peer is running (the server's worker, say), follow its progress until it
    ends (from the lag its commits record), then pull what is left, so that when the command returns the node
    has what the peer had when it started."""
    other: PullProgress | None = None
    other_bar = ProgressBar(f"{peer.node_id} (running)", bar.stream)

    first_lag: int | None = None

    async def follow() -> None:
        nonlocal first_lag
        assert other is not None
        current = await persistence.get_peer(context.engine, peer.node_id)
        if current is None or current.lag is None:
            return
        if first_lag is None:
            first_lag = current.lag  # what the other pull had left when this command started following it
        other.received = max(other.received, first_lag - current.lag)
        other.remaining = current.lag
        other_bar(other)

    def end_other_bar() -> None:
        if other_bar.last_draw:  # its line is kept; this pull's bar goes on the next one
            other_bar.done()
            other_bar.last_draw = 0.0

    def on_page(progress: PullProgress) -> None:
        end_other_bar()
        bar(progress)

    while True:
        if other is not None:
            await follow()
        try:
            progress = await pull_peer(context, peer, on_page=on_page)
        except PullBusy as exc:
            if other is None:
                print(f"{peer.node_id}: {exc}; waiting for it to end (Ctrl-C stops waiting)", file=sys.stderr)
                other = PullProgress(peer=peer.node_id, started=time.monotonic())
            await asyncio.sleep(BUSY_POLL_S)
            continue
        end_other_bar()
        return progress


def cmd_sync(args: argparse.Namespace, load: SettingsLoader) -> int:
    settings = load(args)

    async def run() -> int:
        failures = 0
        async with federation_context(settings, command_plugins(args, settings)) as context:
            peers = await persistence.list_peers(context.engine)
            if args.peer:
                peers = [peer for peer in peers if peer.node_id == args.peer]
                if not peers:
                    raise CommandError(f"no peer '{args.peer}' (see `regies peers`)")
            elif not peers:
                # Said rather than returning silently: a first-time user would not know whether anything happened.
                print(NO_PEERS)
            if not args.push_only:
                for peer in peers:
                    if not peer.pull:
                        continue
                    bar = ProgressBar(peer.node_id)
                    try:
                        progress = await _pull_when_free(context, peer, bar)
                    except PullError as exc:
                        bar.done()
                        print(printable(str(exc)), file=sys.stderr)  # "pull from <peer> failed: <why>"
                        failures += 1
                        continue
                    bar(progress)
                    bar.done()
                    print(f"{peer.node_id}: {progress.received} records received, {progress.applied} applied")
            if not args.pull_only:
                delivered = await sender.push_all(context)
                for destination, count in delivered.items():
                    if args.peer and destination != f"peer:{args.peer}":
                        continue
                    print(f"{destination}: {count} batch(es) delivered")
                depth = await sender.outbox_depth(context)
                for destination, queue in depth.items():
                    if queue["pending"] or queue["failed"]:
                        print(
                            f"{destination}: {queue['pending']} pending, {queue['failed']} failed (see `regies outbox`)"
                        )
                        failures += queue["failed"]
        return 1 if failures else 0

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        # asyncio.run has cancelled the pull and waited for its clean-up: its helper processes are gone.
        print(
            "\ninterrupted: what was already written is kept; the next `regies sync` goes on from there",
            file=sys.stderr,
        )
        return 130


def cmd_outbox(args: argparse.Namespace, load: SettingsLoader) -> int:
    settings = load(args)

    async def run() -> int:
        async with federation_context(settings, command_plugins(args, settings)) as context:
            if args.action == "retry":
                ids = None if args.all_failed else args.ids
                if ids is not None and not ids:
                    raise CommandError("name the batch ids to retry, or use --all-failed")
                queued = await sender.retry_batches(context, ids)
                print(f"{len(queued)} batch(es) queued again; they go out on the next sync (`regies sync`).")
                return _report_missing(ids, queued)
            if args.action == "discard":
                if not args.ids:
                    raise CommandError("name the batch ids to discard")
                discarded = await sender.discard_batches(context, args.ids)
                print(f"{len(discarded)} batch(es) discarded.")
                return _report_missing(args.ids, discarded)
            entries = await sender.list_outbox(context, include_delivered=args.all)
            if not entries:
                print("The outbox is empty: every change has been delivered.")
                return 0
            print(f"{'ID':>6}  {'DESTINATION':<26} {'RECORDS':>7} {'STATE':<10} {'TRIES':>5}  {'NEXT TRY':<20} ERROR")
            for entry in entries:
                next_try = _iso(entry.next_attempt_at_us) if entry.state == "pending" else "-"
                print(
                    f"{entry.id:>6}  {printable(entry.destination):<26} {entry.record_count:>7} {entry.state:<10} "
                    f"{entry.attempts:>5}  {next_try:<20} {printable(brief_error(entry.last_error))}"
                )
            return 0

    return asyncio.run(run())


def batch_number(text: str) -> int:
    """An outbox batch id as typed: a whole number the database can hold (a huge one was a traceback)."""
    if not text.isascii() or not text.isdigit() or int(text) > MAX_BATCH_NUMBER:
        raise argparse.ArgumentTypeError(f"'{printable(text)}' is not a batch id (see `regies outbox --all`)")
    return int(text)


def _report_missing(asked: list[int] | None, done: list[int]) -> int:
    """Name the batches asked for that were not acted on (exit status 1), or 1 if `--all-failed` found none."""
    if asked is None:
        return 0 if done else 1
    missing = sorted(set(asked) - set(done))
    for batch_id in missing:
        print(f"batch {batch_id}: no pending or failed batch with this id (see `regies outbox --all`)", file=sys.stderr)
    return 1 if missing else 0


def cmd_keys(args: argparse.Namespace, load: SettingsLoader) -> int:
    settings = load(args)

    async def run() -> int:
        async with federation_context(settings, command_plugins(args, settings)) as context:
            if args.action == "rotate":
                overlap = dt.timedelta(days=args.overlap_days or settings.federation.key_overlap_days)
                created = await create_key(context.engine, settings.keys_dir, context.node_id, overlap)
                print(f"New signing key {created.kid}: {fingerprint(created.x)}")
                print(f"It is signed by {created.signed_by}, which stays valid for {overlap.days} more day(s).")
                print("Peers pick the new key up from the discovery document on their next contact.")
                return 0
            if args.action == "revoke":
                if not args.kid:
                    raise CommandError("name the key to revoke: regies keys revoke KEY_ID")
                try:
                    await revoke_key(context.engine, settings.keys_dir, args.kid)
                except ValueError as exc:
                    raise CommandError(str(exc)) from exc
                print(f"Key {args.kid} is revoked. Peers stop accepting it when they next read this node's")
                print("discovery document (at the latest after federation.discovery_refresh_s).")
                return 0
            keys = await KeyStore.load(context.engine, settings.keys_dir)
            signing, _ = keys.signing
            for info in keys.published:
                marker = "*" if info.kid == signing else " "
                print(f"{marker} {info.kid}  {fingerprint(info.x)}  {describe_validity(info)}")
            return 0

    return asyncio.run(run())


def add_commands(commands: Any, load: SettingsLoader) -> None:
    """Register the federation subcommands on the main parser."""

    def bind(handler: Callable[[argparse.Namespace, SettingsLoader], int]) -> Callable[[argparse.Namespace], int]:
        return lambda args: handler(args, load)

    peer = commands.add_parser("peer", help="add or remove a peer node")
    peer_commands = peer.add_subparsers(dest="peer_command", required=True, metavar="ACTION")
    add = peer_commands.add_parser("add", help="fetch a node's discovery document, show its key, pin it")
    add.add_argument("url", help="the other node's base URL, e.g. https://regie-voisine.example")
    add.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add.add_argument("--push", action="store_true", help="also push this node's changes to its inbox")
    add.add_argument("--no-pull", action="store_true", help="do not pull its feed")
    add.add_argument("--hub", action="store_true", help="this peer is the network hub (receives period reports)")
    add.set_defaults(handler=bind(cmd_peer_add))
    remove = peer_commands.add_parser("remove", help="forget a peer (its records stay)")
    remove.add_argument("node_id")
    remove.set_defaults(handler=bind(cmd_peer_remove))

    peers = commands.add_parser("peers", help="list peers with status, last sync, lag and errors")
    peers.add_argument("--json", action="store_true")
    peers.set_defaults(handler=bind(cmd_peers))

    sync = commands.add_parser("sync", help="pull from peers and deliver the outbox now, with progress")
    sync.add_argument("peer", nargs="?", help="only this peer (node id)")
    group = sync.add_mutually_exclusive_group()
    group.add_argument("--pull-only", action="store_true")
    group.add_argument("--push-only", action="store_true")
    sync.set_defaults(handler=bind(cmd_sync))

    outbox = commands.add_parser("outbox", help="batches waiting or failed to be delivered")
    outbox.add_argument("action", nargs="?", choices=["list", "retry", "discard"], default="list")
    outbox.add_argument("ids", nargs="*", type=batch_number, help="batch ids (for retry or discard)")
    outbox.add_argument("--all", action="store_true", help="list delivered and discarded batches too")
    outbox.add_argument("--all-failed", action="store_true", help="retry every failed batch")
    outbox.set_defaults(handler=bind(cmd_outbox))

    keys = commands.add_parser("keys", help="this node's signing keys")
    keys.add_argument("action", nargs="?", choices=["list", "rotate", "revoke"], default="list")
    keys.add_argument("kid", nargs="?", help="key id (for revoke)")
    keys.add_argument("--overlap-days", type=int, help="how long the previous key stays valid (default 7)")
    keys.set_defaults(handler=bind(cmd_keys))
