"""The `Registry` handed to the `register_*` hooks: it checks each registration, records which plugin made it, and
holds what every plugin registered for the core to read."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from federation.registrations import (
    INDICATOR_SECTIONS,
    BackgroundTask,
    Command,
    Exporter,
    Indicator,
    NavEntry,
    PublicLink,
    RootRoutes,
    ServiceType,
    SyncTarget,
    WebPages,
)
from federation.schema.kinds import RecordKind, RecordKinds
from federation.schema.types import KEY_PATTERN
from federation.semantics import ValidationRule

# Who registered what the core itself registers (its indicators, rules and commands), in `Registry.owners`.
CORE = "<core>"
# Names under /api/v1/ the core serves itself: a plugin's API routes (`add_api_routes`) cannot take them.
RESERVED_API_NAMES = frozenset(
    {"activities", "resources", "reports", "reviews", "node", "export", "plugins", "service-types", "indicators"}
    | {"report-form"}
)
# Paths of the core's own pages and API: a plugin's web pages cannot take them.
RESERVED_WEB_PREFIXES = frozenset(
    {"/api", "/admin", "/login", "/logout", "/static", "/plugins", "/docs", "/metrics", "/openapi.json", "/.well-known"}
)
# Paths under /api/v1 the core serves besides its record kinds' collections: no kind's collection may take them.
RESERVED_COLLECTIONS = frozenset({"export", "plugins", "service-types", "indicators", "report-form"})
ConfigModel = TypeVar("ConfigModel", bound=BaseModel)
State = TypeVar("State")


class PluginError(Exception):
    """A plugin cannot be loaded, configured or registered; start-up stops with this message."""


@dataclass(frozen=True)
class TableIndex:
    """An index a plugin needs on one of the core's tables, created at start-up when missing."""

    name: str
    table: str
    columns: tuple[str, ...]
    where: str | None = None  # a partial index: only the rows of one record kind

    def create_sql(self) -> str:
        partial = f" WHERE {self.where}" if self.where else ""
        return f"CREATE INDEX IF NOT EXISTS {self.name} ON {self.table} ({', '.join(self.columns)}){partial}"


def _check_key(kind: str, key: str, plugin: str) -> None:
    if not re.match(KEY_PATTERN, key):
        raise PluginError(f"plugin '{plugin}': {kind} key '{key}' must match {KEY_PATTERN}")


