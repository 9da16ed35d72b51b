"""Pushing this node's batches to the hub, and recording the hub's reviews on this node's own reports."""

from __future__ import annotations

import json
import logging
from typing import Any

from federation.plugin_api import RecordError, StoredDocuments, build_reviewed_report
from federation.plugin_api.network import Peer, PeerKeys, TransportError, get_peer, list_peers

log = logging.getLogger(__name__)


async def hub_peer(context: Any) -> Peer:
    for peer in await list_peers(context.engine):
        if peer.is_hub:
            return peer
    raise TransportError("this node has not joined the hub yet: run `regies network join`")


async def send_to_hub(batch: dict[str, Any], context: Any) -> None:
    """Sync target: the batch goes to the hub's inbox, signed by this node (retried by the outbox)."""
    hub = await hub_peer(context)
    # Only the hub's signed receipt counts as delivery: a forged 202 would otherwise drop the batch.
    signed_by = PeerKeys(context.engine, context.client, hub)
    await context.client.request(
        "POST", f"{hub.base_url}/federation/v1/inbox", json.dumps(batch).encode(), signed_by=signed_by
    )


async def apply_reviews(origin: str, records: StoredDocuments, context: Any) -> None:
    """The hub validated or returned one of our reports: record the decision on the report itself.

    Only reviews the hub wrote count: `origin` (the sender, whose records these all are) must be the peer this
    node joined as its hub, and each review's own origin that hub (a receiver refuses reviews from anyone else:
    the kind's declaration, RecordKind.authors; this is the last check before a report changes)."""
    if "review" not in records.kinds:
        return
    peer = await get_peer(context.engine, origin)
    if peer is None or not peer.is_hub:
        log.warning("reviews from %s ignored: it is not this node's hub", origin)
        return
    for review in records:
        if review.get("deleted") or "decision" not in review or review.get("report_origin") != context.node_id:
            continue
        if review.get("origin") != peer.node_id:
            log.warning("review %s ignored: written by %s, not by the hub", review.get("id"), review.get("origin"))
            continue
        report_id = str(review["report_id"])
        try:
            # Through the record service like every write: plugins hear of the decision (record_committed).
            await context.store.replace_built(
                "report", report_id, lambda previous, envelope, r=review: build_reviewed_report(previous, envelope, r)
            )
        except RecordError as exc:
            log.info("review %s from %s not applied: %s", review.get("id"), origin, exc)
            continue
        log.info("report %s %s by %s", report_id, review["decision"], review.get("reviewer"))
