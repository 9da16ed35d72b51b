"""How régies' records become HSDS 3.0 objects: a régie is an organization, its activities and shared resources
are services (docs/open-data.md, "HSDS 3.0", has the table)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from federation.plugin_api import DEPARTMENTS, ServiceType, commune

from .taxonomy import (
    Term,
    at_location_id,
    category_term,
    hsds_id,
    organization_id,
    resource_kind_term,
    service_id,
    service_type_term,
)

# An activity's status in HSDS words: a planned activity does not run yet, a suspended one will again.
ACTIVITY_STATUS = {"planned": "inactive", "active": "active", "suspended": "temporarily closed", "ended": "defunct"}
RESOURCE_STATUS = {"available": "active", "unavailable": "temporarily closed", "retired": "defunct"}
BORROWER_LABELS = {
    "inhabitants": "habitants",
    "associations": "associations",
    "regies": "autres régies",
    "local_authorities": "collectivités",
    "social_landlords": "bailleurs sociaux",
    "businesses": "entreprises",
}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
LOCAL_TIME_NOTE = "Heures locales (Europe/Paris)."


@dataclass(frozen=True)
class Origin:
    """A régie as the mapping needs it: its node id, its profile record (empty if none) and its node's address."""

    node_id: str
    profile: Mapping[str, Any] = field(default_factory=dict)
    base_url: str | None = None

    @property
    def organization_id(self) -> str:
        return organization_id(self.node_id)


def prune(document: dict[str, Any]) -> dict[str, Any]:
    """Without the members that carry nothing: HSDS leaves optional fields out rather than null."""
    return {key: value for key, value in document.items() if value not in (None, "", [])}


def _timestamp(value: str) -> str:
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def organization(origin: Origin) -> dict[str, Any]:
    """The organization's one-to-one fields (what lists and a service's `organization` carry)."""
    profile = origin.profile
    contact = profile.get("contact") or {}
    kind = "Régie de Territoire" if profile.get("kind") == "territoire" else "Régie de Quartier"
    return prune(
        {
            "id": origin.organization_id,
            "name": profile.get("name") or origin.node_id,
            "alternate_name": origin.node_id,
            # `description` is required: a profile without one is described by what it is.
            "description": profile.get("description") or f"{kind}, association loi 1901.",
            "email": contact.get("email"),
            "website": profile.get("website"),
            "tax_id": profile.get("siret") or profile.get("siren"),
            "legal_status": "Association loi 1901",
            "uri": origin.base_url,
        }
    )


def organization_full(origin: Origin) -> dict[str, Any]:
    """The organization with its identifiers, contact, phone and head office."""
    document = organization(origin)
    org_id = origin.organization_id
    identifiers = [
        {
            "id": hsds_id(origin.node_id, "identifier", scheme),
            "organization_id": org_id,
            "identifier_type": scheme.upper(),
            "identifier": value,
        }
        for scheme in ("siret", "siren", "rna")
        if (value := origin.profile.get(scheme))
    ]
    location = head_office(origin)
    return {
        **document,
        "organization_identifiers": identifiers,
        "contacts": _contacts(origin.profile.get("contact"), origin.node_id, "organization", organization_id=org_id),
        "phones": _phones(origin.profile.get("contact"), origin.node_id, "organization", organization_id=org_id),
        "locations": [location] if location else [],
    }


def _contacts(contact: Mapping[str, Any] | None, *key: str, **links: str) -> list[dict[str, Any]]:
    if not contact or not (contact.get("person") or contact.get("email")):
        return []
    contact_id = hsds_id(*key, "contact")
    return [
        prune(
            {
                "id": contact_id,
                **links,
                "name": contact.get("person"),
                "email": contact.get("email"),
                "phones": _phones(contact, *key, "contact", contact_id=contact_id),
            }
        )
    ]


def _phones(contact: Mapping[str, Any] | None, *key: str, **links: str) -> list[dict[str, Any]]:
    if not contact or not contact.get("phone"):
        return []
    return [{"id": hsds_id(*key, "phone"), **links, "number": contact["phone"]}]


def _address(
    location_id: str, street: str | None, commune_code: str | None, postal_code: str | None, city: str | None
) -> list[dict[str, Any]]:
    """The postal address when every field HSDS requires is known (a commune with one postal code gives it)."""
    known = commune(commune_code) if commune_code else None
    if known is not None:
        city = city or known.name
        postal_code = postal_code or (known.postal_codes[0] if len(known.postal_codes) == 1 else None)
    if not (street and city and postal_code and known):
        return []
    return [
        {
            "id": hsds_id(location_id, "address"),
            "location_id": location_id,
            "address_1": street,
            "city": city,
            "state_province": DEPARTMENTS[known.department_code].name,
            "postal_code": postal_code,
            "country": "FR",
            "address_type": "physical",
        }
    ]


def head_office(origin: Origin) -> dict[str, Any] | None:
    profile = origin.profile
    point, address = profile.get("location") or {}, profile.get("address") or {}
    if not point and not address.get("street"):
        return None
    location_id = hsds_id(origin.node_id, "head-office")
    return prune(
        {
            "id": location_id,
            "location_type": "physical",
            "organization_id": origin.organization_id,
            "name": "Siège",
            "latitude": point.get("lat"),
            "longitude": point.get("lon"),
            "addresses": _address(
                location_id,
                address.get("street"),
                profile.get("commune"),
                address.get("postal_code"),
                address.get("city"),
            ),
        }
    )