@dataclass
class Registry:
    """What plugins registered; handed to `register_*` hooks, then read by the core."""

    plugin_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    service_types: dict[str, ServiceType] = field(default_factory=dict)
    indicators: dict[str, Indicator] = field(default_factory=dict)
    validation_rules: dict[str, ValidationRule] = field(default_factory=dict)
    routes: dict[str, list[web.AbstractRouteDef]] = field(default_factory=dict)
    openapi_paths: dict[str, dict[str, Any]] = field(default_factory=dict)
    api_routes: dict[str, list[web.AbstractRouteDef]] = field(default_factory=dict)
    api_openapi_paths: dict[str, dict[str, Any]] = field(default_factory=dict)
    exporters: dict[str, Exporter] = field(default_factory=dict)
    sync_targets: dict[str, SyncTarget] = field(default_factory=dict)
    background_tasks: dict[str, BackgroundTask] = field(default_factory=dict)
    commands: dict[str, Command[Any]] = field(default_factory=dict)
    web_pages: dict[str, WebPages] = field(default_factory=dict)
    root_routes: dict[str, list[RootRoutes]] = field(default_factory=dict)
    root_openapi_paths: dict[str, dict[str, Any]] = field(default_factory=dict)
    public_links: list[PublicLink] = field(default_factory=list)
    indexes: dict[str, TableIndex] = field(default_factory=dict)
    record_kinds: dict[str, RecordKind] = field(default_factory=dict)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    configured: dict[str, BaseModel] = field(default_factory=dict)
    plugin_states: dict[tuple[str, type[Any]], Any] = field(default_factory=dict)
    current_plugin: str = CORE

    def _claim(self, what: str, key: str) -> None:
        owner = self.owners.get((what, key))
        if owner is not None:
            raise PluginError(
                f"{what} '{key}' is registered twice: by plugin '{owner}' and by plugin '{self.current_plugin}'"
            )
        self.owners[(what, key)] = self.current_plugin

    def _claim_prefix(self, what: str, prefix: str, pattern: str, example: str) -> None:
        """Claim `prefix` of the node's paths for the current plugin as its "web prefix" or "root prefix" (`what`):
        one segment matching `pattern`, none of the core's paths, and one owner whatever the kind, since both are
        served from the node's root."""
        if not re.match(pattern, prefix) or prefix in RESERVED_WEB_PREFIXES:
            raise PluginError(
                f"plugin '{self.current_plugin}': {what} '{prefix}' must be like '{example}' and not one of "
                f"{', '.join(sorted(RESERVED_WEB_PREFIXES))}"
            )
        other = "root prefix" if what == "web prefix" else "web prefix"
        if (other, prefix) in self.owners:
            raise PluginError(f"{what} '{prefix}' is plugin '{self.owners[(other, prefix)]}'s {other}")
        self._claim(what, prefix)

    def owner(self, what: str, key: str) -> str:
        return self.owners[(what, key)]

    def add_record_kind(self, kind: RecordKind) -> None:
        """Declare a kind of federated record (hook API 1.6, docs/plugins.md "Record kinds"); its lists' indexes
        are created at start-up, on its own rows only."""
        from federation.storage.upsert import FILTER_COLUMNS  # the columns a kind may copy its fields into

        plugin = self.current_plugin
        problems = kind.problems()
        problems += [
            f"filter '{kind_filter.parameter or kind_filter.field}' names unknown column '{kind_filter.column}'"
            for kind_filter in kind.filters
            if kind_filter.column not in FILTER_COLUMNS or kind_filter.column == "audience"
        ]
        if kind.collection in RESERVED_COLLECTIONS:
            problems.append(f"collection '{kind.collection}' is a path of the core's API")
        problems += [
            f"index {list(columns)} names a column that is none of its filters'"
            for columns in kind.indexes
            if not columns or not set(columns) <= {kind_filter.column for kind_filter in kind.filters}
        ]
        problems += [
            f"unique_per_origin names '{column}', which is none of its filters' columns"
            for column in kind.unique_per_origin or ()
            if column not in {kind_filter.column for kind_filter in kind.filters}
        ]
        if problems:
            raise PluginError(f"plugin '{plugin}': record kind '{kind.name}': {'; '.join(problems)}")
        self._claim("record kind", kind.name)
        self._claim("record collection", kind.collection or f"<none:{kind.name}>")
        self._claim("JSON Schema", kind.schema_name)
        self.record_kinds[kind.name] = kind
        for columns in kind.indexes:
            name = f"ix_records_{kind.name}_{'_'.join(columns)}"[:63]
            self._claim("index", name)
            self.indexes[name] = TableIndex(name, "records", ("kind", *columns, "rid"), where=f"kind = '{kind.name}'")

    @functools.cached_property
    def kinds(self) -> RecordKinds:
        """The record kinds every plugin declared, read once registration is over."""
        return RecordKinds.of(self.record_kinds.values())

    def add_service_type(self, service_type: ServiceType) -> None:
        _check_key("service type", service_type.key, self.current_plugin)
        self._claim("service type", service_type.key)
        self.service_types[service_type.key] = service_type

    def add_indicator(self, indicator: Indicator) -> None:
        _check_key("indicator", indicator.key, self.current_plugin)
        if indicator.section is not None and indicator.section not in INDICATOR_SECTIONS:
            raise PluginError(
                f"plugin '{self.current_plugin}': indicator '{indicator.key}' has section '{indicator.section}'; "
                f"use one of {', '.join(INDICATOR_SECTIONS)}"
            )
        if indicator.compute is not None and indicator.compute_many is not None:
            raise PluginError(
                f"plugin '{self.current_plugin}': indicator '{indicator.key}' gives both compute and compute_many; "
                "give one"
            )
        self._claim("indicator", indicator.key)
        self.indicators[indicator.key] = indicator

    def add_validation_rule(self, rule: ValidationRule) -> None:
        """Check Σ `rule.left` ≤ Σ `rule.right` on every report (hook API 1.5); a rule naming an indicator the
        node does not have is skipped, so a plugin may state rules over another plugin's indicators."""
        _check_key("validation rule", rule.key, self.current_plugin)
        if rule.severity not in ("error", "warning") or not rule.left or not rule.right:
            raise PluginError(
                f"plugin '{self.current_plugin}': validation rule '{rule.key}' needs a severity of 'error' or "
                "'warning' and indicators on both sides"
            )
        self._claim("validation rule", rule.key)
        self.validation_rules[rule.key] = rule

    def add_routes(self, routes: Iterable[web.AbstractRouteDef], openapi: Mapping[str, Any] | None = None) -> None:
        """Serve `routes` under /plugins/<plugin>/; `openapi` describes them (OpenAPI 3.1 path items keyed by
        the route's path within the plugin) in the node's /openapi.json."""
        self.routes.setdefault(self.current_plugin, []).extend(routes)
        if openapi:
            self.openapi_paths.setdefault(self.current_plugin, {}).update(openapi)

    def add_api_routes(
        self, name: str, routes: Iterable[web.AbstractRouteDef], openapi: Mapping[str, Any] | None = None
    ) -> None:
        """Serve `routes` under /api/v1/<name>/ (hook API 1.6), beside the core's API, for a plugin publishing the
        node's data in a public format (e.g. "datainclusion"). `openapi` describes them as in `add_routes`, keyed
        by the path within /api/v1/<name>. A name is taken once; the core's own names are refused."""
        if not re.match(r"^[a-z][a-z0-9-]{1,30}$", name) or name in RESERVED_API_NAMES:
            raise PluginError(
                f"plugin '{self.current_plugin}': API name '{name}' must be short lower-case letters, digits or "
                f"'-' and not one of the core's: {', '.join(sorted(RESERVED_API_NAMES))}"
            )
        self._claim("API name", name)
        self.api_routes[name] = list(routes)
        if openapi:
            self.api_openapi_paths[name] = dict(openapi)

    def add_root_routes(
        self, prefix: str, routes: Iterable[web.RouteDef], openapi: Mapping[str, Any] | None = None
    ) -> None:
        """Serve `routes` at `prefix` on the node's root instead of under /plugins/<plugin>/ (hook API 1.6): for
        the paths a published standard's clients expect, such as "/hsds" for /hsds/services or
        "/catalog.jsonld" for a DCAT catalogue. A route's path is appended to `prefix` ("" serves `prefix`
        itself). `prefix` is one path segment, never one of the core's, claimed by one plugin (web pages'
        prefixes included); `openapi` describes the routes in /openapi.json, keyed by their full paths. Errors
        are problem+json, as on the API: these are not web pages."""
        # A dot too: a standard's document may be a file name, such as "/catalog.jsonld".
        self._claim_prefix("root prefix", prefix, r"^/[a-z][a-z0-9.-]{0,30}$", "/hsds")
        mounted = []
        for route in routes:
            if not isinstance(route, web.RouteDef) or not (route.path == "" or route.path.startswith("/")):
                raise PluginError(
                    f"plugin '{self.current_plugin}': root routes are web.get(path, ...) route definitions whose "
                    f"path is empty or starts with /, not {route!r}"
                )
            mounted.append(web.RouteDef(route.method, prefix + route.path, route.handler, route.kwargs))
        self.root_routes.setdefault(self.current_plugin, []).append(RootRoutes(prefix, tuple(mounted)))
        for path, item in (openapi or {}).items():
            if not (path == prefix or path.startswith(prefix + "/")):
                raise PluginError(f"plugin '{self.current_plugin}': OpenAPI path '{path}' is not under '{prefix}'")
            self.root_openapi_paths[path] = dict(item)

    def add_public_link(self, link: PublicLink) -> None:
        """Have the node's public page announce `link` (hook API 1.6): a feed, a calendar, an open-data API."""
        self.public_links.append(link)

    def add_exporter(self, exporter: Exporter) -> None:
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,31}$", exporter.format):
            raise PluginError(f"plugin '{self.current_plugin}': export format '{exporter.format}' is not a short key")
        self._claim("export format", exporter.format)
        self.exporters[exporter.format] = exporter

    def add_sync_target(self, target: SyncTarget) -> None:
        self._claim("sync target", target.name)
        self.sync_targets[target.name] = target

    def add_background_task(self, task: BackgroundTask) -> None:
        """Run `task` inside `regies serve` beside the sync worker (hook API 2.0, docs/plugins.md)."""
        if not re.match(r"^[a-z][a-z0-9_-]{1,40}$", task.name):
            raise PluginError(f"plugin '{self.current_plugin}': background task name '{task.name}' is not valid")
        self._claim("background task", task.name)
        self.background_tasks[task.name] = task

    def add_command(self, command: Command[Any]) -> None:
        if not re.match(r"^[a-z][a-z0-9-]{1,30}$", command.name):
            raise PluginError(f"plugin '{self.current_plugin}': command name '{command.name}' is not valid")
        if self.owners.get(("command", command.name)) == CORE:
            raise PluginError(
                f"plugin '{self.current_plugin}': its command '{command.name}' clashes with the core command of the "
                "same name"
            )
        self._claim("command", command.name)
        self.commands[command.name] = command

    def add_web_pages(
        self,
        prefix: str,
        routes: Iterable[web.AbstractRouteDef],
        nav: Iterable[NavEntry] = (),
        templates: Path | None = None,
        locale: Path | None = None,
        static: Path | None = None,
    ) -> None:
        """Serve `routes` under `prefix` with the web interface's layout, login and language (docs/web.md)."""
        self._claim_prefix("web prefix", prefix, r"^/[a-z][a-z0-9-]{0,30}$", "/hub")
        self.web_pages[self.current_plugin] = WebPages(prefix, tuple(routes), tuple(nav), templates, locale, static)

    def add_index(self, name: str, table: str, columns: Iterable[str]) -> None:
        """Have the core create index `name` on `table` (`columns` in order) at start-up, if it does not exist."""
        from federation.storage.tables import metadata  # the core's tables, the only ones a plugin may index

        columns = tuple(columns)
        plugin = self.current_plugin
        if not re.match(r"^ix_[a-z0-9_]{1,60}$", name):
            raise PluginError(f"plugin '{plugin}': index name '{name}' must look like 'ix_<letters, digits, _>'")
        if table not in metadata.tables:
            raise PluginError(f"plugin '{plugin}': index '{name}' is on unknown table '{table}'")
        known = metadata.tables[table].columns
        unknown = [column for column in columns if column not in known]
        if not columns or unknown:
            raise PluginError(f"plugin '{plugin}': index '{name}' names no or unknown columns of '{table}': {unknown}")
        if any(index.name == name for index in metadata.tables[table].indexes):
            raise PluginError(f"plugin '{plugin}': index '{name}' is one of the core's")
        self._claim("index", name)
        self.indexes[name] = TableIndex(name, table, columns)

    def plugin_state(self, kind: type[State]) -> State:
        """One `kind()` per plugin and app (hook API 2.3): what a plugin's registrations share, such as a cache that
        both its web pages and its API routes read. Made at the plugin's first call, from any `register_*` hook; the
        same object at every later call. Another plugin asking for the same class gets its own."""
        key = (self.current_plugin, kind)
        if key not in self.plugin_states:
            self.plugin_states[key] = kind()
        state: State = self.plugin_states[key]
        return state

    def plugin_config(self, model: type[ConfigModel]) -> ConfigModel:
        """This plugin's `[plugins.<name>]` settings, validated by `model` (defaults when the table is absent)."""
        name = self.current_plugin
        values = dict(self.plugin_settings.get(name, {}))
        try:
            config = model.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"'{'.'.join(str(p) for p in error['loc'])}': {error['msg']}" for error in exc.errors(include_url=False)
            )
            raise PluginError(f"invalid settings in [plugins.{name}]: {problems}") from exc
        self.configured[name] = config
        return config
