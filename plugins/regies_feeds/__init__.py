"""Calendars and feeds of a node: its dated activities as iCalendar (RFC 5545) at /feeds/activities.ics, its new and
changed activities and shared resources as Atom (RFC 4287) at /feeds/activities.atom, both announced by the
public page, for inhabitants' calendars and partners' feed readers.

A plugin rather than core pages: an operator who does not want them disables it (`[plugins] disabled =
["feeds"]`), and the public page learns of them the way it learns of any plugin's document (`PublicLink`).
"""

from __future__ import annotations

from federation.plugin_api import PublicLink, Registry, hookimpl

__version__ = "0.1.0"
REGIES_HOOK_API = ">=1.6,<3"


@hookimpl
def register_routes(registry: Registry) -> None:
    from .routes import build_routes, feed_paths

    registry.add_root_routes("/feeds", build_routes(), openapi=feed_paths())
    registry.add_public_link(
        PublicLink(
            "/feeds/activities.ics",
            "text/calendar",
            "Agenda des activités (iCalendar)",
            "Calendar of activities (iCalendar)",
        )
    )
    registry.add_public_link(
        PublicLink(
            "/feeds/activities.atom",
            "application/atom+xml",
            "Nouveautés : activités et ressources (Atom)",
            "What's new: activities and resources (Atom)",
        )
    )
