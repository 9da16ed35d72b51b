"""Back-office page of the federation status: peers, last sync, lag, errors, the outbox, and retry buttons.

The same functions as `regies peers`, `regies sync` and `regies outbox retry` do the work. After a button, the
page is reloaded with what happened as codes and counts in its query (`?done=sync&received=rq-x:3`), never as
text: a link someone sends cannot make this trusted page say words of their choosing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from yarl import URL

from federation.protocol import persistence, sender
from federation.protocol.context import FEDERATION
from federation.protocol.puller import PullBusy, PullError, pull_peer
from federation.protocol.transport import TransportError
from federation.storage.mapping import from_micros
from federation.web.auth import require_user
from federation.web.i18n_request import translate
from federation.web.rendering import render
from federation.web.users import NODE_ROLES

log = logging.getLogger(__name__)

PATH = "/admin/federation"
MAX_COUNT = 10**9  # counts in the notice's query beyond this are not what a button wrote: ignored
MAX_BATCH_ID = 2**63 - 1  # outbox ids are 64-bit integers; a larger one would overflow the database driver


def _when(micros: int | None) -> str:
    return "" if micros is None else from_micros(micros).strftime("%Y-%m-%d %H:%M UTC")


async def status(request: web.Request) -> web.StreamResponse:
    await require_user(request, NODE_ROLES)
    context = request.config_dict[FEDERATION]
    depth = await sender.outbox_depth(context)
    known = await persistence.list_peers(context.engine)
    peers: list[dict[str, Any]] = []
    for peer in known:
        queue = depth.get(f"peer:{peer.node_id}", {"pending": 0, "failed": 0})
        peers.append({"peer": peer, "last_sync": _when(peer.last_success_at_us), "queue": queue})
    entries = await sender.list_outbox(context)
    batches = [
        {"entry": entry, "next_try": _when(entry.next_attempt_at_us) if entry.state == "pending" else ""}
        for entry in entries
    ]
    other_destinations = {name: queue for name, queue in depth.items() if not name.startswith("peer:")}
    by_id = {peer.node_id: peer for peer in known}
    page = {
        "peers": peers,
        "destinations": sender.destinations(context, known),  # none: "every change delivered" would be wrong
        "batches": batches,
        "other_destinations": other_destinations,
        "failed": sum(1 for entry in entries if entry.state == "failed"),
        "message": " ".join(_notice(request, by_id)),
    }
    return await render(request, "admin/federation.html", page)


def _count(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and int(text) <= MAX_COUNT else None


def _notice(request: web.Request, peers: Mapping[str, persistence.Peer]) -> list[str]:
    """The outcome of the last button, in French, from the codes in the query; anything else is ignored."""
    query = request.query
    delivered = _count(query.get("delivered", ""))
    if query.get("done") == "retry":
        queued = _count(query.get("queued", ""))
        if queued is None or delivered is None:
            return []
        return [
            translate(request, "%(queued)d batch(es) queued again, %(delivered)d delivered now.")
            % {"queued": queued, "delivered": delivered}
        ]
    if query.get("done") != "sync":
        return []
    outcomes = []
    for node_id in query.getall("busy", []):
        if node_id in peers:
            outcomes.append(
                translate(request, "%(peer)s: a pull is already running; its records arrive with it.")
                % {"peer": peers[node_id].name}
            )
    for node_id in query.getall("failed", []):
        if node_id in peers:  # the reason is the one the peer's row shows, as the pull recorded it
            outcomes.append(
                translate(request, "%(peer)s: failed (%(error)s)")
                % {"peer": peers[node_id].name, "error": peers[node_id].last_error or ""}
            )
    for item in query.getall("received", []):
        node_id, _, text = item.rpartition(":")
        count = _count(text)
        if node_id in peers and count is not None:
            outcomes.append(
                translate(request, "%(peer)s: %(count)d record(s) received")
                % {"peer": peers[node_id].name, "count": count}
            )
    if delivered is not None:
        outcomes.append(translate(request, "%(delivered)d batch(es) delivered.") % {"delivered": delivered})
    return outcomes


async def retry(request: web.Request) -> web.StreamResponse:
    """Queue failed batches again (one, or all of them) and deliver what can be delivered now."""
    await require_user(request, NODE_ROLES)
    form = await request.post()
    context = request.config_dict[FEDERATION]
    batch = str(form.get("batch", ""))
    if batch and not (batch.isascii() and batch.isdigit() and int(batch) <= MAX_BATCH_ID):
        raise web.HTTPBadRequest(text=translate(request, "This delivery does not exist: reload the page."))
    count = len(await sender.retry_batches(context, [int(batch)] if batch else None))
    delivered = sum((await sender.push_all(context)).values())
    raise web.HTTPSeeOther(URL(PATH).with_query(done="retry", queued=str(count), delivered=str(delivered)))


async def sync(request: web.Request) -> web.StreamResponse:
    """Pull from one peer (or every pulled peer) and deliver the outbox, now."""
    await require_user(request, NODE_ROLES)
    form = await request.post()
    context = request.config_dict[FEDERATION]
    wanted = str(form.get("peer", ""))
    outcomes: list[tuple[str, str]] = [("done", "sync")]
    for peer in await persistence.list_peers(context.engine):
        if not peer.pull or (wanted and peer.node_id != wanted):
            continue
        try:
            progress = await pull_peer(context, peer)
        except PullBusy:
            outcomes.append(("busy", peer.node_id))
            continue
        except (PullError, TransportError) as exc:
            log.warning("sync now: %s", exc)  # the page shows the reason the pull recorded on the peer
            outcomes.append(("failed", peer.node_id))
            continue
        outcomes.append(("received", f"{peer.node_id}:{progress.received}"))
    delivered = sum((await sender.push_all(context)).values())
    outcomes.append(("delivered", str(delivered)))
    raise web.HTTPSeeOther(URL(PATH).with_query(outcomes))


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, status, allow_head=False)
    app.router.add_post(PATH + "/retry", retry)
    app.router.add_post(PATH + "/sync", sync)
