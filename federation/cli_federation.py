"""The `regies` commands that exchange with peers: `sync` (with its progress bar), `outbox` and `keys`
(registered in federation/commands.py)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from typing import Any

from federation.cli_peers import NO_PEERS, brief_error, iso_time
from federation.errors import CommandError
from federation.node import Node
from federation.protocol import persistence, sender
from federation.protocol.context import FederationContext
from federation.protocol.keys import KeyStore, create_key, describe_validity, fingerprint, revoke_key
from federation.protocol.persistence import Peer
from federation.protocol.puller import PullBusy, PullError, PullProgress, pull_peer
from federation.terminal import printable

MAX_BATCH_NUMBER = 2**63 - 1  # outbox ids are 64-bit integers on PostgreSQL and SQLite
BUSY_POLL_S = 1.0  # how often `regies sync` looks again when another pull of the peer is running


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


async def cmd_sync(args: argparse.Namespace, node: Node) -> int:
    context = node.federation
    try:
        return await _sync(args, context)
    except asyncio.CancelledError:
        # Ctrl-C: the pull is cancelled and its clean-up done (its helper processes are gone); `regies` exits 130.
        print(
            "\ninterrupted: what was already written is kept; the next `regies sync` goes on from there",
            file=sys.stderr,
        )
        raise


async def _sync(args: argparse.Namespace, context: FederationContext) -> int:
    failures = 0
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
                print(f"{destination}: {queue['pending']} pending, {queue['failed']} failed (see `regies outbox`)")
                failures += queue["failed"]
    return 1 if failures else 0


async def cmd_outbox(args: argparse.Namespace, node: Node) -> int:
    context = node.federation
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
        next_try = iso_time(entry.next_attempt_at_us) if entry.state == "pending" else "-"
        print(
            f"{entry.id:>6}  {printable(entry.destination):<26} {entry.record_count:>7} {entry.state:<10} "
            f"{entry.attempts:>5}  {next_try:<20} {printable(brief_error(entry.last_error))}"
        )
    return 0


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


async def cmd_keys(args: argparse.Namespace, node: Node) -> int:
    settings, context = node.settings, node.federation
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


def configure_sync(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("peer", nargs="?", help="only this peer (node id)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--pull-only", action="store_true")
    group.add_argument("--push-only", action="store_true")


def configure_outbox(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["list", "retry", "discard"], default="list")
    parser.add_argument("ids", nargs="*", type=batch_number, help="batch ids (for retry or discard)")
    parser.add_argument("--all", action="store_true", help="list delivered and discarded batches too")
    parser.add_argument("--all-failed", action="store_true", help="retry every failed batch")


def configure_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["list", "rotate", "revoke"], default="list")
    parser.add_argument("kid", nargs="?", help="key id (for revoke)")
    parser.add_argument("--overlap-days", type=int, help="how long the previous key stays valid (default 7)")
