"""Open Referral's Human Services Data Specification (HSDS 3.0) read API at /hsds/: a régie's activities and
shared resources as services, so that directories of social services can read them.

A régie's node publishes its own records; the hub (`[plugins.hub] enabled = true`) every approved member's.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from federation.plugin_api import PublicLink, Registry, hookimpl

__version__ = "0.1.0"
REGIES_HOOK_API = ">=1.6,<3"


class _HubRole(BaseModel):
    """The one setting of the hub plugin this plugin reads: `[plugins.hub] enabled`, understood as the hub does."""

    model_config = ConfigDict(extra="ignore")
    enabled: bool = False


def publishes_members(registry: Registry) -> bool:
    """Whether this node is the network's hub, which publishes its members' records rather than its own."""
    return _HubRole.model_validate(registry.plugin_settings.get("hub", {})).enabled


@hookimpl
def register_routes(registry: Registry) -> None:
    from .openapi import hsds_paths
    from .routes import build_routes

    registry.add_root_routes("/hsds", build_routes(members=publishes_members(registry)), openapi=hsds_paths())
    registry.add_public_link(
        PublicLink(
            "/hsds/services",
            "application/json",
            "Services au format HSDS 3.0 (Open Referral)",
            "Services in HSDS 3.0 (Open Referral)",
        )
    )
