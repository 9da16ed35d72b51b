"""What the node adds around the record service's writes: the API's validation, the report workflow, plugins' hooks.

`record_service` is how the app and commands build the node's record service (federation/storage/service.py);
pages, imports, the API and the hub client all write through it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.api.requests import validate_record_data
from federation.plugins import Plugins
from federation.reports import build_report, check_deletable, hub_joined
from federation.schema.records import RECORD_KINDS, PeriodReportData, RecordKind
from federation.storage.records import RecordBuilder, StoredRecord
from federation.storage.service import RecordService
from federation.validation_rules import check_report_write


class PluginWriteHooks:
    """The node's WriteHooks: its plugins validate and hear of writes; reports follow the node's workflow."""

    def __init__(self, engine: AsyncEngine, node_id: str, plugins: Plugins) -> None:
        self._engine = engine
        self._node_id = node_id
        self._plugins = plugins

    def validate(self, kind: RecordKind, data: Mapping[str, Any], previous: dict[str, Any] | None) -> BaseModel:
        return validate_record_data(kind, dict(data), self._plugins, previous)

    async def compose(
        self, kind: RecordKind, data: BaseModel, previous: dict[str, Any] | None, actor: str
    ) -> RecordBuilder:
        if isinstance(data, PeriodReportData):
            report = data
            registry = self._plugins.registry
            joined = await hub_joined(self._engine, registry)
            note = await check_report_write(self._engine, registry, self._node_id, report, previous, dt.date.today())
            return lambda before, envelope: build_report(report, before, envelope, actor, hub_joined=joined, note=note)
        fields = data.model_dump(mode="json")
        record_model = kind.record_model
        return lambda _previous, envelope: record_model.model_validate({**fields, **envelope})

    def check_delete(self, kind: RecordKind, document: dict[str, Any]) -> None:
        if kind.name == "report":
            check_deletable(document)

    async def record_committed(self, stored: StoredRecord, action: str) -> None:
        # Most nodes have no listener: the body is decoded only for one.
        if self._plugins.manager.hook.record_committed.get_hookimpls():
            await self._plugins.record_committed(stored.kind, json.loads(stored.body), action)

    def wants_replicas(self) -> bool:
        return self._plugins.wants_replicas()

    async def records_replicated(self, origin: str, documents: Sequence[dict[str, Any]], context: Any) -> None:
        await self._plugins.records_replicated(origin, documents, context)


def record_service(engine: AsyncEngine, node_id: str, plugins: Plugins) -> RecordService:
    """The node's record service: the core's record kinds, written with `plugins`' rules and hooks."""
    return RecordService(engine, node_id, RECORD_KINDS, PluginWriteHooks(engine, node_id, plugins))
