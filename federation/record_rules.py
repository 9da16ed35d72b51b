"""The rules every write of a record follows, whoever asks (API, pages, import, hub client): validation of what
a client sent (schema, service type details, plugins' `validate_record`), the report workflow, plugins' hooks.

`record_service` is how the node builds its record service (federation/storage/service.py) with them; pages,
imports, the API and the hub client all write through it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugins import Plugins
from federation.problems import field_errors, json_pointer, validation_problem
from federation.registry import Registry
from federation.reports import build_report, check_deletable, hub_joined
from federation.schema.identifiers import retired_commune_detail
from federation.schema.records import ActivityData, PeriodReportData, RecordKind
from federation.semantics import value_errors
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
    """The node's record service: the record kinds `plugins` declare (the core's among them), written with their
    rules and hooks."""
    return RecordService(engine, node_id, plugins.registry.kinds, PluginWriteHooks(engine, node_id, plugins))


def _integral_floats_as_ints(value: Any) -> Any:
    """JSON Schema counts 12.0 as an integer; strict validation would not, so such numbers become ints first."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    return value


def validate_record_data(
    kind: RecordKind, payload: dict[str, Any], plugins: Plugins, previous: dict[str, Any] | None = None
) -> BaseModel:
    """Validate what a client sent: schema, service type details, then plugins' `validate_record`. 422 if not.

    The schema and an activity's service type and `details` are checked in one pass, so that the answer lists
    every error of the body at once; plugins' rules, which need a valid record, run only once both pass.
    """
    cleaned = {key: value for key, value in payload.items() if key not in kind.read_only_fields}
    errors: list[dict[str, str]] = []
    data: BaseModel | None = None
    try:
        # Strict JSON validation: the published schema says `"lon": number`, so "2.35" (a string) is refused
        # rather than silently coerced; JSON strings still carry dates, UUIDs and enum values.
        data = kind.data_model.model_validate_json(json.dumps(_integral_floats_as_ints(cleaned)), strict=True)
    except ValidationError as exc:
        errors = field_errors(exc)
    if kind.name == "activity":
        service_errors, details = service_type_errors(cleaned, plugins.registry, errors)
        errors.extend(service_errors)
        if isinstance(data, ActivityData) and details is not None:
            data.details = details
    indicators = cleaned.get("indicators")
    if kind.data_model is PeriodReportData and isinstance(indicators, dict):
        reported = {error["pointer"] for error in errors}
        errors.extend(
            {
                "pointer": pointer,
                "detail": f"unknown indicator '{key}' (see GET /api/v1/indicators)",
                "code": "unknown_indicator",
            }
            for key in sorted(set(indicators) - set(plugins.registry.indicators))
            if (pointer := json_pointer(("indicators", key))) not in reported
        )
    if data is not None:
        errors.extend(retired_commune_errors(data.model_dump(mode="json"), previous))
    if isinstance(data, PeriodReportData):
        errors.extend(error.as_problem_error() for error in value_errors(plugins.registry, data.indicators))
    if errors or data is None:
        raise validation_problem(errors)
    rejections = plugins.validate_record(kind.name, data.model_dump(mode="json"), previous)
    if rejections:
        raise validation_problem(
            [{"pointer": error.pointer, "detail": error.detail, "code": "plugin_rule"} for error in rejections]
        )
    return data


def retired_commune_errors(document: dict[str, Any], previous: dict[str, Any] | None) -> list[dict[str, str]]:
    """Commune codes retired since 2019 that a local write would store: refused, with their replacement.

    A replica keeps the code its origin wrote (the models accept it, with a logged warning), and so does a record
    written before the merger: a code the previous version already had at the same place is kept.
    """
    errors = []
    for pointer, code in _communes(document):
        detail = retired_commune_detail(code)
        if detail is not None and (previous is None or dict(_communes(previous)).get(pointer) != code):
            errors.append({"pointer": pointer, "detail": detail, "code": "retired_commune"})
    return errors


def _communes(document: dict[str, Any], pointer: str = "") -> list[tuple[str, str]]:
    """(JSON Pointer, code) of every `commune` member of a record document (the profile's, each place's)."""
    found = []
    for key, value in document.items():
        if key == "commune" and isinstance(value, str):
            found.append((f"{pointer}/commune", value))
        elif isinstance(value, dict):
            found.extend(_communes(value, f"{pointer}/{key}"))
    return found


def service_type_errors(
    payload: dict[str, Any], registry: Registry, found: list[dict[str, str]]
) -> tuple[list[dict[str, str]], dict[str, Any] | None]:
    """An activity body's service type, category and `details` errors (those the schema did not already report
    in `found`), and the validated details when they are valid."""
    reported = {error["pointer"] for error in found}
    key, category, details = payload.get("service_type"), payload.get("category"), payload.get("details", {})
    if not isinstance(key, str) or "/service_type" in reported:
        return [], None
    service_type = registry.service_types.get(key)
    if service_type is None:
        known = ", ".join(sorted(registry.service_types)) or "none are registered"
        return [
            {
                "pointer": "/service_type",
                "detail": f"unknown service type '{key}' (known: {known})",
                "code": "unknown_service_type",
            }
        ], None
    errors = []
    if isinstance(category, str) and "/category" not in reported and service_type.category != category:
        errors.append(
            {
                "pointer": "/category",
                "detail": f"service type '{key}' belongs to category '{service_type.category}', not '{category}'",
                "code": "category_mismatch",
            }
        )
    if not isinstance(details, dict) or "/details" in reported:
        return errors, None
    try:
        validated = service_type.details_model.model_validate_json(
            json.dumps(_integral_floats_as_ints(details)), strict=True
        )
    except ValidationError as exc:
        return [*errors, *field_errors(exc, ("details",))], None
    return errors, validated.model_dump(mode="json")
