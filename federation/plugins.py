"""The plugin manager factory, the registry handed to registration hooks, and calling hooks safely."""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import inspect
import logging
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

import pluggy
from aiohttp import web
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version
from pydantic import AfterValidator, BaseModel, ConfigDict, GetJsonSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue

from federation import hookimpl, hookspecs
from federation.hookspecs import HOOK_API_VERSION

# Record kinds as data are part of the plugin API (register_record_kinds): plugins import them from here.
from federation.schema.kinds import HUB as HUB
from federation.schema.kinds import HUB_ONLY as HUB_ONLY
from federation.schema.kinds import MEMBER as MEMBER
from federation.schema.kinds import PUBLIC as PUBLIC
from federation.schema.kinds import KindFilter as KindFilter
from federation.schema.kinds import RecordKind as RecordKind
from federation.schema.kinds import RecordKinds
from federation.schema.kinds import addressed_to as addressed_to
from federation.schema.types import CATEGORY_LABELS, KEY_PATTERN, Category

# Aggregation rules are part of the plugin API: plugins import them from here.
from federation.semantics import Aggregation as Aggregation
from federation.semantics import AggregationKind as AggregationKind
from federation.semantics import ValidationRule as ValidationRule
from federation.semantics import check_indicator_semantics

if TYPE_CHECKING:
    import datetime as dt

    from federation.config import Settings

ENTRY_POINT_GROUP = "regies.plugins"
PROJECT_NAME = "regies"
# Who registered what the core itself registers (its indicators, rules and commands), in `Registry.owners`.
CORE = "<core>"
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
# The parts of the report form, in the order of the network's survey (labels in federation/indicators.py).
INDICATOR_SECTIONS = ("employment", "activities", "democracy", "finances", "territory", "other")
log = logging.getLogger(__name__)
ConfigModel = TypeVar("ConfigModel", bound=BaseModel)
Choice = TypeVar("Choice", bound=str)


class PluginError(Exception):
    """A plugin cannot be loaded, configured or registered; start-up stops with this message."""


def _each_once(values: list[Choice]) -> list[Choice]:
    if len(set(values)) != len(values):
        raise ValueError("each value may appear only once")
    return values


class _UniqueItems:
    """Says `uniqueItems` in the JSON Schema of the list it annotates, so the API contract states the rule."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["uniqueItems"] = True
        return schema


# A details field listing choices, each at most once: `tasks: DistinctChoices[Literal["mowing", "pruning"]]`.
DistinctChoices = Annotated[list[Choice], AfterValidator(_each_once), _UniqueItems()]


class NoDetails(BaseModel):
    """Details model of service types that take no details."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class FieldError:
    """A field-level rejection returned by `validate_record`: a JSON Pointer into the body and a message."""

    pointer: str
    detail: str


@dataclass(frozen=True)
class ServiceType:
    """A kind of activity a plugin knows how to describe, with the model that validates its `details`.

    `import_labels` are the other names spreadsheets give it ("Écrivain public" for `access_to_rights`), which
    `match_service_type_label` recognises besides the key and the two labels.

    `open_data_terms` (hook API 1.6) says how the service type reads in outside vocabularies, keyed
    "<vocabulary>.<field>", e.g. {"datainclusion.thematiques": ("mobilite--preparer-un-permis",),
    "datainclusion.type": ("formation",)}: the plugin publishing that vocabulary reads the terms, checks them at
    start-up and documents its keys (docs/open-data.md). A service type without terms for a vocabulary is left
    out of that publication, with the reason.
    """

    key: str
    category: Category
    label_fr: str
    label_en: str
    details_model: type[BaseModel] = NoDetails
    indicators: tuple[str, ...] = ()
    description: str = ""
    import_labels: tuple[str, ...] = ()
    open_data_terms: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def labels(self) -> dict[str, str]:
        return {"fr": self.label_fr, "en": self.label_en}

    def terms(self, vocabulary: str) -> dict[str, tuple[str, ...]]:
        """This service type's terms in `vocabulary` ("datainclusion"), keyed by field ("thematiques")."""
        prefix = f"{vocabulary}."
        return {
            key.removeprefix(prefix): tuple(values)
            for key, values in self.open_data_terms.items()
            if key.startswith(prefix)
        }

    def category_labels(self) -> dict[str, str]:
        return CATEGORY_LABELS[self.category]


