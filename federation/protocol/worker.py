"""The background sync worker run inside `regies serve`: pulls from peers and delivers the outbox on intervals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from federation.protocol import persistence, sender
from federation.protocol.context import FederationContext
from federation.protocol.peerkeys import refresh_pinned_keys
from federation.protocol.puller import PullBusy, PullError, pull_peer
from federation.registrations import BackgroundTask
from federation.tasks import cancel_and_wait

log = logging.getLogger(__name__)
NONCE_PURGE_INTERVAL_S = 600


async def pull_due_peers(context: FederationContext) -> None:
    peers = [peer for peer in await persistence.list_peers(context.engine) if peer.pull and peer.status == "active"]
    for peer in peers:
        try:
            progress = await pull_peer(context, peer)
        except PullBusy as exc:  # `regies sync` or another process of the node has it: nothing to do twice
            log.info("skipping this round: %s", exc)
            continue
        except PullError as exc:
            log.warning("%s; the next round tries again", exc)  # also recorded on the peer (`regies peers`)
            continue
        if progress.received:
            log.info("pulled %d records from %s (%d applied)", progress.received, peer.node_id, progress.applied)


async def refresh_peer_keys(context: FederationContext) -> None:
    """Re-read every peer's discovery document: new keys chained to pinned ones, and validity changes."""
    for peer in await persistence.list_peers(context.engine):
        if peer.status == "active":
            await refresh_pinned_keys(context.engine, context.client, peer, due=True)


async def run_worker(context: FederationContext) -> None:
    """Loop forever; every failure is logged and retried on the next round, never fatal."""
    settings = context.settings
    next_pull = next_push = time.monotonic()
    next_purge = time.monotonic() + NONCE_PURGE_INTERVAL_S
    next_refresh = time.monotonic() + settings.discovery_refresh_s
    try:
        # A peer pinned before nodes recorded versions is read at once: what it is served depends on its versions
        # (federation.protocol.older_peers).
        if any(peer.speaks is None for peer in await persistence.list_peers(context.engine)):
            next_refresh = time.monotonic()
    except Exception:
        log.exception("could not list peers; their versions are read at the next periodic refresh")
    while True:
        now = time.monotonic()
        try:
            if now >= next_push:
                await sender.push_all(context)
                next_push = time.monotonic() + settings.push_interval_s
            if now >= next_pull:
                await pull_due_peers(context)
                next_pull = time.monotonic() + settings.pull_interval_s
            if now >= next_refresh:
                await refresh_peer_keys(context)
                next_refresh = time.monotonic() + settings.discovery_refresh_s
            if now >= next_purge:
                await persistence.purge_nonces(context.engine)
                next_purge = time.monotonic() + NONCE_PURGE_INTERVAL_S
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sync worker round failed; retrying on the next round")
        await asyncio.sleep(max(0.05, min(next_pull, next_push, next_purge, next_refresh) - time.monotonic()))


async def run_background_task(context: FederationContext, task: BackgroundTask, owner: str) -> None:
    """A plugin's background task (hookspecs.register_background_tasks), started again after it fails."""
    while True:
        try:
            # Hook API 2.0 hands plugins the opened node (set on the context by `open_node`).
            await task.run(context.node)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task '%s' of plugin '%s' failed; restarting it", task.name, owner)
        await asyncio.sleep(task.restart_delay_s)


@contextlib.asynccontextmanager
async def running_worker(context: FederationContext) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(run_worker(context), name="regies-sync-worker")
    registry = context.plugins.registry
    plugin_tasks = [
        asyncio.create_task(
            run_background_task(context, background, registry.owner("background task", name)),
            name=f"regies-task-{name}",
        )
        for name, background in registry.background_tasks.items()
    ]
    try:
        yield task
    finally:
        await cancel_and_wait(task, *plugin_tasks)
