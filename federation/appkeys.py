"""Typed application keys: everything an app shares between handlers lives under one of these."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.config import Settings
from federation.plugins import Plugins
from federation.storage.reader import RecordReader
from federation.storage.service import RecordService

if TYPE_CHECKING:
    # Only for the type: the node module opens the protocol's parts, which import these keys.
    from federation.node import Node

SETTINGS = web.AppKey("settings", Settings)
PLUGINS = web.AppKey("plugins", Plugins)
# The opened node (federation/node.py), from the app's start-up to its clean-up. The keys below it are the
# node's parts, filled from it in one place (federation/app.py) for the handlers that read them.
NODE: web.AppKey[Node] = web.AppKey("node")
ENGINE = web.AppKey("engine", AsyncEngine)
READER = web.AppKey("reader", RecordReader)
# The record service: every write of a record goes through it.
STORE = web.AppKey("store", RecordService)
# The /openapi.json document, built on its first call.
OPENAPI: web.AppKey[Callable[[], bytes]] = web.AppKey("openapi")
# The id of this node's profile record (its `node` record), read from the database at start-up.
PROFILE_ID = web.AppKey("profile_id", str)
