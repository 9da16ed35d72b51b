"""The plugin manager: `build_plugins` loads the plugins, runs their registrations into a `Registry` and checks
the result; `Plugins` calls the hooks the core runs while serving, each plugin's failure attributed to it."""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from federation import hookspecs
from federation.hookspecs import HOOK_API_VERSION
from federation.registrations import FieldError
from federation.registry import CORE, PluginError, Registry
from federation.semantics import check_indicator_semantics

if TYPE_CHECKING:
    from federation.config import Settings

ENTRY_POINT_GROUP = "regies.plugins"
PROJECT_NAME = "regies"
REGISTRATION_HOOKS = (
    "register_record_kinds",
    "register_service_types",
    "register_indicators",
    "register_routes",
    "register_exporters",
    "register_sync_targets",
    "register_commands",
    "register_web_pages",
    "register_indexes",
    "register_background_tasks",
)
log = logging.getLogger(__name__)


class PluginInfo:
    """A loaded plugin's name, version and distribution.

    An entry point's version and distribution name are read from its distribution's metadata on first use, not
    when the plugin loads: importlib parses the whole METADATA file for each of them (about a millisecond per
    plugin at every start of every command, and only the discovery document and `regies plugins` show them).
    """

    def __init__(
        self,
        name: str,
        version: str | None = None,
        distribution: str | None = None,
        *,
        dist: importlib.metadata.Distribution | None = None,
    ) -> None:
        self.name = name
        self._version = version
        self._distribution = distribution
        self._dist = dist

    def _read_metadata(self) -> None:
        if self._dist is not None:
            metadata = self._dist.metadata
            self._version, self._distribution, self._dist = metadata["Version"], metadata["Name"], None

    @property
    def version(self) -> str | None:
        self._read_metadata()
        return self._version

    @property
    def distribution(self) -> str | None:
        self._read_metadata()
        return self._distribution

    def __repr__(self) -> str:
        return f"PluginInfo({self.name!r}, version={self.version!r}, distribution={self.distribution!r})"


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

    def validate_record(self, kind: str, record: dict[str, Any], previous: dict[str, Any] | None) -> list[FieldError]:
        errors: list[FieldError] = []
        for impl in self.manager.hook.validate_record.get_hookimpls():
            try:
                result: Any = impl.function(**_kwargs(impl, kind=kind, record=record, previous=previous))
            except Exception:
                log.exception("plugin '%s' failed in validate_record", impl.plugin_name)
                raise
            for error in result or []:
                if not isinstance(error, FieldError):
                    raise PluginError(
                        f"plugin '{impl.plugin_name}': validate_record must return FieldError items, got {error!r}"
                    )
                errors.append(error)
        return errors

    async def record_committed(self, kind: str, record: dict[str, Any], action: str) -> None:
        """Tell every plugin; a failing plugin is logged with its name and the others still run."""
        for impl in self.manager.hook.record_committed.get_hookimpls():
            try:
                result = impl.function(**_kwargs(impl, kind=kind, record=record, action=action))
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("plugin '%s' failed in record_committed (%s %s)", impl.plugin_name, action, kind)

    async def records_replicated(self, origin: str, records: Sequence[dict[str, Any]], node: object) -> None:
        """Tell every plugin about newly stored replicas (`node`: the `federation.node.Node` that stored them); a
        failing plugin is logged with its name."""
        for impl in self.manager.hook.records_replicated.get_hookimpls():
            try:
                result = impl.function(**_kwargs(impl, origin=origin, records=records, node=node))
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("plugin '%s' failed in records_replicated (from %s)", impl.plugin_name, origin)

    def wants_replicas(self) -> bool:
        return bool(self.manager.hook.records_replicated.get_hookimpls())

    def service_type_for_label(self, label: str, category: str | None = None) -> str | None:
        result: str | None = self.manager.hook.service_type_for_label(label=label.strip(), category=category)
        return result if result in self.registry.service_types else None


def _kwargs(impl: pluggy.HookImpl, **available: Any) -> dict[str, Any]:
    return {name: available[name] for name in impl.argnames}


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def _check_hook_api(name: str, plugin: object) -> None:
    declared = getattr(plugin, "REGIES_HOOK_API", None)
    if declared is None:
        return
    try:
        supported = SpecifierSet(str(declared))
    except InvalidSpecifier as exc:
        raise PluginError(f"plugin '{name}': REGIES_HOOK_API = {declared!r} is not a version range") from exc
    if Version(HOOK_API_VERSION) not in supported:
        raise PluginError(
            f"plugin '{name}' supports hook API {declared} but this node provides {HOOK_API_VERSION}; "
            f'upgrade the plugin or disable it ([plugins] disabled = ["{name}"])'
        )


