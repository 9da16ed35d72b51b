"""Typed application keys: everything an app shares between handlers lives under one of these."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.config import Settings
from federation.plugins import Plugins
from federation.storage.reader import RecordReader
from federation.storage.service import RecordService

SETTINGS = web.AppKey("settings", Settings)
PLUGINS = web.AppKey("plugins", Plugins)
ENGINE = web.AppKey("engine", AsyncEngine)
READER = web.AppKey("reader", RecordReader)
# The record service: every write of a record goes through it.
STORE = web.AppKey("store", RecordService)
OPENAPI = web.AppKey("openapi", bytes)
# The id of this node's profile record (its `node` record), read from the database at start-up.
PROFILE_ID = web.AppKey("profile_id", str)
