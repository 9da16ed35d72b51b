"""Node side of the hub: join the network, push changes and period reports to the hub, apply its reviews.

Inert until `[plugins.hubclient] url = "https://hub…"` is set (with the hub key's `fingerprint`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from federation.plugin_api import Command, Registry, SyncTarget, hookimpl

if TYPE_CHECKING:
    from federation.plugin_api import Node, StoredDocuments

__version__ = "0.1.0"
REGIES_HOOK_API = ">=2.0,<3"
log = logging.getLogger(__name__)


class HubClientSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field("", description="Base URL of the network's hub; empty: this node is not in a network.")
    fingerprint: str = Field("", description="Fingerprint of the hub's key, as `regies hub init` printed it.")


@hookimpl
def register_sync_targets(registry: Registry) -> None:
    settings = registry.plugin_config(HubClientSettings)
    if settings.url:
        from .sync import send_to_hub

        registry.add_sync_target(SyncTarget("hub", send_to_hub, "Hub du réseau (rapports et changements)"))


@hookimpl
def register_commands(registry: Registry) -> None:
    from .cli import configure, run

    registry.add_command(Command("network", "join the network's hub, see its directory and status", configure, run))


@hookimpl
async def records_replicated(origin: str, records: StoredDocuments, node: Node) -> None:
    from .sync import apply_reviews

    await apply_reviews(origin, records, node.federation)
