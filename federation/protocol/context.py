"""What the federation parts share within one app or CLI command: database, identity, client, settings, plugins."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from federation.config import FederationSettings
from federation.plugins import Registry
from federation.protocol.discovery import NodeIdentity
from federation.protocol.transport import FederationClient


@dataclass
class FederationContext:
    engine: AsyncEngine
    identity: NodeIdentity
    client: FederationClient
    settings: FederationSettings
    registry: Registry

    @property
    def node_id(self) -> str:
        return self.identity.node_id