def _check_firstresult_sync(manager: pluggy.PluginManager) -> None:
    for hook_name in dir(manager.hook):
        caller = getattr(manager.hook, hook_name)
        if not isinstance(caller, pluggy.HookCaller) or caller.spec is None:
            continue
        if not caller.spec.opts.get("firstresult"):
            continue
        for impl in caller.get_hookimpls():
            if inspect.iscoroutinefunction(impl.function) or inspect.isasyncgenfunction(impl.function):
                raise PluginError(
                    f"plugin '{impl.plugin_name}' implements firstresult hook '{hook_name}' as async; "
                    "it must be synchronous (a coroutine would always win)"
                )


def build_plugins(
    disabled: Iterable[str] = (),
    extra: Iterable[tuple[str, object]] = (),
    load_entry_points: bool = True,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    internal: Iterable[tuple[str, object]] = (),
) -> Plugins:
    """Make one app's plugin manager: register the `internal` plugins, load entry points (minus `disabled`), add
    `extra`, run registrations.

    `internal` plugins are the program's own, as tox registers its built-in commands: the `regies` command
    passes the core's commands (federation/commands.py). They come first, cannot be disabled, are not listed
    among the plugins, and what they register belongs to the core."""
    from federation import core_kinds

    disabled_set = set(disabled)
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(core_kinds, name=core_kinds.NAME)  # the core's record kinds, through the plugins' own hook
    internal_names = set()
    for name, plugin in internal:
        manager.register(plugin, name=name)
        internal_names.add(name)
    infos: dict[str, PluginInfo] = {}
    if load_entry_points:
        for entry_point in sorted(_entry_points(), key=lambda ep: ep.name):
            if entry_point.name in disabled_set or manager.has_plugin(entry_point.name):
                continue
            try:
                plugin = entry_point.load()
            except Exception as exc:
                raise PluginError(f"plugin '{entry_point.name}' failed to import: {exc!r}") from exc
            _check_hook_api(entry_point.name, plugin)
            manager.register(plugin, name=entry_point.name)
            infos[entry_point.name] = PluginInfo(entry_point.name, dist=entry_point.dist)
    for name, plugin in extra:
        if name in disabled_set:
            continue
        _check_hook_api(name, plugin)
        manager.register(plugin, name=name)
        infos[name] = PluginInfo(name, getattr(plugin, "__version__", None), None)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin '{exc.plugin}' implements an unknown hook: {exc}") from exc
    _check_firstresult_sync(manager)

    plugin_settings = dict(settings or {})
    unknown_sections = sorted(set(plugin_settings) - set(infos) - disabled_set)
    if unknown_sections:
        raise PluginError(
            f"[plugins.{unknown_sections[0]}] configures a plugin that is not installed "
            f"(installed: {', '.join(sorted(infos)) or 'none'})"
        )
    registry = Registry(plugin_settings=plugin_settings)
    from federation.indicators import register_core_indicators  # the core's own report form
    from federation.validation_rules import register_core_rules

    register_core_indicators(registry)
    register_core_rules(registry)
    # Call implementations one by one (not through the hook) so each registration is attributed to its plugin.
    for hook_name in REGISTRATION_HOOKS:
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            registry.current_plugin = CORE if impl.plugin_name in internal_names else impl.plugin_name
            try:
                impl.function(**_kwargs(impl, registry=registry))
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"plugin '{impl.plugin_name}' failed in {hook_name}: {exc!r}") from exc
    registry.current_plugin = CORE
    for name, values in plugin_settings.items():
        if values and name in infos and name not in registry.configured:
            raise PluginError(f"[plugins.{name}] has settings but plugin '{name}' takes none")
    _check_indicator_references(registry)
    check_indicator_semantics(registry)
    return Plugins(manager, registry, infos)


def node_plugins(settings: Settings, internal: Iterable[tuple[str, object]] = ()) -> Plugins:
    """The plugin manager of the node that `settings` configure: entry points minus `[plugins] disabled`, each
    with its `[plugins.<name>]` section (and the program's `internal` plugins, see `build_plugins`)."""
    return build_plugins(disabled=settings.plugins.disabled, settings=settings.plugins.sections(), internal=internal)


def _check_indicator_references(registry: Registry) -> None:
    for service_type in registry.service_types.values():
        for key in service_type.indicators:
            if key not in registry.indicators:
                owner = registry.owner("service type", service_type.key)
                raise PluginError(
                    f"plugin '{owner}': service type '{service_type.key}' names indicator '{key}', "
                    "which no plugin registers"
                )
