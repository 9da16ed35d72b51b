"""The hub role: enrolment of régies, signed directory, review of period reports, national aggregation.

Installed on every node but inert until `[plugins.hub] enabled = true` (what `regies hub init` writes).
"""

from __future__ import annotations

from federation import hookimpl
from federation.plugins import Command, Registry

from .settings import HubSettings

__version__ = "0.1.0"
REGIES_HOOK_API = ">=1.1,<2"


@hookimpl
def register_routes(registry: Registry) -> None:
    settings = registry.plugin_config(HubSettings)
    if settings.enabled:
        from .api import build_routes

        registry.add_routes(build_routes(settings))


@hookimpl
def register_commands(registry: Registry) -> None:
    from .cli import configure, run

    registry.add_command(
        Command("hub", "run this node as the network's hub: init, enrolments, reports", configure, run)
    )
