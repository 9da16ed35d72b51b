"""Back-office page of the federation status: peers, last sync, lag, errors, the outbox, and retry buttons.

The same functions as `regies peers`, `regies sync` and `regies outbox retry` do the work.
"""

from __future__ import annotations

import logging
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
    page = {
        "peers": peers,
        "destinations": sender.destinations(context, known),  # none: "every change delivered" would be wrong
        "batches": batches,
        "other_destinations": other_destinations,
        "failed": sum(1 for entry in entries if entry.state == "failed"),
        "message": request.query.get("message", ""),
    }
    return await render(request, "admin/federation.html", page)


async def retry(request: web.Request) -> web.StreamResponse:
    """Queue failed batches again (one, or all of them) and deliver what can be delivered now."""
    await require_user(request, NODE_ROLES)
    form = await request.post()
    context = request.config_dict[FEDERATION]
    batch = str(form.get("batch", ""))
    count = len(await sender.retry_batches(context, [int(batch)] if batch.isdigit() else None))
    delivered = sum((await sender.push_all(context)).values())
    message = translate(request, "%(queued)d batch(es) queued again, %(delivered)d delivered now.") % {
        "queued": count,
        "delivered": delivered,
    }
    raise web.HTTPSeeOther(URL(PATH).with_query(message=message))


async def sync(request: web.Request) -> web.StreamResponse:
    """Pull from one peer (or every pulled peer) and deliver the outbox, now."""
    await require_user(request, NODE_ROLES)
    form = await request.post()
    context = request.config_dict[FEDERATION]
    wanted = str(form.get("peer", ""))
    outcomes = []
    for peer in await persistence.list_peers(context.engine):
        if not peer.pull or (wanted and peer.node_id != wanted):
            continue
        try:
            progress = await pull_peer(context, peer)
        except PullBusy:
            outcomes.append(
                translate(request, "%(peer)s: a pull is already running; its records arrive with it.")
                % {"peer": peer.name}
            )
            continue
        except (PullError, TransportError) as exc:
            log.warning("sync now: %s", exc)  # the page shows it too, but only to whoever clicked
            outcomes.append(translate(request, "%(peer)s: failed (%(error)s)") % {"peer": peer.name, "error": exc})
            continue
        outcomes.append(
            translate(request, "%(peer)s: %(count)d record(s) received")
            % {"peer": peer.name, "count": progress.received}
        )
    delivered = sum((await sender.push_all(context)).values())
    outcomes.append(translate(request, "%(delivered)d batch(es) delivered.") % {"delivered": delivered})
    raise web.HTTPSeeOther(URL(PATH).with_query(message=" ".join(outcomes)))


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, status, allow_head=False)
    app.router.add_post(PATH + "/retry", retry)
    app.router.add_post(PATH + "/sync", sync)
