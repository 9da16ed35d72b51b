"""The hook specifications plugins implement: the whole plugin API of a node, one documented hook each.

Rules that hold for every hook:

- Plugins import the core only through ``federation.plugin_api`` (``from federation.plugin_api import hookimpl,
  Registry``) and its submodules ``web``, ``files``, ``network`` and ``storage``; docs/plugins.md, "Plugin API", lists
  every name, and an import-linter contract holds the built-in plugins to it.
- Registration hooks (``register_*``) are synchronous and receive the app's ``Registry``; async work lives in
  the objects they register, which the core awaits.
- A ``firstresult`` hook never has an async implementation (a coroutine is not ``None``, so it would always
  win); the plugin manager refuses one at start.
- Hooks are called with keyword arguments; an implementation may accept any subset of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from federation.registrations import FieldError
    from federation.registry import Registry

hookspec = pluggy.HookspecMarker("regies")

# Version of this hook API. A plugin may declare the versions it supports with a module attribute such as
# ``REGIES_HOOK_API = ">=2.0,<3"``; an incompatible plugin is refused at start.
HOOK_API_VERSION = "2.3"


@hookspec
def register_record_kinds(registry: Registry) -> None:
    """Declare the kinds of federated records this plugin adds (a loan request, an attested label…).

    When: once per app, at start-up, before every other registration hook. The core's own kinds (node, activity,
    resource, report, review) are registered through this same hook by the core's internal plugin.
    Arguments: ``registry`` — call ``registry.add_record_kind(RecordKind(...))`` for each kind: its name, data
    and record models, API collection (served at ``/api/v1/<collection>``, or None), JSON Schema name, read-only
    fields, who may author it (``authors``: ``{MEMBER}``, ``{HUB}`` or both), who may see it (``audience``:
    ``PUBLIC``, ``HUB_ONLY`` or ``addressed_to("<field naming the node>")``), its list filters and their indexes,
    and ``unique_per_origin`` (docs/plugins.md, "Record kinds").
    Returns: nothing (ignored).
    Several plugins: all are called; a kind name, collection or JSON Schema name registered twice, or a
    declaration that does not hold (unknown filter column or field, an optional addressee…), stops start-up with
    an error naming the plugin. The feed, pushes, the receiver's checks, the API and the OpenAPI document all
    follow the declaration; nothing else is needed for the kind to federate.
    Added in: hook API 1.6.
    """


@hookspec
def register_service_types(registry: Registry) -> None:
    """Declare the service types this plugin provides.

    When: once per app, at start-up, while the plugin manager is built.
    Arguments: ``registry`` — call ``registry.add_service_type(ServiceType(...))`` for each type. A service type
    may say how it reads in outside open-data vocabularies with ``open_data_terms={"<vocabulary>.<field>":
    (terms, ...)}`` (hook API 1.6), e.g. ``"datainclusion.thematiques"`` and ``"datainclusion.type"`` for the
    data·inclusion publication; the plugin publishing the vocabulary checks the terms at start-up (an unknown
    term stops start-up naming the service type) and docs/open-data.md lists the keys.
    Returns: nothing (ignored).
    Several plugins: all are called; two plugins registering the same key stop start-up with an error naming
    both plugins.
    Added in: hook API 1.0.
    """


@hookspec
def register_indicators(registry: Registry) -> None:
    """Declare the period-report indicators this plugin contributes.

    When: once per app, at start-up, after every plugin's ``register_service_types``.
    Arguments: ``registry`` — call ``registry.add_indicator(Indicator(...))`` for each indicator.
    Returns: nothing (ignored).
    Several plugins: all are called; a key registered twice stops start-up with an error naming both plugins.
    An indicator may declare how it aggregates across régies (``aggregation=Aggregation.weighted_mean("x")``,
    ``Aggregation.ratio(...)``, ``Aggregation.count()``, ``Aggregation.none()``; default from its unit: counts and
    amounts are summed, a percentage is not summed) and its plausible ``minimum``, ``maximum`` and ``decimals``;
    a rule naming an unknown indicator, a summed percentage or a count with decimals stops start-up naming the
    plugin (hook API 1.4).
    It may also declare rules between the indicators of one report, checked when a report is submitted:
    ``registry.add_validation_rule(ValidationRule(key, left, right, "error" | "warning", message_fr,
    message_en))`` (Σ left ≤ Σ right; a rule naming an indicator the node lacks is skipped) (hook API 1.5).
    A computed indicator may carry its own computation, ``Indicator(..., source="computed", compute=f)``: ``await
    f(engine, node_id, first_day, last_day)`` returns the node's figure for the period (or None), used to
    pre-fill the report form (``GET /api/v1/report-form`` and the back-office) (hook API 2.1). Indicators counted
    from the same data may share one function instead, ``compute_many=g``: ``await g(engine, node_id, first_day,
    last_day)`` returns their figures by key, once per report form; ``hint_fr``/``hint_en`` say on the form where
    a figure comes from (hook API 2.2).
    Added in: hook API 1.0.
    """


@hookspec
def register_routes(registry: Registry) -> None:
    """Add HTTP routes, served under ``/plugins/<plugin name>/``.

    When: once per app, at start-up.
    Arguments: ``registry`` — call ``registry.add_routes(routes)`` with an ``aiohttp.web.RouteTableDef`` (or
    a list of ``web.RouteDef``). Paths are relative to the plugin's prefix: ``@routes.get("/status")`` is
    served at ``/plugins/<name>/status``. Handlers reach the node through ``request.config_dict`` and the
    keys in ``federation.appkeys``.
    A plugin implementing a published standard whose clients expect its own paths (HSDS's ``/hsds/services``,
    ``/feeds/activities.ics``, ``/catalog.jsonld``) calls ``registry.add_root_routes(prefix, routes, openapi)``
    instead: the routes are served at ``prefix`` on the node's root, a prefix only one plugin may claim and
    never one of the core's (hook API 1.6). ``registry.add_public_link(PublicLink(path, media_type, title_fr,
    title_en))`` has the node's public page announce such a document (hook API 1.6).
    Returns: nothing (ignored).
    Several plugins: all are called; each plugin gets its own sub-application, so paths never collide; two
    plugins claiming one root prefix stop start-up with an error naming both.
    A plugin publishing the node's data in a public format may also call ``registry.add_api_routes(name, routes,
    openapi=...)``: the routes are then served under ``/api/v1/<name>/`` beside the core's API (hook API 1.6); a
    name is taken once and the core's own names (``activities``, ``export``…) are refused at start-up.
    ``registry.plugin_state(cls)`` gives the plugin's one ``cls()`` in this app, the same from every
    ``register_*`` hook: what its routes and its web pages share, such as a cache (hook API 2.3).
    Added in: hook API 1.0.
    """


@hookspec
def register_exporters(registry: Registry) -> None:
    """Add export formats for record collections (``GET /api/v1/export/<collection>?format=<format>``).

    When: once per app, at start-up.
    Arguments: ``registry`` — call ``registry.add_exporter(Exporter(format=..., media_type=...,
    extension=..., write=...))``. ``write(kind, records, sink)`` is an async function receiving the record kind
    (``activity``, ``resource``, ``report``), an async iterator of record dicts and an async ``sink(bytes)``
    callable; it streams its output chunk by chunk. ``Exporter(..., kinds=("activity", "resource"))`` limits a
    format to those kinds (hook API 1.6): another collection's export in it is refused with 400.
    Returns: nothing (ignored).
    Several plugins: all are called; a format registered twice stops start-up with an error naming both.
    Added in: hook API 1.0.
    """


@hookspec
def register_sync_targets(registry: Registry) -> None:
    """Add destinations that receive this node's change batches (the hub plugin adds the hub this way).

    When: once per app, at start-up.
    Arguments: ``registry`` — call ``registry.add_sync_target(SyncTarget(name=..., send=...))``; ``send`` is
    an async function ``send(batch, context)`` receiving one batch, shaped like an inbox batch (``{"origin",
    "batch_id", "records"}``, records being ``RecordEnvelope`` dicts; the batch id stays the same when a batch
    is retried) and the ``FederationContext`` (its ``client`` signs requests), and raising on failure so the
    batch is retried.
    Returns: nothing (ignored).
    Several plugins: all are called; a target name registered twice stops start-up with an error naming both.
    Added in: hook API 1.0.
    """


@hookspec
def validate_record(kind: str, record: dict[str, Any], previous: dict[str, Any] | None) -> list[FieldError] | None:
    """Check a record before it is written; returning errors rejects the write with 422 and writes nothing.

    When: on every create or replace through the API, after the record passed the schema and its service
    type's details model, before the database transaction.
    Arguments: ``kind`` (``node``, ``activity``, ``resource`` or ``report``); ``record`` — the validated data
    fields as JSON-compatible dict; ``previous`` — the stored record being replaced, or ``None`` on create.
    Returns: ``None`` or a list of ``FieldError(pointer, detail)``; pointers are JSON Pointers into the body.
    Several plugins: all are called and all their errors are returned together. An exception raised here is
    a plugin bug: it is logged with the plugin's name and the request fails with 500, writing nothing.
    Added in: hook API 1.0.
    """


@hookspec
def record_committed(kind: str, record: dict[str, Any], action: str) -> Any:
    """React to a committed change of a local record (notify, index, push elsewhere…).

    When: after the transaction that created, replaced or deleted a record has committed.
    Arguments: ``kind``; ``record`` — the stored record as a dict (a tombstone envelope on delete);
    ``action`` — ``created``, ``updated`` or ``deleted``.
    Returns: nothing, or an awaitable that the core awaits.
    Several plugins: all are called in turn. One that raises is logged with its name and skipped: the write
    already succeeded and the node keeps running.
    Added in: hook API 1.0.
    """


@hookspec(firstresult=True)
def service_type_for_label(label: str, category: str | None) -> str | None:
    """Map a free-text activity label (e.g. a spreadsheet column "Espaces verts") to a service type key.

    When: when importing activities from files whose rows name their service type in words.
    Arguments: ``label`` — the text as found, stripped; ``category`` — the field of action if known.
    Returns: a registered service type key, or ``None`` if this plugin does not recognise the label.
    Several plugins: ``firstresult`` — the first non-``None`` answer wins, in reverse registration order.
    Must be synchronous.
    Added in: hook API 1.0.
    """


@hookspec
def register_commands(registry: Registry) -> None:
    """Add `regies` subcommands (e.g. the hub plugin's `regies hub …`); the core registers its own the same way
    (federation/commands.py).

    When: every time the `regies` command starts, before its arguments are parsed.
    Arguments: ``registry`` — call ``registry.add_command(Command(name=..., help=..., configure=..., run=...))``;
    ``configure(parser)`` adds arguments to the subcommand's argparse parser; ``async def run(args, node)``
    receives the parsed arguments and the opened ``federation.node.Node`` (settings, plugins, engine, record
    store, reader, identity, federation client) and returns the exit status. A command that must run without an
    opened node registers with ``needs_node=False`` (or a function of the parsed arguments) and gets a
    ``federation.node.UnopenedNode`` (settings and plugins only); its ``run`` may be a plain function. Raise
    ``federation.errors.CommandError`` for user errors.
    Returns: nothing (ignored).
    Several plugins: all are called; a command name used twice (or a core command's name) stops the command
    with an error naming both.
    Added in: hook API 1.1. Changed in 2.0: ``run`` receives the node instead of the settings; ``needs_node``.
    """


@hookspec
def records_replicated(origin: str, records: list[dict[str, Any]], node: Any) -> Any:
    """React to records of another node that were just stored here (pulled from its feed or pushed to the inbox).

    When: after the transaction that applied a page or batch has committed.
    Arguments: ``origin`` — the node the records come from; ``records`` — a sequence of the stored documents
    as dicts (tombstones included, with ``deleted: true``), decoded when read, so a plugin that ignores an
    origin costs nothing; ``records.kinds`` is the set of record kinds among them (e.g. ``{"activity"}``),
    known without decoding, so a plugin that wants one kind skips other pages for free (hook API 1.3);
    ``node`` — the ``federation.node.Node`` that stored them (``engine``, ``store`` to write local records in
    response, ``identity``, ``settings``, ``plugins``, ``federation``: the context replication shares).
    Returns: nothing, or an awaitable that the core awaits.
    Several plugins: all are called in turn; one that raises is logged with its name and skipped (the records
    are already stored).
    Added in: hook API 1.1. Changed in 2.0: ``node`` replaces ``context`` (the ``FederationContext``, now
    ``node.federation``).
    """


@hookspec
def register_web_pages(registry: Registry) -> None:
    """Add pages to the web interface, with its layout, login, CSRF protection and languages (docs/web.md).

    When: once per app, at start-up.
    Arguments: ``registry`` — call ``registry.add_web_pages(prefix="/hub", routes=routes, nav=[NavEntry(...)],
    templates=Path(__file__).parent / "templates")``. Paths in ``routes`` are relative to ``prefix``;
    handlers use ``federation.web.require_user`` and ``federation.web.render``; templates extend "base.html"
    and are named "<plugin name>/<file>".
    Returns: nothing (ignored).
    Several plugins: all are called; a prefix used twice, or one of the core's, stops start-up with an error.
    Added in: hook API 1.2.
    """


@hookspec
def register_indexes(registry: Registry) -> None:
    """Ask for indexes on the core's tables that only this plugin's queries need (e.g. the hub's aggregates).

    Every index slows every write of its table, and every node would pay for indexes only a hub reads: a plugin
    asks for its own, and they exist only where the plugin is enabled.
    When: once per app, at start-up; the core creates missing indexes after the database migrations (on a large
    table the first start takes the time to build them, logged).
    Arguments: ``registry`` — call ``registry.add_index("ix_<name>", "<core table>", ["column", ...])``.
    Returns: nothing (ignored).
    Several plugins: all are called; an index name used twice, or an unknown table or column, stops start-up
    with an error naming the plugin. Disabling the plugin leaves its indexes in place (drop them by hand).
    Added in: hook API 1.2.
    """


@hookspec
def register_background_tasks(registry: Registry) -> None:
    """Run work in the background for as long as the node serves (a mail outbox, a periodic clean-up…).

    When: once per app, at start-up; the tasks start with the node's background sync worker (inside
    `regies serve` when ``[federation] worker`` is true, the default) and are cancelled when it stops.
    Arguments: ``registry`` — call ``registry.add_background_task(BackgroundTask(name, run))``; ``run(node)``
    receives the opened ``federation.node.Node`` (engine, record store, reader, identity, settings, plugins,
    ``node.federation``) and loops on its own, sleeping between rounds. It must keep its state in the database:
    it is cancelled at any await when the node stops, and several processes of one node may each run it (claim
    work in a transaction).
    Returns: nothing (ignored).
    Several plugins: all are called; a task name registered twice stops start-up with an error naming both. A
    task that raises is logged with its plugin's name and started again after ``restart_delay_s``.
    Added in: hook API 2.0.
    """
