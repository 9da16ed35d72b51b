"""The plugin manager factory, the registry handed to registration hooks, and plugin introspection."""

from __future__ import annotations

import importlib.metadata
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType

import pluggy
from pydantic import BaseModel, ConfigDict

from federation import hookspecs
from federation.schema.types import CATEGORY_LABELS, KEY_PATTERN, Category

ENTRY_POINT_GROUP = "regies.plugins"
PROJECT_NAME = "regies"
log = logging.getLogger(__name__)


class PluginError(Exception):
    """A plugin cannot be loaded or registered; start-up stops with this message."""


class NoDetails(BaseModel):
    """Details model of service types that take no details."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ServiceType:
    """A kind of activity a plugin knows how to describe, with the model that validates its `details`."""

    key: str
    category: Category
    label_fr: str
    label_en: str
    details_model: type[BaseModel] = NoDetails
    indicators: tuple[str, ...] = ()
    description: str = ""

    def labels(self) -> dict[str, str]:
        return {"fr": self.label_fr, "en": self.label_en}

    def category_labels(self) -> dict[str, str]:
        return CATEGORY_LABELS[self.category]


@dataclass(frozen=True)
class Indicator:
    """A figure a period report can carry, e.g. `driving_licences_obtained`.

    `source` says how it is obtained: "entered" by staff, or "computed" from activities' details, in which
    case `service_type` and `details_field` name the numeric field summed over the period's activities.
    """

    key: str
    label_fr: str
    label_en: str
    unit: str = "count"
    description: str = ""
    source: str = "entered"
    service_type: str | None = None
    details_field: str | None = None

    def labels(self) -> dict[str, str]:
        return {"fr": self.label_fr, "en": self.label_en}


@dataclass
class Registry:
    """What plugins registered; handed to `register_*` hooks, then read by the core."""

    service_types: dict[str, ServiceType] = field(default_factory=dict)
    service_type_owners: dict[str, str] = field(default_factory=dict)
    indicators: dict[str, Indicator] = field(default_factory=dict)
    indicator_owners: dict[str, str] = field(default_factory=dict)
    current_plugin: str = "<core>"

    def add_service_type(self, service_type: ServiceType) -> None:

        if not re.match(KEY_PATTERN, service_type.key):
            raise PluginError(
                f"plugin '{self.current_plugin}': service type key '{service_type.key}' must match {KEY_PATTERN}"
            )
        owner = self.service_type_owners.get(service_type.key)
        if owner is not None:
            raise PluginError(
                f"service type '{service_type.key}' is registered twice: by plugin '{owner}' "
                f"and by plugin '{self.current_plugin}'"
            )
        self.service_types[service_type.key] = service_type
        self.service_type_owners[service_type.key] = self.current_plugin

    def add_indicator(self, indicator: Indicator) -> None:

        if not re.match(KEY_PATTERN, indicator.key):
            raise PluginError(
                f"plugin '{self.current_plugin}': indicator key '{indicator.key}' must match {KEY_PATTERN}"
            )
        owner = self.indicator_owners.get(indicator.key)
        if owner is not None:
            raise PluginError(
                f"indicator '{indicator.key}' is registered twice: by plugin '{owner}' "
                f"and by plugin '{self.current_plugin}'"
            )
        self.indicators[indicator.key] = indicator
        self.indicator_owners[indicator.key] = self.current_plugin


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str | None
    distribution: str | None


@dataclass
class Plugins:
    """One app's plugin manager and what its plugins registered."""

    manager: pluggy.PluginManager
    registry: Registry
    infos: dict[str, PluginInfo]

    def hooks_of(self, name: str) -> list[str]:
        plugin = self.manager.get_plugin(name)
        if plugin is None:
            return []
        return sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or [])


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def build_plugins(
    disabled: Iterable[str] = (),
    extra: Iterable[tuple[str, ModuleType | object]] = (),
    load_entry_points: bool = True,
) -> Plugins:
    """Make a plugin manager: load entry points (minus `disabled`), add `extra`, run registration hooks."""
    disabled_set = set(disabled)
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}
    if load_entry_points:
        for entry_point in sorted(_entry_points(), key=lambda ep: ep.name):
            if entry_point.name in disabled_set or manager.has_plugin(entry_point.name):
                continue
            try:
                plugin = entry_point.load()
            except Exception as exc:
                raise PluginError(f"plugin '{entry_point.name}' failed to import: {exc!r}") from exc
            manager.register(plugin, name=entry_point.name)
            dist = entry_point.dist
            infos[entry_point.name] = PluginInfo(
                entry_point.name, dist.version if dist else None, dist.name if dist else None
            )
    for name, plugin in extra:
        if name in disabled_set:
            continue
        manager.register(plugin, name=name)
        infos[name] = PluginInfo(name, getattr(plugin, "__version__", None), None)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"a plugin implements an unknown hook: {exc}") from exc

    registry = Registry()
    # Call implementations one by one (not through the hook) so each registration is attributed to its plugin.
    for hook in (manager.hook.register_service_types, manager.hook.register_indicators):
        for impl in hook.get_hookimpls():
            registry.current_plugin = impl.plugin_name
            try:
                impl.function(registry=registry)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin '{impl.plugin_name}' failed to register: {exc!r}") from exc
    return Plugins(manager, registry, infos)
