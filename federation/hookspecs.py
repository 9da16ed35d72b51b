"""The hook specifications plugins implement: the whole plugin API of a node, one documented hook each.

Rules that hold for every hook:

- Plugin authors import only ``from federation import hookimpl`` and the types in ``federation.plugins``.
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
    from federation.plugins import FieldError, Registry

hookspec = pluggy.HookspecMarker("regies")

# Version of this hook API. A plugin may declare the versions it supports with a module attribute such as
# ``REGIES_HOOK_API = ">=1.0,<2"``; an incompatible plugin is refused at start.
HOOK_API_VERSION = "1.5"


@hookspec
def register_service_types(registry: Registry) -> None:
    """Declare the service types this plugin provides.

    When: once per app, at start-up, while the plugin manager is built.
    Arguments: ``registry`` — call ``registry.add_service_type(ServiceType(...))`` for each type.
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
    Returns: nothing (ignored).
    Several plugins: all are called; each plugin gets its own sub-application, so paths never collide.
    Added in: hook API 1.0.
    """


@hookspec
def register_exporters(registry: Registry) -> None:
    """Add export formats for record collections (``GET /api/v1/export/<collection>?format=<format>``).

    When: once per app, at start-up.
    Arguments: ``registry`` — call ``registry.add_exporter(Exporter(format=..., media_type=...,
    extension=..., write=...))``. ``write(kind, records, sink)`` is an async function receiving the record kind
    (``activity``, ``resource``, ``report``), an async iterator of record dicts and an async ``sink(bytes)``
    callable; it streams its output chunk by chunk.
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
    """Add `regies` subcommands (e.g. the hub plugin's `regies hub …`).

    When: every time the `regies` command starts, before its arguments are parsed.
    Arguments: ``registry`` — call ``registry.add_command(Command(name=..., help=..., configure=..., run=...))``;
    ``configure(parser)`` adds arguments to the subcommand's argparse parser, ``run(args, settings)`` does the
    work and returns the exit status. Raise ``federation.errors.CommandError`` for user errors.
    Returns: nothing (ignored).
    Several plugins: all are called; a command name used twice (or a core command's name) stops the command
    with an error naming both.
    Added in: hook API 1.1.
    """


@hookspec
def records_replicated(origin: str, records: list[dict[str, Any]], context: Any) -> Any:
    """React to records of another node that were just stored here (pulled from its feed or pushed to the inbox).

    When: after the transaction that applied a page or batch has committed.
    Arguments: ``origin`` — the node the records come from; ``records`` — a sequence of the stored documents
    as dicts (tombstones included, with ``deleted: true``), decoded when read, so a plugin that ignores an
    origin costs nothing; ``records.kinds`` is the set of record kinds among them (e.g. ``{"activity"}``),
    known without decoding, so a plugin that wants one kind skips other pages for free (hook API 1.3);
    ``context`` — the ``FederationContext`` (database engine, record service ``store``,
    identity, settings, plugins), e.g. to write local records in response.
    Returns: nothing, or an awaitable that the core awaits.
    Several plugins: all are called in turn; one that raises is logged with its name and skipped (the records
    are already stored).
    Added in: hook API 1.1.
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
