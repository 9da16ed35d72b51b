"""What plugins register: the descriptions handed to `Registry.add_*` (service types, indicators, exporters, sync
targets, commands, background tasks, web pages, root routes, public links) and the helpers to build them."""

from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue

from federation import hookimpl
from federation.schema.types import CATEGORY_LABELS, Category
from federation.semantics import Aggregation

if TYPE_CHECKING:
    import datetime as dt

    from federation.registry import Registry

# The parts of the report form, in the order of the network's survey (labels in federation/indicators.py).
INDICATOR_SECTIONS = ("employment", "activities", "democracy", "finances", "territory", "other")
Choice = TypeVar("Choice", bound=str)


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
    the node's database and returns the figure of the period (None: nothing to report), or (hook API 2.2) by
    `compute_many(engine, node_id, first_day, last_day)`, an async function returning the figures of several
    indicators by key: indicators naming the same function share one call per report form (one read of the data
    they count). `hint_fr` and `hint_en` (hook API 2.2) say on the report form where a figure comes from (for a
    computed one, instead of the generic "computed from your activities of the period"); left out, the form says
    the generic text in that language.
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
    compute_many: Callable[[Any, str, dt.date, dt.date], Awaitable[Mapping[str, float | None]]] | None = field(
        default=None, compare=False, repr=False
    )
    hint_fr: str = ""
    hint_en: str = ""

    def labels(self) -> dict[str, str]:
        return {"fr": self.label_fr, "en": self.label_en}

    @property
    def computed_by_plugin(self) -> bool:
        """Whether its plugin's own function computes it (`compute` or `compute_many`), not a details field."""
        return self.compute is not None or self.compute_many is not None

    def hint(self, language: str) -> str:
        """Where its figure comes from, in `language` ("fr" or "en"); empty when the plugin did not say."""
        return self.hint_fr if language == "fr" else self.hint_en


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