@dataclass(frozen=True)
class Indicator:
    """A figure a period report can carry, e.g. `driving_licences_obtained`.

    `source` says how it is obtained: "entered" by staff, or "computed" from activities' details, in which
    case `service_type` and `details_field` name the numeric field summed over the period's activities, or
    (hook API 2.1) by `compute(engine, node_id, first_day, last_day)`, an async function of the plugin that reads
    the node's database and returns the figure of the period (None: nothing to report).
    `section` is the part of the report form it appears in (one of INDICATOR_SECTIONS); left out, it follows
    from the service type's field of action (employment and training: "employment", local democracy:
    "democracy", any other: "activities"; no service type: "other").

    `aggregation`, `minimum`, `maximum` and `decimals` (hook API 1.4) say how values of several régies combine
    and which values are plausible; left out, they follow from `unit` (federation/semantics.py): counts are
    summed whole numbers, a percentage is within 0–100 and never summed.
    """

    key: str
    label_fr: str
    label_en: str
    unit: str = "count"
    description: str = ""
    source: str = "entered"
    service_type: str | None = None
    details_field: str | None = None
    section: str | None = None
    aggregation: Aggregation | None = None
    minimum: float | None = None
    maximum: float | None = None
    decimals: int | None = None
    compute: Callable[[Any, str, dt.date, dt.date], Awaitable[float | None]] | None = field(
        default=None, compare=False, repr=False
    )

    def labels(self) -> dict[str, str]:
        return {"fr": self.label_fr, "en": self.label_en}


