"""Lending shared resources between régies: loan requests and decisions as record kinds addressed to the other
party alone, the lender's rules, an API under /plugins/lending/ and back-office pages (docs/lending.md)."""

from __future__ import annotations

from pathlib import Path

from federation import hookimpl
from federation.plugins import NavEntry, Registry

from .records import KINDS

__version__ = "0.1.0"
REGIES_HOOK_API = ">=1.6,<2"


@hookimpl
def register_record_kinds(registry: Registry) -> None:
    for kind in KINDS:
        registry.add_record_kind(kind)


@hookimpl
def register_routes(registry: Registry) -> None:
    from .api import routes
    from .calendars import routes as calendar_routes
    from .openapi import lending_paths

    registry.add_routes([*routes, *calendar_routes], openapi=lending_paths())


@hookimpl
def register_web_pages(registry: Registry) -> None:
    from .web import routes

    here = Path(__file__).parent
    staff = ("admin", "staff")
    registry.add_web_pages(
        "/lending",
        routes,
        nav=[
            NavEntry("/lending", "Prêts reçus", "Loan requests", staff),
            NavEntry("/lending/requests", "Nos demandes de prêt", "Our loan requests", staff),
        ],
        templates=here / "templates",
        static=here / "static",
        locale=here / "locale",
    )
