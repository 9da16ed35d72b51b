"""The régies' taxonomies in HSDS terms: fields of action, service types and kinds of shared resource, with the
stable UUIDs every HSDS object of this profile takes (the same on a régie's node and on the hub)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from federation.plugin_api import Category, ServiceType
from federation.plugin_api.web import category_label

# Every id of the profile is a version 5 UUID in this namespace: HSDS wants UUIDs, a record's identity is its
# (origin, id) pair (two origins may use one id), and the same record must keep its HSDS id wherever it is read.
NAMESPACE = uuid.UUID("5d0c8a43-8f51-4c1e-9d0e-7a1f0b6c2e91")


def hsds_id(*parts: str) -> str:
    """The UUID of the HSDS object named by `parts`, e.g. ("rq-lilas", "activity", record id)."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def organization_id(origin: str) -> str:
    return hsds_id(origin, "organization")


# Remembered: finding a service by its HSDS id derives the id of every published service (SHA-1 each); a hub's
# few thousand services then cost dictionary lookups rather than hashes (as the schema's commune checks do).
@lru_cache(maxsize=65536)
def service_id(origin: str, kind: str, record_id: str) -> str:
    return hsds_id(origin, kind, record_id)


def at_location_id(service: str, location: str) -> str:
    """The id of a service_at_location: a service at one of its locations."""
    return hsds_id(service, "at", location)


@lru_cache(maxsize=65536)
def at_location_ids(origin: str, kind: str, record_id: str) -> tuple[str, str]:
    """The two ids a service's service_at_location may have: at its own place, or at the régie's head office.
    Remembered like `service_id`, for finding one by its id without reading every document."""
    owner = service_id(origin, kind, record_id)
    return at_location_id(owner, hsds_id(owner, "location")), at_location_id(owner, hsds_id(origin, "head-office"))


@dataclass(frozen=True)
class Taxonomy:
    key: str
    name: str
    description: str

    @property
    def id(self) -> str:
        return hsds_id("taxonomy", self.key)

    def document(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description, "version": "1"}


FIELDS_OF_ACTION = Taxonomy(
    "fields-of-action",
    "Champs d'action des régies",
    "Les huit champs d'action d'une Régie de Quartier ou de Territoire.",
)
SERVICE_TYPES = Taxonomy(
    "service-types",
    "Types de service des régies",
    "Les types de service déclarés par les extensions du nœud, chacun rattaché à son champ d'action.",
)
RESOURCE_KINDS = Taxonomy(
    "resource-kinds",
    "Ressources partagées",
    "Ce qu'une régie prête ou partage : véhicules, salles, outillage, équipements, jardins.",
)
TAXONOMIES = (FIELDS_OF_ACTION, SERVICE_TYPES, RESOURCE_KINDS)

RESOURCE_KIND_LABELS = {
    "vehicle": "Véhicule",
    "room": "Salle",
    "tool": "Outillage",
    "equipment": "Équipement",
    "garden": "Jardin",
    "other": "Autre ressource",
}


@dataclass(frozen=True)
class Term:
    """A taxonomy term and the records it classifies: `column` of the records table equal to `code`."""

    taxonomy: Taxonomy
    code: str
    name: str
    description: str
    column: str
    parent: str | None = None

    @property
    def id(self) -> str:
        return hsds_id("term", self.taxonomy.key, self.code)

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.id,
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "taxonomy_id": self.taxonomy.id,
            "taxonomy": self.taxonomy.name,
            "language": "fr",
        }
        if self.parent is not None:
            document["parent_id"] = self.parent
        return document


def category_term(category: str) -> Term:
    label = category_label(category, "fr")
    return Term(FIELDS_OF_ACTION, category, label, f"Champ d'action « {label} ».", "category")


def service_type_term(service_type: ServiceType) -> Term:
    return Term(
        SERVICE_TYPES,
        service_type.key,
        service_type.label_fr,
        service_type.description or f"Type de service « {service_type.label_fr} ».",
        "service_type",
        parent=category_term(service_type.category).id,
    )


def resource_kind_term(kind: str) -> Term:
    label = RESOURCE_KIND_LABELS[kind]
    return Term(RESOURCE_KINDS, kind, label, f"Ressource partagée : {label.lower()}.", "resource_kind")


def all_terms(service_types: Iterable[ServiceType]) -> list[Term]:
    """Every term: the eight fields of action, the node's service types (each under its field), resource kinds."""
    return [
        *(category_term(category.value) for category in Category),
        *(service_type_term(service_type) for service_type in sorted(service_types, key=lambda s: s.key)),
        *(resource_kind_term(kind) for kind in RESOURCE_KIND_LABELS),
    ]
