"""iCalendar feeds (RFC 5545) of a resource: its accepted loans for the lender's staff, behind a secret URL token
they can replace (which revokes the previous one), and its weekly availability for anyone."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

import icalendar
from aiohttp import web
from sqlalchemy import delete, insert, select

from federation.plugin_api import Problem, json_response, read_json_object, require_token, utcnow
from federation.plugin_api.storage import node_meta

from . import rules, service
from .records import DEFAULT_ZONE

routes = web.RouteTableDef()
# The calendar token's digest, in the node's metadata: the token itself is shown once, when it is made.
TOKEN_KEY = "lending.calendar_token_sha256"
CALENDAR = "text/calendar; charset=utf-8"
PRODUCT = "-//regies-federation//lending//FR"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _stored_digest(request: web.Request) -> str | None:
    async with service.LendingReader(request.config_dict).engine.connect() as connection:
        value = await connection.scalar(select(node_meta.c.value).where(node_meta.c.key == TOKEN_KEY))
    return None if value is None else str(value)


@routes.post("/calendar-token")
async def new_calendar_token(request: web.Request) -> web.StreamResponse:
    """Make the staff's calendar token; the previous one stops working at once. It takes no body: one sent must
    be an empty JSON object, so a malformed request changes nothing (like every other write)."""
    await require_token(request)
    if request.can_read_body and await read_json_object(request):
        raise Problem(422, "this request takes no body (send none, or {})", slug="validation")
    token = secrets.token_urlsafe(24)
    async with service.LendingReader(request.config_dict).engine.begin() as connection:
        await connection.execute(delete(node_meta).where(node_meta.c.key == TOKEN_KEY))
        await connection.execute(insert(node_meta).values(key=TOKEN_KEY, value=_digest(token)))
    return json_response(f'{{"token": "{token}"}}', status=201)


@routes.delete("/calendar-token")
async def revoke_calendar_token(request: web.Request) -> web.StreamResponse:
    await require_token(request)
    async with service.LendingReader(request.config_dict).engine.begin() as connection:
        await connection.execute(delete(node_meta).where(node_meta.c.key == TOKEN_KEY))
    return web.Response(status=204)


def _calendar(name: str) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    return calendar


async def _own_resource(request: web.Request) -> dict[str, Any]:
    reader = service.LendingReader(request.config_dict)
    resource_id = request.match_info["id"]
    resource = await reader.resource(reader.node_id, resource_id) if service.is_uuid(resource_id) else None
    if resource is None:
        raise Problem(404, f"no resource {resource_id} of this node", slug="not-found")
    return resource


@routes.get("/calendar/{id}/loans.ics")
async def loans_calendar(request: web.Request) -> web.StreamResponse:
    """The resource's accepted (and picked-up) loans, for the lender's staff: `?token=` is the calendar token."""
    token = request.query.get("token", "")
    stored = await _stored_digest(request)
    if stored is None or not hmac.compare_digest(stored, _digest(token)):
        raise Problem(404, "no such calendar (the token is unknown or was replaced)", slug="not-found")
    resource = await _own_resource(request)
    calendar = _calendar(f"Prêts : {resource['name']}")
    stamp = utcnow()
    for loan in await service.LendingReader(request.config_dict).loans():
        if loan.role != "lender" or loan.request["resource"]["id"] != resource["id"] or loan.state not in rules.HOLDING:
            continue
        event = icalendar.Event()
        event.add("uid", f"{loan.request['id']}@{loan.request['origin']}")
        event.add("dtstamp", stamp)
        # In UTC: a fixed offset has no TZID, and icalendar would write it as a floating local time.
        event.add("dtstart", loan.start.astimezone(dt.UTC))
        event.add("dtend", loan.end.astimezone(dt.UTC))
        event.add("summary", f"Prêt à {loan.request['origin']} : {resource['name']}")
        event.add("description", f"{loan.request['purpose']} — quantité {loan.request['quantity']}")
        event.add("status", "CONFIRMED")
        calendar.add_component(event)
    return web.Response(body=calendar.to_ical(), content_type="text/calendar", charset="utf-8")


@routes.get("/calendar/{id}/availability.ics")
async def availability_calendar(request: web.Request) -> web.StreamResponse:
    """The resource's weekly availability slots, public: one weekly recurring event per slot."""
    resource = await _own_resource(request)
    calendar = _calendar(f"Disponibilités : {resource['name']}")
    today = dt.date.today()
    for n, slot in enumerate(resource.get("availability", {}).get("slots", [])):
        day = today + dt.timedelta(days=(int(slot["weekday"]) - today.isoweekday()) % 7)
        start = dt.datetime.combine(day, dt.time.fromisoformat(slot["start"]), DEFAULT_ZONE)
        end = dt.datetime.combine(day, dt.time.fromisoformat(slot["end"]), DEFAULT_ZONE)
        event = icalendar.Event()
        event.add("uid", f"{resource['id']}-slot-{n}@{resource['origin']}")
        event.add("dtstamp", utcnow())
        event.add("dtstart", start)
        event.add("dtend", end)
        event.add("rrule", {"freq": "weekly"})
        event.add("summary", f"Disponible : {resource['name']}")
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    calendar.add_missing_timezones()  # the VTIMEZONE of Europe/Paris, which the slots' TZID names (RFC 5545 §3.6.5)
    return web.Response(body=calendar.to_ical(), content_type="text/calendar", charset="utf-8")
