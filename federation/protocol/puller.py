"""Pull replication: page through a peer's change feed, applying each page with its checkpoint atomically."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from federation.protocol import persistence
from federation.protocol.apply import BatchRejected, apply_rows, envelope_rows
from federation.protocol.context import FederationContext
from federation.protocol.persistence import Peer
from federation.protocol.transport import TransportError

log = logging.getLogger(__name__)


@dataclass
class PullProgress:
    """Reported after every applied page (for progress bars)."""

    peer: str
    received: int = 0
    applied: int = 0
    pages: int = 0
    remaining: int = 0
    started: float = 0.0

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.received / elapsed if elapsed > 0 else 0.0


class PullError(Exception):
    pass


async def pull_peer(
    context: FederationContext,
    peer: Peer,
    on_page: Callable[[PullProgress], None] | None = None,
    max_pages: int | None = None,
) -> PullProgress:
    """Pull until the peer's feed is exhausted (or `max_pages`); the outcome is recorded on the peer."""
    progress = PullProgress(peer=peer.node_id, started=time.monotonic())
    cursor = peer.cursor or ""
    try:
        while max_pages is None or progress.pages < max_pages:
            url = f"{peer.base_url}/federation/v1/changes?since={quote(cursor)}&limit={context.settings.batch_size}"
            document = (await context.client.request("GET", url)).json()
            if not isinstance(document, dict) or document.get("origin") != peer.node_id:
                raise PullError(f"{url} answered for origin {document.get('origin')!r}, not '{peer.node_id}'")
            rows = envelope_rows(document.get("records", []), peer.node_id)
            next_cursor = str(document["next_cursor"])
            remaining = int(document.get("remaining", 0))
            async with context.engine.begin() as connection:
                applied = await apply_rows(connection, rows)
                await persistence.set_checkpoint(connection, peer.node_id, next_cursor, remaining)
            if rows and context.plugins.wants_replicas():
                stored = [json.loads(row["body"]) for row in rows]
                await context.plugins.records_replicated(peer.node_id, stored, context)
            cursor = next_cursor
            progress.pages += 1
            progress.received += len(rows)
            progress.applied += applied
            progress.remaining = remaining
            if on_page is not None:
                on_page(progress)
            if not document.get("more"):
                break
    except (TransportError, BatchRejected, PullError, KeyError, ValueError) as exc:
        await persistence.record_pull_outcome(context.engine, peer.node_id, error=str(exc))
        log.warning("pull from %s failed: %s", peer.node_id, exc)
        raise PullError(f"pull from {peer.node_id} failed: {exc}") from exc
    await persistence.record_pull_outcome(context.engine, peer.node_id, lag=progress.remaining)
    return progress
