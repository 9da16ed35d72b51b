"""The plugin API: the whole surface of the core a plugin may import, each name with its one line below.

A plugin imports from ``federation.plugin_api`` and, for what only some plugins need, its four submodules:
``federation.plugin_api.web`` (server-rendered pages), ``federation.plugin_api.files`` (table and GeoJSON writers),
``federation.plugin_api.network`` (talking to other nodes with signed requests: the hub and the hub client) and
``federation.plugin_api.storage`` (the node's database, for plugins that keep their own tables or aggregate in
SQL). Nothing else of ``federation`` is promised to stay: the
built-in plugins are held to this by an import-linter contract (pyproject.toml), and docs/plugins.md ("Plugin
API") lists every name with the comment it has here (a test keeps both the same).

Every name here is a re-export of the module that owns it; a change to one of them is a change of the plugin API
(CHANGELOG, and the hook API version in federation/hookspecs.py when hooks are concerned).
"""

from __future__ import annotations

from federation import appkeys, hookimpl
from federation.api.requests import read_json_object, require_token
from federation.bootstrap import init_node
from federation.config import CONFIG_FILE_NAME, Settings
from federation.csv_safety import CsvValue, SafeCsvWriter
from federation.errors import CommandError
from federation.indicators import parse_period_key, period_bounds, period_over
from federation.node import Node, UnopenedNode
from federation.numbers import format_figure, format_moment, plain
from federation.problems import Problem, field_errors, invalid_query, validation_problem
from federation.protocol.apply import StoredDocuments
from federation.registrations import (
    BackgroundTask,
    Command,
    DistinctChoices,
    Exporter,
    FieldError,
    Indicator,
    NavEntry,
    PublicLink,
    ServiceType,
    ServiceTypeHooks,
    Sink,
    SyncTarget,
    match_service_type_label,
)
from federation.registry import PluginError, Registry
from federation.reports import build_reviewed_report
from federation.responses import json_response
from federation.schema.geo import DEPARTMENTS, REGIONS, commune
from federation.schema.kinds import HUB, HUB_ONLY, MEMBER, PUBLIC, KindFilter, RecordKind, addressed_to
from federation.schema.records import (
    ENVELOPE_FIELDS,
    MAX_VERSION,
    RECORD_KINDS,
    Envelope,
    LabelStatus,
    NodeProfile,
    Period,
    ReportReview,
    ReportState,
    ReviewDecision,
    ReviewLevel,
    utcnow,
)
from federation.schema.types import (
    NODE_ID_PATTERN,
    NOT_BLANK_PATTERN,
    STRIPPED,
    Category,
    Contact,
    LongText,
    NodeId,
    SchemaEnum,
    ShortText,
    StrictModel,
)
from federation.semantics import (
    PRECISION_TOLERANCE,
    Aggregation,
    AggregationKind,
    ValidationRule,
    semantics_of,
    value_errors,
)
from federation.storage.reader import ListQuery, RecordReader
from federation.storage.records import RecordError, StoredRecord
from federation.storage.service import RecordService
from federation.storage.tokens import Actor, create_token
from federation.terminal import printable
from federation.web.throttle import client_address

