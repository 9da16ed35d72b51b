"""Lending shared resources between régies: loan requests and decisions as record kinds addressed to the other
party alone, the lender's rules, an API under /plugins/lending/ and back-office pages (docs/lending.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from federation.plugin_api import BackgroundTask, NavEntry, Registry, hookimpl

from .mail_settings import MailSettings
from .records import KINDS

__version__ = "0.1.0"
REGIES_HOOK_API = ">=2.2,<3"


@hookimpl
def register_record_kinds(registry: Registry) -> None:
    for kind in KINDS:
        registry.add_record_kind(kind)


@hookimpl
def register_indicators(registry: Registry) -> None:
    """Loans between régies as indicators of cooperation, computed from one read of the node's loans (indicators.py)."""
    from .indicators import lending_indicators

    for indicator in lending_indicators():
        registry.add_indicator(indicator)


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


@hookimpl
def register_background_tasks(registry: Registry) -> None:
    settings = registry.plugin_config(MailSettings)
    if settings.notifications:
        from .mail import outbox_task

        registry.add_background_task(BackgroundTask("lending-mail", outbox_task(settings)))


@hookimpl
async def records_replicated(origin: str, records: Any, node: Any) -> None:
    """Queue at once the e-mails the requests and decisions just received call for; the background task's round
    queues them too if this hook never ran (plugins/regies_lending/mail.py)."""
    settings = node.plugins.registry.configured.get("lending")
    if not isinstance(settings, MailSettings) or not settings.notifications:
        return
    kinds = getattr(records, "kinds", None)
    if kinds is not None and not kinds & {"loan_request", "loan_decision"}:
        return
    from .mail import queue_due

    await queue_due(node, settings)
