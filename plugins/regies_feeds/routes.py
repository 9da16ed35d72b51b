"""The two feeds: what they read (the node's own live activities and resources) and how each is written."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from feedgen.feed import FeedGenerator
from icalendar import Calendar, Event, vGeo
from sqlalchemy import select

from federation.plugin_api import appkeys, commune
from federation.plugin_api.storage import records
from federation.plugin_api.web import category_label

# Feed readers want the latest changes, not the whole history: the newest entries only.
ATOM_ENTRIES = 100
# Calendar and feed clients poll; a few minutes of staleness spares the node their polling.
CACHE_CONTROL = "public, max-age=300"
# planned: not sure yet; suspended: it will not happen as announced.
EVENT_STATUS = {"planned": "TENTATIVE", "active": "CONFIRMED", "ended": "CONFIRMED", "suspended": "CANCELLED"}
ICS_TYPE = "text/calendar; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"


async def _own(request: web.Request, kinds: tuple[str, ...]) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The node's profile and its live public records of `kinds` (kind, body), most recently changed first."""
    app = request.config_dict
    node_id = app[appkeys.STORE].node_id
    live = (records.c.origin == node_id, records.c.deleted.is_(False), records.c.audience.is_(None))
    async with app[appkeys.ENGINE].connect() as connection:
        profile_body = await connection.scalar(select(records.c.body).where(records.c.kind == "node", *live))
        rows = await connection.execute(
            select(records.c.kind, records.c.body)
            .where(records.c.kind.in_(kinds), *live)
            .order_by(records.c.updated_at_us.desc(), records.c.rid.desc())
        )
        found = [(row.kind, json.loads(row.body)) for row in rows]
    return (json.loads(profile_body) if profile_body else {"name": node_id}), found


def _where(place: Mapping[str, Any]) -> str | None:
    known = commune(place["commune"]) if place.get("commune") else None
    parts = [place.get("address"), known.name if known else None]
    return ", ".join(part for part in parts if part) or None


def _categories(body: Mapping[str, Any], request: web.Request) -> list[str]:
    labels = [category_label(body["category"], "fr")]
    service_type = request.config_dict[appkeys.PLUGINS].registry.service_types.get(body.get("service_type", ""))
    if service_type is not None:
        labels.append(service_type.label_fr)
    return labels


def _moment(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC)


async def calendar(request: web.Request) -> web.StreamResponse:
    """Every dated activity as an all-day event (a multi-day one spans its dates), updated in place by its UID."""
    profile, found = await _own(request, ("activity",))
    base_url = request.config_dict[appkeys.SETTINGS].public_base_url
    node_id = request.config_dict[appkeys.STORE].node_id
    ics = Calendar()
    ics.add("prodid", "-//Régies de Quartier et de Territoire//regies-federation//FR")
    ics.add("version", "2.0")
    ics.add("calscale", "GREGORIAN")
    ics.add("x-wr-calname", f"Activités – {profile.get('name', node_id)}")
    ics.add("x-wr-timezone", "Europe/Paris")
    for _kind, body in found:
        if not body.get("start_date"):
            continue
        start = dt.date.fromisoformat(body["start_date"])
        last = dt.date.fromisoformat(body["end_date"]) if body.get("end_date") else start
        event = Event()
        event.add("uid", f"{body['id']}@{node_id}")
        event.add("summary", body["title"])
        event.add("dtstart", start)
        event.add("dtend", max(last, start) + dt.timedelta(days=1))  # DTEND of an all-day event is exclusive
        event.add("dtstamp", _moment(body["updated_at"]))
        event.add("last-modified", _moment(body["updated_at"]))
        event.add("sequence", body["version"] - 1)  # clients replace an event when its sequence grows
        event.add("status", EVENT_STATUS.get(body.get("status", ""), "CONFIRMED"))
        event.add("categories", _categories(body, request))
        event.add("url", f"{base_url}/api/v1/activities/{body['id']}")
        if body.get("description"):
            event.add("description", body["description"])
        place = body.get("place") or {}
        if where := _where(place):
            event.add("location", where)
        if point := place.get("point"):
            event.add("geo", vGeo((point["lat"], point["lon"])))
        ics.add_component(event)
    return web.Response(body=ics.to_ical(), headers={"Content-Type": ICS_TYPE, "Cache-Control": CACHE_CONTROL})


# XML 1.0 admits no C0 control character but tab, newline and carriage return: a title or description holding one
# (the API accepts them) would make the feed unwritable, so they are dropped from the feed's text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


async def atom(request: web.Request) -> web.StreamResponse:
    """The newest activities and shared resources, each entry identified by its record's permanent address."""
    profile, found = await _own(request, ("activity", "resource"))
    base_url = request.config_dict[appkeys.SETTINGS].public_base_url
    name = profile.get("name") or request.config_dict[appkeys.STORE].node_id
    feed = FeedGenerator()
    feed.id(f"{base_url}/feeds/activities.atom")
    feed.title(_xml_text(f"Activités et ressources – {name}"))
    feed.subtitle("Les activités et les ressources partagées de la régie, les plus récemment modifiées d'abord.")
    feed.author(
        {
            "name": _xml_text(name),
            **({"email": email} if (email := (profile.get("contact") or {}).get("email")) else {}),
        }
    )
    feed.link(href=f"{base_url}/feeds/activities.atom", rel="self", type="application/atom+xml")
    feed.link(href=f"{base_url}/", rel="alternate", type="text/html")
    feed.language("fr")
    feed.updated(
        _moment(found[0][1]["updated_at"]) if found else _moment(profile.get("updated_at", "2000-01-01T00:00:00+00:00"))
    )
    for kind, body in reversed(found[:ATOM_ENTRIES]):  # feedgen puts the entry added last first
        collection = "activities" if kind == "activity" else "resources"
        address = f"{base_url}/api/v1/{collection}/{body['id']}"
        entry = feed.add_entry()
        entry.id(address)
        entry.link(href=address, rel="alternate", type="application/json")
        entry.updated(_moment(body["updated_at"]))
        if kind == "activity":
            entry.title(_xml_text(body["title"]))
            for label in _categories(body, request):
                entry.category(term=_xml_text(label), label=_xml_text(label))
        else:
            entry.title(_xml_text(f"Ressource partagée : {body['name']}"))
            entry.category(term="ressource", label="Ressource partagée")
        if body.get("description"):
            entry.summary(_xml_text(body["description"]))
    return web.Response(
        body=feed.atom_str(pretty=True), headers={"Content-Type": ATOM_TYPE, "Cache-Control": CACHE_CONTROL}
    )


def build_routes() -> list[web.RouteDef]:
    return [
        web.get("/activities.ics", calendar, allow_head=False),
        web.get("/activities.atom", atom, allow_head=False),
    ]


def feed_paths() -> dict[str, Any]:
    def item(operation_id: str, summary: str, media_type: str) -> dict[str, Any]:
        return {
            "get": {
                "operationId": operation_id,
                "summary": summary,
                "tags": ["feeds"],
                "responses": {"200": {"description": summary, "content": {media_type: {"schema": {"type": "string"}}}}},
            }
        }

    return {
        "/feeds/activities.ics": item(
            "activitiesCalendar", "The node's dated activities as an iCalendar (RFC 5545) calendar", "text/calendar"
        ),
        "/feeds/activities.atom": item(
            "activitiesFeed",
            "New and changed activities and shared resources as an Atom (RFC 4287) feed",
            "application/atom+xml",
        ),
    }
