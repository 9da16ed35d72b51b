"""The hub role: enrolment of régies, signed directory, review of period reports, national aggregation.

Installed on every node but inert until `[plugins.hub] enabled = true` (what `regies hub init` writes).
"""

from __future__ import annotations

from pathlib import Path

from federation.plugin_api import Command, NavEntry, PublicLink, Registry, hookimpl

from .settings import HubSettings

__version__ = "0.1.0"
REGIES_HOOK_API = ">=2.3,<3"


@hookimpl
def register_routes(registry: Registry) -> None:
    settings = registry.plugin_config(HubSettings)
    if settings.enabled:
        from . import catalog, opendata
        from .api import build_routes
        from .figure_cache import FigureCache
        from .openapi import hub_paths, opendata_paths

        # One figure cache per app, shared with the dashboard (register_web_pages).
        tables = build_routes(settings, registry.plugin_state(FigureCache))
        registry.add_routes([*tables, *opendata.build_routes(settings)], openapi={**hub_paths(), **opendata_paths()})
        registry.add_root_routes("/catalog.jsonld", catalog.build_routes(settings), openapi=catalog.catalog_paths())
        registry.add_public_link(
            PublicLink(
                "/catalog.jsonld",
                catalog.MEDIA_TYPE,
                "Catalogue des données ouvertes (DCAT-AP)",
                "Open data catalogue (DCAT-AP)",
            )
        )


@hookimpl
def register_web_pages(registry: Registry) -> None:
    settings = registry.plugin_config(HubSettings)
    if settings.enabled:
        from .figure_cache import FigureCache
        from .web import build_pages

        here = Path(__file__).parent
        coordinators = ("national", "regional")
        registry.add_web_pages(
            "/hub",
            build_pages(settings, registry.plugin_state(FigureCache)),
            nav=[
                NavEntry("/hub", "Tableau de bord", "Dashboard", coordinators),
                NavEntry("/hub/reports", "Validation des rapports", "Report validation", coordinators),
                NavEntry("/hub/enrolments", "Adhésions", "Enrolments", coordinators),
            ],
            templates=here / "templates",
            locale=here / "locale",
        )


# Covers the national tables: activities counted per origin, field of action and service type in a period, without
# reading the rows. Only a hub reads it, so only a hub pays for it on every write.
ACTIVITY_FACETS_INDEX = ("kind", "origin", "category", "service_type", "deleted", "start_date", "end_date")


@hookimpl
def register_indexes(registry: Registry) -> None:
    if registry.plugin_config(HubSettings).enabled:
        registry.add_index("ix_records_activity_facets", "records", ACTIVITY_FACETS_INDEX)


@hookimpl
def register_commands(registry: Registry) -> None:
    from .cli import configure, needs_node, run

    registry.add_command(
        Command(
            "hub",
            "run this node as the network's hub: init, enrolments, reports",
            configure,
            run,
            needs_node=needs_node,
        )
    )
