"""The node's public page: the régie's face to inhabitants and partners (who it is, its fields of action, its next
activities, where it acts, what it lends and how to reach it)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from aiohttp import web
from babel.dates import format_date

from federation import appkeys
from federation.protocol import persistence
from federation.schema.geo import DEPARTMENTS, department_for_commune
from federation.schema.types import Category
from federation.web import data, logo
from federation.web.i18n_request import language
from federation.web.maps import ChoroplethMap, locator
from federation.web.rendering import category_label, render

# The download links of the "Open data" section, where the export formats are registered (regies_exports).
DOWNLOADS = (("xlsx", "XLSX"), ("ods", "ODS"), ("csv", "CSV"), ("geojson", "GeoJSON"))
# The "next activities" list stays short: the fields of action below list every activity.
UPCOMING_SHOWN = 6
_CLOSED_STATUSES = ("ended", "suspended")


async def home(request: web.Request) -> web.StreamResponse:
    lang = language(request)
    registry = request.config_dict[appkeys.PLUGINS].registry
    activities = await data.own_records(request, "activity")
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for activity in activities:
        service_type = registry.service_types.get(activity.get("service_type", ""))
        activity["service_type_label"] = service_type.labels()[lang] if service_type else activity.get("service_type")
        by_category[activity["category"]].append(activity)
    # Fields of action in the network's usual order, each with its activities.
    groups = [
        {"key": category.value, "label": category_label(category.value, lang), "activities": by_category[category]}
        for category in Category
        if by_category.get(category.value)
    ]
    profile = await data.node_profile(request)
    peers = await persistence.list_peers(request.config_dict[appkeys.ENGINE])
    context = {
        "profile": profile,
        "logo_version": logo.version(request),
        "groups": groups,
        "upcoming": upcoming(activities, dt.date.today(), lang),
        "communes": communes_served(profile, activities),
        "qpv": qpv_served(profile, activities),
        "resources": await data.own_records(request, "resource"),
        "peers": [peer for peer in peers if peer.role != "hub"],
        "hubs": [peer for peer in peers if peer.role == "hub"],
        "place_map": place_map(profile, lang),
        "downloads": [(fmt, label) for fmt, label in DOWNLOADS if fmt in registry.exporters],
        "datainclusion": "datainclusion" in registry.api_routes,
        "public_links": registry.public_links,
    }
    return await render(request, "public/home.html", context)


def place_map(profile: dict[str, Any], lang: str) -> ChoroplethMap | None:
    """The map of France with the régie's department highlighted, when its profile names a commune."""
    department = profile.get("department")
    if not department or department not in DEPARTMENTS:
        return None
    return locator(department, f"{DEPARTMENTS[department].name} ({department})", lang=lang)


def upcoming(activities: list[dict[str, Any]], today: dt.date, lang: str) -> list[dict[str, Any]]:
    """Open activities that start today or later, soonest first, with their date written out in `lang`."""
    dated = [
        activity
        for activity in activities
        if activity.get("start_date")
        and activity["start_date"] >= today.isoformat()
        and activity.get("status") not in _CLOSED_STATUSES
    ]
    soonest = sorted(dated, key=lambda activity: (activity["start_date"], activity["title"]))[:UPCOMING_SHOWN]
    for activity in soonest:
        activity["start_label"] = format_date(dt.date.fromisoformat(activity["start_date"]), "long", locale=lang)
    return soonest


def communes_served(profile: dict[str, Any], activities: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The head office's commune, then the communes of the activities, each once, with its department."""
    codes = [profile.get("commune"), *((activity.get("place") or {}).get("commune") for activity in activities)]
    served: list[dict[str, str]] = []
    for code in dict.fromkeys(code for code in codes if code):
        try:
            department = department_for_commune(code).name
        except (ValueError, KeyError):  # a code the reference data does not know: show it alone
            department = ""
        served.append({"code": code, "department": department})
    return served


def qpv_served(profile: dict[str, Any], activities: list[dict[str, Any]]) -> list[str]:
    """Priority neighbourhoods named by the profile or by an activity, each once."""
    codes = [*profile.get("qpv", []), *(qpv for a in activities for qpv in (a.get("place") or {}).get("qpv", []))]
    return list(dict.fromkeys(codes))
