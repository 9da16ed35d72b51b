"""Record kinds as data: one declaration per kind (its models, who may author it, who may see it, what lists filter
on) and the set of kinds a node knows, from which storage, the feed, replication and the API derive what they do.

The core's five kinds are declared in federation.schema.records; a plugin declares its own through the
`register_record_kinds` hook (docs/plugins.md). Nothing in the core names a plugin's kind.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

# Who may author a record of a kind (design.md, trust rule 2): any member, for its own origin, and/or the
# network's hub (the peer a node added with the hub role). Every record is its sender's own in any case.
MEMBER = "member"
HUB = "hub"
Author = Literal["member", "hub"]
ANYONE: frozenset[str] = frozenset({MEMBER, HUB})

# A kind's name is its `kind` on the wire and in the `records` table (at most 32 characters); its collection is a
# path segment of the API (/api/v1/<collection>); names are inlined in the feed's SQL, so nothing else is allowed.
KIND_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
COLLECTION_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
_FIELD_PATH = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")


@dataclass(frozen=True)
class Audience:
    """Who sees a kind's records besides their origin: every peer (`public`), only the network's hub (`hub`), or
    only the one node whose id the record names in its field `field` (`addressed`).

    The feed serves a record only to its audience, the sender pushes it only there, and the node's API lists it
    only to token holders unless it is public.
    """

    scope: Literal["public", "hub", "addressed"]
    field: str | None = None

    @property
    def is_public(self) -> bool:
        return self.scope == "public"


PUBLIC = Audience("public")
HUB_ONLY = Audience("hub")


def addressed_to(field_name: str) -> Audience:
    """The audience of a kind meant for one node: the node id in the record's field `field_name` (a required
    `NodeId` field of the record model)."""
    return Audience("addressed", field_name)


@dataclass(frozen=True)
class KindFilter:
    """A field of a kind copied into a column of the `records` table when the record is stored, so that the API's
    list filters on it (query parameter `parameter`) with an index rather than reading every document.

    `parameter` None: the column is filled but the API does not filter on it (the hub's queries read it).
    `column` is one of the table's filter columns (federation.storage.upsert.FILTER_COLUMNS), `field` the
    record's field as a dotted path (`place.commune`, `period.key`). Enumerations and dates are stored as text.
    """

    parameter: str | None
    column: str
    field: str
    description: str = ""


@dataclass(frozen=True)
class RecordKind:
    """One kind of federated record, declared once.

    - `name`: the wire and table name; `data_model`: what clients send; `record_model`: the federated record
      (`data_model` plus the envelope fields); `schema_name`: its JSON Schema's name; `read_only_fields`: what
      clients may not set.
    - `collection`: the API path segment (/api/v1/<collection>), or None for a kind without API.
    - `authors`: who may author it ({MEMBER, HUB} by default; {HUB}: only the hub; {MEMBER}: not the hub).
    - `audience`: who may see it (PUBLIC, HUB_ONLY or addressed_to(field)).
    - `filters`: the list filters of its collection; `indexes`: columns of `records` its lists need indexed
      (created at start-up, for this kind's rows only).
    - `unique_per_origin`: None, or the filter columns of which an origin has at most one live record per
      value; `()`: one live record per origin (a profile).
    """

    name: str
    data_model: type[BaseModel]
    record_model: type[BaseModel]
    collection: str | None
    schema_name: str
    read_only_fields: frozenset[str]
    authors: frozenset[str] = ANYONE
    audience: Audience = PUBLIC
    filters: tuple[KindFilter, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()
    unique_per_origin: tuple[str, ...] | None = None

    def __hash__(self) -> int:
        # The name alone (equal kinds have equal names): replication looks each record's kind up in caches keyed on
        # it (storage.mapping.kind_filters), and the generated hash of every field of the declaration was 8 % of
        # the instructions a hub spends on a pushed record (docs/performance.md, "Hub").
        return hash(self.name)

    @property
    def api(self) -> bool:
        return self.collection is not None

    @property
    def one_per_origin(self) -> bool:
        """An origin has one live record of this kind (its profile): served as one document, not a collection."""
        return self.unique_per_origin == ()

    @property
    def private(self) -> bool:
        """Read through the API by token holders only: what is not public."""
        return not self.audience.is_public

    def may_author(self, role: str) -> bool:
        return role in self.authors

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when it is sound); the registry refuses a kind with any."""
        problems = []
        if not re.match(KIND_NAME_PATTERN, self.name):
            problems.append(f"name '{self.name}' must match {KIND_NAME_PATTERN}")
        if self.collection is not None and not re.match(COLLECTION_PATTERN, self.collection):
            problems.append(f"collection '{self.collection}' must match {COLLECTION_PATTERN}")
        if not self.authors or not self.authors <= ANYONE:
            problems.append(f"authors must be a non-empty set of '{MEMBER}' and '{HUB}'")
        if self.audience.scope == "addressed":
            problems.extend(self._addressee_problems())
        elif self.audience.field is not None:
            problems.append(f"a {self.audience.scope} audience names no field")
        for kind_filter in self.filters:
            if field_type(self.record_model, kind_filter.field) is None:
                problems.append(f"filter '{kind_filter.parameter}' reads unknown field '{kind_filter.field}'")
        return problems

    def _addressee_problems(self) -> list[str]:
        name = self.audience.field or ""
        found = self.record_model.model_fields.get(name) if "." not in name else None
        if found is None or not found.is_required() or not _is_text(found.annotation):
            # An optional addressee would leave the record without audience: served to every peer.
            return [f"the audience field '{name}' must be a required text field of {self.record_model.__name__}"]
        return []


def _is_text(annotation: Any) -> bool:
    return annotation is str or (
        typing.get_origin(annotation) is typing.Annotated and typing.get_args(annotation)[0] is str
    )


def field_type(model: type[BaseModel], path: str) -> Any:
    """The annotation of `path` (dotted) in `model`, optional types unwrapped; None if there is no such field."""
    if not _FIELD_PATH.match(path):
        return None
    annotation: Any = model
    for part in path.split("."):
        annotation = _unwrap(annotation)
        fields = getattr(annotation, "model_fields", None) if isinstance(annotation, type) else None
        if not fields or part not in fields:
            return None
        annotation = fields[part].annotation
    return _unwrap(annotation)


def _unwrap(annotation: Any) -> Any:
    """`X | None` → X; `Annotated[X, …]` → X."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            others = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(others) != 1:
                return annotation
            annotation = others[0]
        else:
            return annotation


def is_date_field(model: type[BaseModel], path: str) -> bool:
    kind = field_type(model, path)
    return isinstance(kind, type) and issubclass(kind, dt.date)


@dataclass(frozen=True, eq=False)
class RecordKinds(Mapping[str, RecordKind]):
    """The record kinds a node knows, by name: what the registry holds once every plugin has registered.

    Immutable and hashable, so that what derives from it (the wire models, the feed's visibility, the rows'
    columns) is built once per set of kinds and cached.
    """

    kinds: tuple[RecordKind, ...] = field(default=())

    @classmethod
    def of(cls, kinds: Iterable[RecordKind]) -> RecordKinds:
        """The kinds in the order they were registered (the core's first), which the wire models follow."""
        return cls(tuple(kinds))

    @functools.cached_property
    def _by_name(self) -> dict[str, RecordKind]:
        return {kind.name: kind for kind in self.kinds}

    def __getitem__(self, name: str) -> RecordKind:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self.kinds)

    def __hash__(self) -> int:
        return self._hash

    @functools.cached_property
    def _hash(self) -> int:
        # Once: hashing every declaration's fields again on each feed request or page would cost for nothing.
        return hash(self.kinds)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecordKinds) and other.kinds == self.kinds

    def with_collection(self) -> list[RecordKind]:
        """The kinds served as API collections (/api/v1/<collection>), profiles aside."""
        return [kind for kind in self.kinds if kind.collection is not None and not kind.one_per_origin]

    def by_audience(self, scope: str) -> tuple[str, ...]:
        """Names of the kinds of this audience scope, sorted."""
        return tuple(kind.name for kind in self.kinds if kind.audience.scope == scope)