# Hooks, and what registration hooks register.
__all__ = [
    "HUB",  # the author `hub`: a record kind only the network's hub writes (a kind's `authors`)
    "HUB_ONLY",  # the audience of a kind only the hub sees besides its origin, like period reports
    "MEMBER",  # the author `member`: a record kind régies write (a kind's `authors`)
    "PUBLIC",  # the audience of a kind every peer sees (the default)
    "BackgroundTask",  # work a plugin runs while the node serves (`registry.add_background_task`): name, `run(node)`
    "Command",  # a `regies <name>` command: its name, help, argument parser setup and handler
    "DistinctChoices",  # list of choices for a details model, each at most once (a checkbox list on forms)
    "Exporter",  # an export format of the node's collections: format, media type, extension, async `write`
    "FieldError",  # what a `validate_record` hook returns for one refused field: JSON pointer and message
    "Indicator",  # a period-report indicator: key, section, labels, hints, unit, aggregation, bounds, computation
    "KindFilter",  # a field of a record kind copied into an indexed column, filtered on by a query parameter
    "NavEntry",  # one link of the web interface's navigation, shown to the roles it names
    "PluginError",  # raise it from a hook when the plugin cannot start (bad settings): start-up stops with it
    "PublicLink",  # a document the public page announces (`registry.add_public_link`): path, media type, titles
    "RecordKind",  # a record kind a plugin declares (`registry.add_record_kind`): models, authors, audience
    "Registry",  # what registration hooks receive: `registry.add_service_type(...)`, `plugin_config(Model)`, ...
    "ServiceType",  # a kind of activity a régie runs: key, field of action, labels and its details model
    "ServiceTypeHooks",  # the registration hooks of a plugin of service types and indicators, ready to bind
    "Sink",  # where an exporter writes: an async callable taking bytes
    "StoredDocuments",  # the records a `records_replicated` hook receives: a sequence of dicts, and `.kinds`
    "SyncTarget",  # a destination of the node's change batches: name and async `send(batch, context)`
    "addressed_to",  # the audience of a kind meant for one node: the node id in the named field of the record
    "hookimpl",  # marks a function as an implementation of a hook of federation/hookspecs.py
    "match_service_type_label",  # the service type whose label matches a free text (`service_type_for_label`)
]
# Indicators: their semantics, and rules between them.
__all__ += [
    "PRECISION_TOLERANCE",  # tolerance when checking an indicator value against its decimals
    "Aggregation",  # how an indicator aggregates across régies: sum, weighted mean, ratio, count or none
    "AggregationKind",  # the kinds of aggregation, as `Aggregation.kind` holds them
    "ValidationRule",  # a rule between indicators of one report (Σ left ≤ Σ right), error or warning
    "semantics_of",  # an indicator's aggregation, bounds and decimals, with the defaults of its unit applied
    "value_errors",  # the values of a report that break their indicator's bounds or decimals
]
# The common schema: types for details models, records, periods and reference data.
__all__ += [
    "DEPARTMENTS",  # French departments by INSEE code (`75`, `2A`, `974`): name and region code
    "ENVELOPE_FIELDS",  # the names of the federation fields every record carries (`Envelope`)
    "MAX_VERSION",  # the highest version a record may reach
    "NODE_ID_PATTERN",  # the regular expression a node id matches
    "NOT_BLANK_PATTERN",  # the pattern of a text that is not only blanks (for JSON Schema and pydantic fields)
    "RECORD_KINDS",  # the federated record kinds by name: models, API collection, JSON Schema name
    "REGIONS",  # French regions by INSEE code (`11`): name
    "STRIPPED",  # pydantic validator stripping surrounding blanks, as the core's text fields do
    "Category",  # the fields of action of a régie (an activity's or service type's category)
    "Contact",  # a contact of a record: person, e-mail, phone
    "Envelope",  # the federation fields every record carries: id, origin, version, timestamps
    "LabelStatus",  # a régie's label status: in progress or labelled
    "LongText",  # a stripped free text of at most 20,000 characters
    "NodeId",  # a node id, as `NODE_ID_PATTERN` matches it
    "NodeProfile",  # the profile record of a régie: name, kind, identifiers, place
    "Period",  # a reporting period (year, survey period or quarter), with its `key`
    "ReportReview",  # a hub's review of a period report: decision, level, reviewer, comment
    "ReportState",  # the states of a period report: draft, submitted, validated, returned
    "ReviewDecision",  # what a review decides: validated or returned
    "ReviewLevel",  # who reviews: the regional or the national level
    "SchemaEnum",  # base of the schema's enumerations: a StrEnum (subclass it for a record's states)
    "ShortText",  # a stripped, non-blank text of at most 200 characters (titles, labels)
    "StrictModel",  # base of every wire model: unknown fields are errors
    "build_reviewed_report",  # a period report as a review leaves it: new state and one audit entry
    "commune",  # the current commune (or municipal arrondissement) of an INSEE code, or None
    "parse_period_key",  # a Period from its key (`2025`, `2025-Q3`, `2023-2025`); ValueError if malformed
    "period_bounds",  # the first and last day of a period
    "period_over",  # whether a period ended before a given day (only then is its report submitted or counted)
    "utcnow",  # the current moment, timezone-aware in UTC, as records store it
]
# HTTP handlers (routes a plugin serves; errors are rendered as problem+json).
__all__ += [
    "Actor",  # who a bearer token belongs to: name, role, region
    "ListQuery",  # the filters of a list of records: kind, page (`after_rid`, `limit`), equal columns, since
    "Problem",  # an RFC 9457 problem: raise it from a handler or a command to refuse with a status and detail
    "RecordReader",  # the node's read path (`appkeys.READER`): `get`, `find`, `page` of records, `rows` of SQL
    "appkeys",  # the typed app keys of the node's shared objects (NODE, SETTINGS, ENGINE, READER, STORE, PLUGINS)
    "client_address",  # who sent a request, by the node's `[web] trusted_proxies` rule (for per-address limits)
    "field_errors",  # a pydantic ValidationError as the API's field errors (pointer, detail, code)
    "invalid_query",  # the 400 problem for a bad query parameter, naming it
    "json_response",  # a JSON response from already serialised text or bytes
    "read_json_object",  # the request's body as a JSON object, or a problem (size, syntax, nesting)
    "require_token",  # the Actor of the request's bearer token if its role is allowed, else a 401/403 problem
    "validation_problem",  # the 422 problem listing field errors
]
# Commands (`register_commands`) and files.
__all__ += [
    "CONFIG_FILE_NAME",  # the name of the node's configuration file in its data directory
    "CommandError",  # raise it from a command: its message is printed and the command exits with status 1
    "CsvValue",  # a value a CSV writer accepts: text, number or None
    "Node",  # the opened node a command's `run(args, node)` and `records_replicated` get: engine, store, identity...
    "RecordError",  # a write of a record refused (unknown, gone, version mismatch, conflict)
    "RecordService",  # the one write path (`node.store`): create, replace, delete, create_built, replace_built
    "SafeCsvWriter",  # a CSV writer that neutralises spreadsheet formulas in cells
    "Settings",  # the node's settings (`settings.plugins.section(name)` is a plugin's raw section)
    "StoredRecord",  # a record as a write stored it: kind, id, version and JSON `body`
    "UnopenedNode",  # what a `needs_node=False` command gets instead: the node's settings and plugins only
    "create_token",  # create a bearer token with a role; the token is returned once
    "format_figure",  # a number with its unit for people, in a language (`1 234,5 €`)
    "format_moment",  # a moment for people in Paris time, in a language (`31 mars 2026 à 14:05`)
    "init_node",  # create a node in a data directory: database, identity, profile (`regies init`)
    "plain",  # a number in full with a "." decimal point, no grouping, never scientific (CSV, data attributes)
    "printable",  # a value made safe to print on a terminal (control characters escaped)
]