Sink = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True)
class Exporter:
    """An export format: `write(kind, records, sink)` streams the records through `sink` chunk by chunk.

    `kinds` (hook API 1.6) names the record kinds the format can carry (GeoJSON: those with a place); empty, every
    kind. Another kind's export is refused with 400 before anything is written."""

    format: str
    media_type: str
    extension: str
    write: Callable[[str, AsyncIterator[dict[str, Any]], Sink], Awaitable[None]]
    label: str = ""
    kinds: tuple[str, ...] = ()

    def exports(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds


@dataclass(frozen=True)
class SyncTarget:
    """A destination for this node's change batches; `send` raises to have the batch retried.

    `send(batch, context)` receives the batch as the inbox protocol defines it ({"origin", "batch_id",
    "records"}) and the `FederationContext` (signed HTTP client, database, identity, settings).
    """

    name: str
    send: Callable[[dict[str, Any], Any], Awaitable[None]]
    description: str = ""


NodeArgument = TypeVar("NodeArgument")


@dataclass(frozen=True)
class BackgroundTask:
    """Work a plugin runs for as long as the node serves (hook API 2.0): `run(node)` is called once, when the
    node's background worker starts, with the opened `federation.node.Node`; it loops on its own (sleeping between
    rounds) and is cancelled when the node stops. An exception ending it is logged with the plugin's name and the
    task is started again after `restart_delay_s`: one plugin's bug never stops the node or the other tasks."""

    name: str
    run: Callable[[Any], Awaitable[None]]
    restart_delay_s: float = 30.0


@dataclass(frozen=True)
class Command(Generic[NodeArgument]):
    """A `regies` subcommand, the core's own (federation/commands.py) as a plugin's: `configure(parser)` declares
    its arguments on an argparse parser, `run(args, node)` does the work and returns the exit status.

    `node` is the opened `federation.node.Node`, and `run` is then an `async def` (it runs in the event loop the
    node was opened in; the core awaits it). A command that must run without an opened node (it creates the
    node, serves one that the server opens itself, or reads no database) says `needs_node=False` and gets a
    `federation.node.UnopenedNode` (its settings and plugins, loaded when first read); its `run` may be a plain
    function. A command whose actions differ passes a function of the parsed arguments as `needs_node` (`regies
    hub init` creates the node that `regies hub enrolments` opens)."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, NodeArgument], int | Awaitable[int]]
    needs_node: bool | Callable[[argparse.Namespace], bool] = True

    def opens_node(self, args: argparse.Namespace) -> bool:
        """Whether the core opens the node before `run` for these parsed arguments."""
        return self.needs_node(args) if callable(self.needs_node) else self.needs_node


@dataclass(frozen=True)
class NavEntry:
    """A link of the web interface's navigation bar, shown to logged-in users whose role is in `roles`."""

    path: str
    label_fr: str
    label_en: str
    roles: tuple[str, ...] = ("admin", "staff", "national", "regional")

    def label(self, language: str) -> str:
        return self.label_fr if language == "fr" else self.label_en


@dataclass(frozen=True)
class WebPages:
    """Pages a plugin adds to the web interface: routes served under `prefix` (e.g. "/hub"), navigation
    entries, a directory of Jinja templates (found as "<plugin name>/<file>") and a gettext `locale` directory
    (`<locale>/<lang>/LC_MESSAGES/messages.mo`) merged into the core's catalogues, and a `static` directory
    served at /static/plugins/<plugin name>/ (CSS, JavaScript, images: pages allow no inline script)."""

    prefix: str
    routes: tuple[web.AbstractRouteDef, ...]
    nav: tuple[NavEntry, ...] = ()
    templates: Path | None = None
    locale: Path | None = None
    static: Path | None = None


@dataclass(frozen=True)
class RootRoutes:
    """Routes a plugin serves at `prefix` on the node's root (see `Registry.add_root_routes`), paths complete."""

    prefix: str
    routes: tuple[web.RouteDef, ...]


@dataclass(frozen=True)
class PublicLink:
    """A document a plugin publishes that the node's public page announces, in its head as
    `<link rel="alternate" type="media_type" href="path">` and in its list of open data (French and English
    titles)."""

    path: str
    media_type: str
    title_fr: str
    title_en: str

    def title(self, language: str) -> str:
        return self.title_fr if language == "fr" else self.title_en


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
    current_plugin: str = CORE

    def _claim(self, what: str, key: str) -> None:
        owner = self.owners.get((what, key))
        if owner is not None:
            raise PluginError(
                f"{what} '{key}' is registered twice: by plugin '{owner}' and by plugin '{self.current_plugin}'"
            )
        self.owners[(what, key)] = self.current_plugin

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
        if not re.match(r"^/[a-z][a-z0-9.-]{0,30}$", prefix) or prefix in RESERVED_WEB_PREFIXES:
            raise PluginError(
                f"plugin '{self.current_plugin}': root prefix '{prefix}' must be like '/hsds' and not one of "
                f"{', '.join(sorted(RESERVED_WEB_PREFIXES))}"
            )
        if ("web prefix", prefix) in self.owners:
            raise PluginError(f"root prefix '{prefix}' is plugin '{self.owners[('web prefix', prefix)]}'s web prefix")
        mounted = []
        for route in routes:
            if not isinstance(route, web.RouteDef) or not (route.path == "" or route.path.startswith("/")):
                raise PluginError(
                    f"plugin '{self.current_plugin}': root routes are web.get(path, ...) route definitions whose "
                    f"path is empty or starts with /, not {route!r}"
                )
            mounted.append(web.RouteDef(route.method, prefix + route.path, route.handler, route.kwargs))
        self._claim("root prefix", prefix)
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
        if not re.match(r"^/[a-z][a-z0-9-]{0,30}$", prefix) or prefix in RESERVED_WEB_PREFIXES:
            raise PluginError(
                f"plugin '{self.current_plugin}': web prefix '{prefix}' must be like '/hub' and not one of "
                f"{', '.join(sorted(RESERVED_WEB_PREFIXES))}"
            )
        if ("root prefix", prefix) in self.owners:
            raise PluginError(f"web prefix '{prefix}' is plugin '{self.owners[('root prefix', prefix)]}'s root prefix")
        self._claim("web prefix", prefix)
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


_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE"})


def fold_text(text: str, keep: str = "") -> str:
    """`text` for loose comparisons: no accents, lower case, words of letters and digits (and the characters in
    `keep`) separated by single spaces."""
    # The ligatures have no decomposition: without this, "Second œuvre" would fold to "second uvre".
    spelled_out = text.translate(_LIGATURES)
    without_accents = unicodedata.normalize("NFKD", spelled_out).encode("ascii", "ignore").decode()
    return " ".join(re.sub(f"[^a-z0-9{re.escape(keep)}]+", " ", without_accents.casefold()).split())


def match_service_type_label(label: str, category: str | None, service_types: Iterable[ServiceType]) -> str | None:
    """The key of the service type whose key, French or English label or one of its `import_labels` matches
    `label` (case, accents, ligatures and punctuation ignored).

    Plugins use it to implement `service_type_for_label` for their own service types.
    """
    wanted = fold_text(label)
    for service_type in service_types:
        if category is not None and service_type.category != category:
            continue
        names = (service_type.key, service_type.label_fr, service_type.label_en, *service_type.import_labels)
        if wanted in {fold_text(name) for name in names}:
            return service_type.key
    return None


class ServiceTypeHooks:
    """The three hooks of a plugin that provides service types and their indicators, ready to expose.

    A plugin module writes `hooks = ServiceTypeHooks(SERVICE_TYPES, INDICATORS)` and binds
    `register_service_types = hooks.register_service_types` (and the two others) at module level.
    """

    def __init__(self, service_types: Iterable[ServiceType], indicators: Iterable[Indicator] = ()) -> None:
        self.service_types = tuple(service_types)
        self.indicators = tuple(indicators)

    @hookimpl
    def register_service_types(self, registry: Registry) -> None:
        for service_type in self.service_types:
            registry.add_service_type(service_type)

    @hookimpl
    def register_indicators(self, registry: Registry) -> None:
        for indicator in self.indicators:
            registry.add_indicator(indicator)

    @hookimpl
    def service_type_for_label(self, label: str, category: str | None) -> str | None:
        return match_service_type_label(label, category, self.service_types)


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
