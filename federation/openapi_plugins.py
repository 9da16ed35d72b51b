"""This node's OpenAPI document: the generic one of federation/openapi.py narrowed by what the node's plugins
registered (service types' details, indicators, export formats) and extended with the routes they serve."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from federation.openapi import REF
from federation.semantics import value_schema

if TYPE_CHECKING:
    from federation.registrations import Indicator


def refine_for_plugins(
    document: dict[str, Any],
    service_types: Mapping[str, tuple[str, type[BaseModel]]],
    indicators: Iterable[str] | Mapping[str, Indicator],
    export_formats: Iterable[str],
    plugin_paths: Mapping[str, Mapping[str, Any]] | None = None,
    api_paths: Mapping[str, Mapping[str, Any]] | None = None,
    root_paths: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """This node's document: what its plugins registered narrows the generic contract and adds their routes.

    `service_types` maps each key to (category, details model): an activity's body is then one of these
    variants, each with its own `details` schema; report indicators and export formats become enums;
    `plugin_paths` maps a plugin's name to the path items of its routes (served under /plugins/<name>), and
    `api_paths` an API name a plugin took to those of its routes under /api/v1/<name>, and `root_paths` are the path
    items of routes plugins serve on the root (`Registry.add_root_routes`), keyed by their full paths.
    """
    registered = {"indicators": sorted(indicators), "export_formats": sorted(export_formats)}
    prefixed = [(f"/plugins/{plugin}", paths) for plugin, paths in (plugin_paths or {}).items()]
    prefixed += [(f"/api/v1/{name}", paths) for name, paths in (api_paths or {}).items()]
    prefixed.append(("", dict(root_paths or {})))
    for prefix, paths in prefixed:
        for path, item in paths.items():
            document["paths"][f"{prefix}{path}"] = item
            # A plugin's parameter may say "x-regies-enum": "indicators" to take the registered keys as its enum.
            for operation in item.values():
                for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                    names = parameter["schema"].pop("x-regies-enum", None)
                    if names is not None:
                        parameter["schema"]["enum"] = registered[names]
    schemas = document["components"]["schemas"]
    variants = []
    for key, (category, details_model) in sorted(service_types.items()):
        details = details_model.model_json_schema(ref_template=REF, mode="validation")
        schemas.update(details.pop("$defs", {}))
        variant: dict[str, Any] = {
            "title": key,
            "properties": {"service_type": {"const": key}, "category": {"const": category}, "details": details},
        }
        if details.get("required"):
            variant["required"] = ["details"]
        variants.append(variant)
    if variants:
        schemas["ActivityData"]["oneOf"] = variants
    schemas["PeriodReportData"]["properties"]["indicators"]["propertyNames"] = {"enum": registered["indicators"]}
    if isinstance(indicators, Mapping):  # the registry's indicators: each value's bounds and precision
        schemas["PeriodReportData"]["properties"]["indicators"]["properties"] = {
            key: value_schema(indicator) for key, indicator in sorted(indicators.items())
        }
    for parameter in document["paths"]["/api/v1/export/{collection}"]["get"]["parameters"]:
        if parameter["name"] == "format":
            parameter["schema"] = {"type": "string", "enum": registered["export_formats"]}
    return document