def _place_location(origin: Origin, owner_id: str, place: Mapping[str, Any]) -> dict[str, Any] | None:
    point, code = place.get("point") or {}, place.get("commune")
    if not point and not place.get("address") and not code:
        return None
    location_id = hsds_id(owner_id, "location")
    known = commune(code) if code else None
    return prune(
        {
            "id": location_id,
            "location_type": "physical",
            "organization_id": origin.organization_id,
            "name": place.get("address") or (known.name if known else code),
            "latitude": point.get("lat"),
            "longitude": point.get("lon"),
            "addresses": _address(location_id, place.get("address"), code, None, None),
        }
    )


def service_location(origin: Origin, owner_id: str, place: Mapping[str, Any]) -> dict[str, Any] | None:
    """Where a service is given: its place, else the régie's head office (None when neither is known)."""
    return _place_location(origin, owner_id, place) or head_office(origin)


def _service_areas(owner_id: str, place: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The commune and the priority neighbourhoods (QPV) a service is for, named by their official codes."""
    areas = []
    code = place.get("commune")
    if code:
        known = commune(code)
        areas.append(
            {
                "id": hsds_id(owner_id, "area", code),
                "service_id": owner_id,
                "name": known.label() if known else code,
                "description": f"Commune (code INSEE {code})",
            }
        )
    for qpv in place.get("qpv") or []:
        areas.append(
            {
                "id": hsds_id(owner_id, "area", qpv),
                "service_id": owner_id,
                "name": qpv,
                "description": f"Quartier prioritaire de la politique de la ville {qpv}",
            }
        )
    return areas


def _attribute(owner_id: str, term: Term) -> dict[str, Any]:
    return {
        "id": hsds_id(owner_id, "attribute", term.id),
        "link_id": owner_id,
        "link_type": "service",
        "link_entity": "service",
        "taxonomy_term_id": term.id,
        "taxonomy_term": term.document(),
    }


def terms_of(kind: str, body: Mapping[str, Any], service_types: Mapping[str, ServiceType]) -> list[Term]:
    if kind == "resource":
        return [resource_kind_term(body["kind"])]
    terms = [category_term(body["category"])]
    known = service_types.get(body.get("service_type", ""))
    if known is not None:  # a service type this node has no plugin for keeps its field of action only
        terms.append(service_type_term(known))
    return terms


def _schedules(owner_id: str, kind: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A resource's weekly slots (one weekly rule each); an activity's dates as the period it runs."""
    if kind == "resource":
        availability = body.get("availability") or {}
        note = availability.get("note")
        return [
            prune(
                {
                    "id": hsds_id(owner_id, "schedule", str(index)),
                    "service_id": owner_id,
                    "freq": "WEEKLY",
                    "wkst": "MO",
                    "byday": WEEKDAYS[slot["weekday"] - 1],
                    "opens_at": slot["start"][:5],
                    "closes_at": slot["end"][:5],
                    "description": note,
                    "notes": LOCAL_TIME_NOTE,
                    "attending_type": "in_person",
                }
            )
            for index, slot in enumerate(availability.get("slots") or [])
        ]
    if not body.get("start_date") and not body.get("end_date"):
        return []
    return [
        prune(
            {
                "id": hsds_id(owner_id, "schedule", "dates"),
                "service_id": owner_id,
                "valid_from": body.get("start_date"),
                "valid_to": body.get("end_date"),
                "dtstart": body.get("start_date"),
                "description": "Période de l'activité",
            }
        )
    ]


def service(
    origin: Origin, kind: str, body: Mapping[str, Any], service_types: Mapping[str, ServiceType], *, full: bool
) -> dict[str, Any]:
    """An activity or a shared resource as an HSDS service: its one-to-one fields and its organization, and with
    `full` every related object (locations, schedules, service areas, contacts, taxonomy attributes)."""
    owner_id = service_id(origin.node_id, kind, body["id"])
    if kind == "resource":
        borrowers = ", ".join(BORROWER_LABELS.get(b, b) for b in body.get("borrowers") or [])
        one_to_one = {
            "name": body["name"],
            "description": body.get("description"),
            "status": RESOURCE_STATUS.get(body.get("status", ""), "active"),
            "email": (body.get("contact") or {}).get("email"),
            "fees_description": body.get("conditions"),
            "eligibility_description": f"Prêt ouvert aux : {borrowers}." if borrowers else None,
        }
        contact = body.get("contact") or origin.profile.get("contact")
    else:
        one_to_one = {
            "name": body["title"],
            "description": body.get("description"),
            "status": ACTIVITY_STATUS.get(body.get("status", ""), "active"),
        }
        contact = origin.profile.get("contact")
    document = prune(
        {
            "id": owner_id,
            "organization_id": origin.organization_id,
            **one_to_one,
            "last_modified": _timestamp(body["updated_at"]),
            "organization": organization(origin),
        }
    )
    if not full:
        return document
    place = body.get("place") or {}
    location = service_location(origin, owner_id, place)
    at_locations = []
    if location is not None:
        at_locations.append(
            {
                "id": at_location_id(owner_id, location["id"]),
                "service_id": owner_id,
                "location_id": location["id"],
                "location": location,
            }
        )
    return {
        **document,
        "organization": organization_full(origin),
        "service_at_locations": at_locations,
        "schedules": _schedules(owner_id, kind, body),
        "service_areas": _service_areas(owner_id, place),
        "contacts": _contacts(contact, owner_id, service_id=owner_id),
        "phones": _phones(contact, owner_id, service_id=owner_id),
        "languages": [
            {"id": hsds_id(owner_id, "language", "fr"), "service_id": owner_id, "name": "Français", "code": "fr"}
        ],
        "attributes": [_attribute(owner_id, term) for term in terms_of(kind, body, service_types)],
    }
