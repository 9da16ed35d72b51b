"""The node's public page: who the régie is, its activities by field of action, resources, contact, partners."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aiohttp import web

from federation import appkeys
from federation.protocol import persistence
from federation.schema.types import Category
from federation.web import data
from federation.web.i18n_request import language
from federation.web.rendering import category_label, render


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
    peers = await persistence.list_peers(request.config_dict[appkeys.ENGINE])
    context = {
        "profile": await data.node_profile(request),
        "groups": groups,
        "resources": await data.own_records(request, "resource"),
        "peers": [peer for peer in peers if peer.role != "hub"],
        "hubs": [peer for peer in peers if peer.role == "hub"],
    }
    return await render(request, "public/home.html", context)
