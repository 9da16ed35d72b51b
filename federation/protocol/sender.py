"""Push delivery: the durable outbox that sends this node's changes to subscribed peers and sync targets.

Design
------
* **What is sent.** For every destination (a peer with `push` enabled, or a sync target registered by a
  plugin), the sender walks the change log of local records from the destination's push cursor. It freezes
  the current state of the records changed in that range into an *outbox batch* row (with a random batch id)
  and advances the cursor, in one transaction. A crash therefore never loses a range: either the batch row
  exists, or the cursor did not move.
* **One batch in flight per destination.** Only the oldest pending batch of a destination is attempted;
  later batches wait behind it, so a receiver sees batches in commit order.
* **At-least-once.** A batch is marked delivered only after the receiver answered 2xx. If the answer is
  lost, the batch is sent again with the same batch id and the receiver deduplicates on (origin, batch id);
  apply is idempotent anyway (versions only move forward).
* **Retries.** A transient failure (no answer, 5xx, 401, 408, 425, 429) reschedules the batch after an
  exponential delay with jitter: `retry_initial_s * 2^(attempts-1)` capped at `retry_max_s`, multiplied by
  a random factor in [0.5, 1]. A permanent failure (other 4xx: the receiver refuses this batch) moves it to
  `failed`; it is never dropped silently: `regies outbox` lists it, `regies outbox retry` re-queues it and
  `regies outbox discard` gives up on it explicitly.
* **Circuit breaker.** After `breaker_threshold` consecutive failures a destination is left alone for
  `breaker_cooldown_s`; the next attempt after that is a probe that closes the breaker on success.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from federation.protocol import persistence
from federation.protocol.context import FederationContext
from federation.protocol.older_peers import PeerReading, reading_of
from federation.protocol.peerkeys import PeerKeys
from federation.protocol.transport import TransportError
from federation.schema.records import utcnow
from federation.storage.engine import insert_for
from federation.storage.mapping import to_micros
from federation.storage.tables import outbox_batches, push_cursors
from federation.versions import SCHEMA_VERSION

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Destination:
    key: str
    label: str
    # The destination is the network's hub (a peer with the hub role, or a plugin's sync target): it is sent the
    # kinds whose audience is the hub (reports), which other peers never are.
    is_hub: bool
    peer_inbox: str | None = None
    target: str | None = None
    reader: str = ""  # node id that records with an audience must match (none for sync targets)
    # What the destination reads (a peer of an older minor version: fewer kinds and payload members).
    reading: PeerReading = field(default_factory=PeerReading)


def destinations(context: FederationContext, peers: list[persistence.Peer]) -> list[Destination]:
    found = [
        Destination(
            f"peer:{peer.node_id}",
            peer.name,
            peer.is_hub,
            peer_inbox=f"{peer.base_url}/federation/v1/inbox",
            reader=peer.node_id,
            reading=reading_of(peer.speaks, SCHEMA_VERSION),
        )
        for peer in peers
        if peer.push and peer.status == "active"
    ]
    found += [
        Destination(f"target:{name}", target.description or name, True, target=name)
        for name, target in sorted(context.registry.sync_targets.items())
    ]
    return found


def retry_delay(attempts: int, initial: float, cap: float, rng: random.Random | None = None) -> float:
    base = min(cap, initial * 2.0 ** max(attempts - 1, 0))
    factor: float = (rng or random.Random()).uniform(0.5, 1.0)
    return base * factor


async def _cursor(connection: AsyncConnection, destination: str) -> dict[str, Any]:
    dialect = connection.dialect.name
    statement: Any = insert_for(dialect, push_cursors)
    await connection.execute(
        statement.values(destination=destination, last_seq=0, consecutive_failures=0).on_conflict_do_nothing()
    )
    query = select(push_cursors).where(push_cursors.c.destination == destination)
    if dialect == "postgresql":
        query = query.with_for_update()
    return dict((await connection.execute(query)).mappings().one())


async def enqueue(context: FederationContext, destination: Destination) -> int:
    """Freeze the next range of changes for `destination` into a pending batch; returns its record count."""
    settings = context.settings
    async with context.engine.begin() as connection:
        cursor = await _cursor(connection, destination.key)
        pending = await connection.scalar(
            select(outbox_batches.c.id).where(
                outbox_batches.c.destination == destination.key, outbox_batches.c.state == "pending"
            )
        )
        if pending is not None:
            return 0
        rows = (
            await connection.execute(
                text(
                    persistence.feed_sql(
                        connection.dialect.name,
                        persistence.feed_visibility(context.registry.kinds, destination.is_hub)
                        + persistence.hidden_kinds_condition(destination.reading.hidden_kinds(context.registry.kinds)),
                    )
                ),
                {
                    "since": cursor["last_seq"],
                    "origin": context.node_id,
                    "quoted_origin": json.dumps(context.node_id),
                    "limit": settings.batch_size,
                    "reader": destination.reader,
                },
            )
        ).all()
        if not rows:
            return 0
        items: list[str] = []
        size = 0
        last_seq = cursor["last_seq"]
        for row in rows:
            seq, item = row[0], row[1]
            if destination.reading.adapts_payloads:
                item = destination.reading.adapt(item.encode()).decode()
            if items and size + len(item) > settings.max_batch_bytes:
                break
            items.append(item)
            size += len(item) + 1
            last_seq = seq
        batch_id = str(uuid.uuid4())
        payload = (
            f'{{"origin":{json.dumps(context.node_id)},"batch_id":"{batch_id}","records":[' + ",".join(items) + "]}"
        )
        now = to_micros(utcnow())
        await connection.execute(
            outbox_batches.insert().values(
                destination=destination.key,
                batch_id=batch_id,
                first_seq=rows[0][0],
                last_seq=last_seq,
                record_count=len(items),
                payload=payload,
                state="pending",
                attempts=0,
                next_attempt_at_us=now,
                created_at_us=now,
            )
        )
        await connection.execute(
            update(push_cursors).where(push_cursors.c.destination == destination.key).values(last_seq=last_seq)
        )
    return len(items)


async def _send(context: FederationContext, destination: Destination, payload: str) -> None:
    if destination.peer_inbox is not None:
        peer = await persistence.get_peer(context.engine, destination.reader)
        if peer is None:
            raise TransportError(f"peer '{destination.reader}' was removed", 404)
        # Only the peer's signed receipt counts as delivery: a forged 202 would otherwise drop the batch.
        signed_by = PeerKeys(context.engine, context.client, peer)
        await context.client.request("POST", destination.peer_inbox, payload.encode(), signed_by=signed_by)
        return
    target = context.registry.sync_targets.get(destination.target or "")
    if target is None:
        raise TransportError(f"sync target '{destination.target}' is no longer registered", 404)
    try:
        await target.send(json.loads(payload), context)
    except TransportError:
        raise
    except Exception as exc:
        raise TransportError(f"sync target '{destination.target}': {type(exc).__name__}: {exc}") from exc


async def deliver_next(context: FederationContext, destination: Destination) -> bool:
    """Attempt the oldest due pending batch of `destination`; True if one was delivered."""
    settings = context.settings
    now = to_micros(utcnow())
    async with context.engine.connect() as connection:
        breaker = (
            (await connection.execute(select(push_cursors).where(push_cursors.c.destination == destination.key)))
            .mappings()
            .first()
        )
        if breaker is not None and breaker["open_until_us"] and breaker["open_until_us"] > now:
            return False
        batch = (
            (
                await connection.execute(
                    select(outbox_batches)
                    .where(outbox_batches.c.destination == destination.key, outbox_batches.c.state == "pending")
                    .order_by(outbox_batches.c.id)
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
    if batch is None or batch["next_attempt_at_us"] > now:
        return False
    attempts = batch["attempts"] + 1
    try:
        await _send(context, destination, batch["payload"])
    except TransportError as exc:
        failures = (breaker["consecutive_failures"] if breaker else 0) + 1
        open_until = None
        if failures >= settings.breaker_threshold:
            open_until = to_micros(utcnow()) + int(settings.breaker_cooldown_s * 1_000_000)
        values: dict[str, Any] = {"attempts": attempts, "last_error": str(exc)[:2000]}
        if exc.permanent:
            values["state"] = "failed"
            log.error("outbox: %s refused batch %s permanently: %s", destination.key, batch["batch_id"], exc)
        else:
            delay = retry_delay(attempts, settings.retry_initial_s, settings.retry_max_s)
            values["next_attempt_at_us"] = to_micros(utcnow()) + int(delay * 1_000_000)
            log.warning(
                "outbox: %s batch %s failed (retry in %.0f s): %s", destination.key, batch["batch_id"], delay, exc
            )
        async with context.engine.begin() as connection:
            await connection.execute(update(outbox_batches).where(outbox_batches.c.id == batch["id"]).values(**values))
            await connection.execute(
                update(push_cursors)
                .where(push_cursors.c.destination == destination.key)
                .values(consecutive_failures=failures, open_until_us=open_until)
            )
        return False
    async with context.engine.begin() as connection:
        await connection.execute(
            update(outbox_batches)
            .where(outbox_batches.c.id == batch["id"])
            .values(state="delivered", attempts=attempts, delivered_at_us=to_micros(utcnow()), last_error=None)
        )
        await connection.execute(
            update(push_cursors)
            .where(push_cursors.c.destination == destination.key)
            .values(consecutive_failures=0, open_until_us=None)
        )
    return True


async def push_destination(context: FederationContext, destination: Destination, max_batches: int = 1000) -> int:
    """Enqueue and deliver until caught up, blocked by a failure, or `max_batches`; returns batches delivered."""
    delivered = 0
    while delivered < max_batches:
        await enqueue(context, destination)
        if not await deliver_next(context, destination):
            break
        delivered += 1
    return delivered


async def push_all(context: FederationContext) -> dict[str, int]:
    peers = await persistence.list_peers(context.engine)
    targets = destinations(context, peers)
    results = await asyncio.gather(*(push_destination(context, destination) for destination in targets))
    return {destination.key: count for destination, count in zip(targets, results, strict=True)}


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    destination: str
    batch_id: str
    record_count: int
    state: str
    attempts: int
    next_attempt_at_us: int
    last_error: str | None
    created_at_us: int


async def list_outbox(context: FederationContext, include_delivered: bool = False) -> list[OutboxEntry]:
    query = select(outbox_batches).order_by(outbox_batches.c.id)
    if not include_delivered:
        query = query.where(outbox_batches.c.state.in_(("pending", "failed")))
    async with context.engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [
        OutboxEntry(
            row["id"],
            row["destination"],
            row["batch_id"],
            row["record_count"],
            row["state"],
            row["attempts"],
            row["next_attempt_at_us"],
            row["last_error"],
            row["created_at_us"],
        )
        for row in rows
    ]


async def retry_batches(context: FederationContext, batch_ids: list[int] | None) -> list[int]:
    """Send batches at the next delivery, closing their destinations' breakers; the ids of those re-queued.

    `batch_ids` None: every failed batch. Named batches may be failed (queued again) or pending (their backoff is
    cut short: an operator who fixed the cause should not wait up to an hour for the next try).
    """
    if batch_ids is None:
        condition = outbox_batches.c.state == "failed"
    else:
        condition = outbox_batches.c.id.in_(batch_ids) & outbox_batches.c.state.in_(("pending", "failed"))
    async with context.engine.begin() as connection:
        # RETURNING: exactly the batches this statement changed, even if a delivery runs meanwhile.
        hit = (
            await connection.execute(
                update(outbox_batches)
                .where(condition)
                .values(state="pending", next_attempt_at_us=to_micros(utcnow()))
                .returning(outbox_batches.c.id, outbox_batches.c.destination)
            )
        ).all()
        if hit:
            await connection.execute(
                update(push_cursors)
                .where(push_cursors.c.destination.in_({row.destination for row in hit}))
                .values(consecutive_failures=0, open_until_us=None)
            )
    return sorted(row.id for row in hit)


async def discard_batches(context: FederationContext, batch_ids: list[int]) -> list[int]:
    """Give up on failed or pending batches explicitly (they stay listed as discarded); the ids discarded."""
    condition = outbox_batches.c.id.in_(batch_ids) & outbox_batches.c.state.in_(("pending", "failed"))
    async with context.engine.begin() as connection:
        statement = update(outbox_batches).where(condition).values(state="discarded").returning(outbox_batches.c.id)
        hit = (await connection.execute(statement)).scalars().all()
    return sorted(hit)


async def outbox_depth(context: FederationContext) -> dict[str, dict[str, int]]:
    """Pending and failed batches per destination."""
    from sqlalchemy import func

    async with context.engine.connect() as connection:
        rows = await connection.execute(
            select(outbox_batches.c.destination, outbox_batches.c.state, func.count())
            .where(outbox_batches.c.state.in_(("pending", "failed")))
            .group_by(outbox_batches.c.destination, outbox_batches.c.state)
        )
        depth: dict[str, dict[str, int]] = {}
        for destination, state, count in rows:
            depth.setdefault(destination, {"pending": 0, "failed": 0})[state] = int(count)
    return depth
