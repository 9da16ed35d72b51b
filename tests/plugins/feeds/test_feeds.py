"""A node's calendar and Atom feed, parsed back with the libraries calendar apps and feed readers use, and
announced by its public page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import feedparser
from icalendar import Calendar
from lxml import html

from tests.plugins.hsds.conftest import MEDIATION, MEETING, MINIBUS


async def test_the_calendar_has_each_dated_activity(regie: dict[str, Any]) -> None:
    response = await regie["client"].get("/feeds/activities.ics")
    assert response.status == 200
    assert response.content_type == "text/calendar"
    calendar = Calendar.from_ical(await response.read())
    assert str(calendar["version"]) == "2.0"
    assert "Régie de quartier de Saint-Denis" in str(calendar["x-wr-calname"])
    events = {str(event["summary"]): event for event in calendar.walk("VEVENT")}
    assert set(events) == {MEDIATION["title"], MEETING["title"]}  # the resource has no date; the deleted one is gone

    meeting = events[MEETING["title"]]
    assert meeting.decoded("dtstart") == dt.date(2026, 4, 14)
    assert meeting.decoded("dtend") == dt.date(2026, 4, 15)  # exclusive end of a one-day event
    assert str(meeting["status"]) == "TENTATIVE"  # planned
    assert str(meeting["location"]) == "Maison de quartier, Saint-Denis"
    assert str(meeting["uid"]) == f"{regie['meeting']['id']}@rq-test"
    assert meeting["categories"].cats == ["Démocratie locale", "Réunions d'habitants"]

    mediation = events[MEDIATION["title"]]
    assert (mediation.decoded("dtstart"), mediation.decoded("dtend")) == (dt.date(2025, 1, 6), dt.date(2025, 12, 20))
    assert str(mediation["status"]) == "CONFIRMED"
    assert (mediation["geo"].latitude, mediation["geo"].longitude) == (48.93, 2.36)
    assert str(mediation["description"]) == MEDIATION["description"]


async def test_a_changed_activity_keeps_its_uid_with_a_higher_sequence(regie: dict[str, Any]) -> None:
    client, auth = regie["client"], regie["auth"]
    meeting = regie["meeting"]
    changed = {**MEETING, "title": "Réunion d'habitants (nouvelle date)", "start_date": "2026-04-21"}
    assert (await client.put(f"/api/v1/activities/{meeting['id']}", json=changed, headers=auth)).status == 200
    calendar = Calendar.from_ical(await (await client.get("/feeds/activities.ics")).read())
    (event,) = [e for e in calendar.walk("VEVENT") if str(e["uid"]) == f"{meeting['id']}@rq-test"]
    assert str(event["summary"]) == "Réunion d'habitants (nouvelle date)"
    assert event.decoded("dtstart") == dt.date(2026, 4, 21)
    assert int(event["sequence"]) == 1


async def test_the_atom_feed_lists_new_and_changed_records_newest_first(regie: dict[str, Any]) -> None:
    client, auth = regie["client"], regie["auth"]
    mediation = regie["mediation"]
    changed = {**MEDIATION, "description": "Des médiateurs présents le soir et le week-end."}
    assert (await client.put(f"/api/v1/activities/{mediation['id']}", json=changed, headers=auth)).status == 200

    response = await client.get("/feeds/activities.atom")
    assert response.status == 200
    assert response.content_type == "application/atom+xml"
    feed = feedparser.parse(await response.read())
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title == "Activités et ressources – Régie de quartier de Saint-Denis"
    titles = [entry.title for entry in feed.entries]
    # The changed activity first, then the others from the most recently created.
    assert titles == [
        MEDIATION["title"],
        f"Ressource partagée : {MINIBUS['name']}",
        MEETING["title"],
    ]
    first = feed.entries[0]
    assert first.id.endswith(f"/api/v1/activities/{mediation['id']}")
    assert first.summary == "Des médiateurs présents le soir et le week-end."
    assert {tag.term for tag in first.tags} == {"Médiation sociale"}
    updated = [dt.datetime(*entry.updated_parsed[:6]) for entry in feed.entries]
    assert updated == sorted(updated, reverse=True)
    assert feed.feed.updated_parsed == feed.entries[0].updated_parsed


async def test_the_public_page_announces_the_feeds(regie: dict[str, Any]) -> None:
    page = await regie["client"].get("/", headers={"Accept": "text/html"})
    tree = html.fromstring(await page.text())
    alternates = {link.get("href"): link.get("type") for link in tree.xpath("//head/link[@rel='alternate']")}
    assert alternates["/feeds/activities.ics"] == "text/calendar"
    assert alternates["/feeds/activities.atom"] == "application/atom+xml"
    assert alternates["/hsds/services"] == "application/json"
    listed = tree.xpath("//section[@aria-labelledby='data']//a/@href")
    assert {"/feeds/activities.ics", "/feeds/activities.atom", "/hsds/services"} <= set(listed)
    titles = tree.xpath("//head/link[@rel='alternate']/@title")
    assert "Agenda des activités (iCalendar)" in titles  # French by default


async def test_control_characters_in_a_description_do_not_break_the_atom_feed(regie: dict[str, Any]) -> None:
    # The API accepts them; XML 1.0 does not (the fuzzer found the feed answering 500).
    client, auth = regie["client"], regie["auth"]
    mediation = regie["mediation"]
    changed = {**MEDIATION, "title": "Médiation\x01 du soir", "description": "Présents le soir\x0b et le week-end."}
    assert (await client.put(f"/api/v1/activities/{mediation['id']}", json=changed, headers=auth)).status == 200
    response = await client.get("/feeds/activities.atom")
    assert response.status == 200
    feed = feedparser.parse(await response.read())
    assert not feed.bozo
    assert any(entry.title == "Médiation du soir" for entry in feed.entries)
