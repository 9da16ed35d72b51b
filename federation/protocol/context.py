"""What the federation parts share within one app or CLI command: database, identity, client, settings, plugins."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.config import FederationSettings
from federation.plugins import Plugins
from federation.protocol.discovery import NodeIdentity
from federation.protocol.transport import FederationClient
from federation.registry import Registry
from federation.storage.service import RecordService


@dataclass
class FederationContext:
    engine: AsyncEngine
    identity: NodeIdentity
    client: FederationClient
    settings: FederationSettings
    plugins: Plugins
    store: RecordService
    # The `federation.node.Node` that opened this context (typed there, a layer above): plugins' event hooks
    # receive it. Set by `open_node` once the node exists.
    node: object = field(default=None, compare=False, repr=False)

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    @property
    def registry(self) -> Registry:
        return self.plugins.registry


FEDERATION = web.AppKey("federation", FederationContext)
