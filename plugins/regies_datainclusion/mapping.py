"""How a régie's profile and activities read as data·inclusion v1 structures and services, and why some cannot."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation.plugin_api import ServiceType, commune

VOCABULARY = "datainclusion"
# What a service type may declare in `open_data_terms` under "datainclusion.<field>" (docs/open-data.md).
TERM_FIELDS = ("thematiques", "type", "publics", "frais", "modes_accueil", "reseau_porteur_field")
_SINGLE_TERMS = ("type", "frais")
# data·inclusion's bounds on names and descriptions (its v1 models: `nom` 3–150, `description` 5–10000 characters).
NAME_LENGTH = (3, 150)
DESCRIPTION_LENGTH = (5, 10_000)
# An activity in one of these states is not offered now: it is listed as left out, with its status.
_NOT_OFFERED = ("ended", "suspended")
_WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


@dataclass(frozen=True)
class Vocabulary:
    """The fields of data·inclusion's v1 models and the values of its enums, as the plugin ships them
    (vocabulary.json, taken from the `data-inclusion-schema` package; a test keeps them equal)."""

    structure_fields: tuple[str, ...]
    service_fields: tuple[str, ...]
    values: Mapping[str, frozenset[str]]

    @classmethod
    def load(cls) -> Vocabulary:
        data = json.loads((Path(__file__).parent / "vocabulary.json").read_text(encoding="utf-8"))
        enums = ("thematiques", "type", "publics", "frais", "modes_accueil", "reseaux_porteurs")
        return cls(
            tuple(data["structure_fields"]),
            tuple(data["service_fields"]),
            {name: frozenset(data[name]) for name in enums},
        )

    def problems(self, service_type: ServiceType) -> list[str]:
        """What is wrong with `service_type`'s data·inclusion terms (unknown field or value, several where the
        schema takes one)."""
        problems = []
        for name, values in service_type.terms(VOCABULARY).items():
            if name not in TERM_FIELDS:
                problems.append(f"unknown field '{VOCABULARY}.{name}' (known: {', '.join(TERM_FIELDS)})")
                continue
            if name in _SINGLE_TERMS and len(values) > 1:
                problems.append(f"'{VOCABULARY}.{name}' takes one value, not {len(values)}")
            known = self.values.get(name)
            unknown = sorted(set(values) - known) if known is not None else []
            if unknown:
                problems.append(f"'{VOCABULARY}.{name}' has values data·inclusion does not know: {', '.join(unknown)}")
        publics = service_type.terms(VOCABULARY).get("publics", ())
        if "tous-publics" in publics and len(publics) > 1:
            problems.append(f"'{VOCABULARY}.publics': 'tous-publics' cannot be combined with other publics")
        return problems


@dataclass(frozen=True)
class Left:
    """A structure or service that is not published, and why."""

    kind: str
    origin: str
    id: str
    name: str
    reasons: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "origin": self.origin,
            "id": self.id,
            "name": self.name,
            "reasons": list(self.reasons),
        }


def _date_maj(record: Mapping[str, Any]) -> str:
    return dt.datetime.fromisoformat(record["updated_at"]).astimezone(dt.UTC).date().isoformat()


def _length_problem(what: str, text: str, bounds: tuple[int, int]) -> str | None:
    low, high = bounds
    if len(text) < low:
        return f"{what} has {len(text)} characters; data·inclusion needs at least {low}"
    if len(text) > high:
        return f"{what} has {len(text)} characters; data·inclusion takes at most {high}"
    return None


def _within(text: str | None, bounds: tuple[int, int]) -> str | None:
    """Optional text kept only within data·inclusion's bounds (an optional field is left out rather than the
    whole record)."""
    return text if text and bounds[0] <= len(text) <= bounds[1] else None


def _commune_fields(code: str | None, postal_code: str | None = None) -> dict[str, Any]:
    if not code:
        return {}
    found = commune(code)
    if found is not None and postal_code is None and len(found.postal_codes) == 1:
        postal_code = found.postal_codes[0]
    return {"code_insee": code, "commune": found.name if found else None, "code_postal": postal_code}


def structure_id(source: str, origin: str) -> str:
    return f"{source}--{origin}"


def networks_declared(
    activities: Iterable[Mapping[str, Any]], service_types: Mapping[str, ServiceType], known: frozenset[str]
) -> set[str]:
    """The réseaux porteurs a régie declares through its running activities: a service type names the details
    field holding one (`datainclusion.reseau_porteur_field`, e.g. the insertion contracts' `structure`, ACI or EI)."""
    found = set()
    for activity in activities:
        service_type = service_types.get(activity.get("service_type", ""))
        if service_type is None or activity.get("status") in _NOT_OFFERED:
            continue
        for field_name in service_type.terms(VOCABULARY).get("reseau_porteur_field", ()):
            value = str((activity.get("details") or {}).get(field_name) or "").lower()
            if value in known:
                found.add(value)
    return found


def structure(
    profile: Mapping[str, Any], source: str, page_url: str | None, networks: Iterable[str]
) -> dict[str, Any] | Left:
    """The régie's profile as a data·inclusion structure, or why it cannot be one."""
    name = profile.get("name", "")
    problem = _length_problem("the régie's name", name, NAME_LENGTH)
    if problem:
        return Left("structure", profile["origin"], structure_id(source, profile["origin"]), name, (problem,))
    address = profile.get("address") or {}
    contact = profile.get("contact") or {}
    location = profile.get("location") or {}
    fields: dict[str, Any] = {
        "source": source,
        "id": structure_id(source, profile["origin"]),
        "nom": name,
        "date_maj": _date_maj(profile),
        "description": _within(profile.get("description"), DESCRIPTION_LENGTH),
        "lien_source": page_url,
        "siret": profile.get("siret"),
        **_commune_fields(profile.get("commune"), address.get("postal_code")),
        "adresse": address.get("street"),
        "longitude": location.get("lon"),
        "latitude": location.get("lat"),
        "telephone": contact.get("phone"),
        "courriel": contact.get("email"),
        "site_web": profile.get("website"),
        "reseaux_porteurs": sorted(networks) or None,
    }
    return {key: value for key, value in fields.items() if value is not None}


def _place_fields(activity: Mapping[str, Any], profile: Mapping[str, Any]) -> dict[str, Any]:
    """Where the service is: the activity's place, or the régie's address when the activity names no commune."""
    place = activity.get("place") or {}
    point = place.get("point") or {}
    position = {"longitude": point.get("lon"), "latitude": point.get("lat")}
    if place.get("commune"):
        fields = _commune_fields(place["commune"])
        if place["commune"] == profile.get("commune"):
            fields["code_postal"] = (profile.get("address") or {}).get("postal_code") or fields.get("code_postal")
        return {**fields, "adresse": place.get("address"), **position}
    address = profile.get("address") or {}
    return {
        **_commune_fields(profile.get("commune"), address.get("postal_code")),
        "adresse": place.get("address") or address.get("street"),
        **position,
    }


def _zone(activity: Mapping[str, Any], profile: Mapping[str, Any]) -> list[str] | None:
    """Who may use the service, as COG codes: the activity's commune, else its department, else the régie's
    commune (régies serve their neighbourhoods; the schema has no code for a QPV)."""
    place = activity.get("place") or {}
    for code in (place.get("commune"), place.get("department"), profile.get("commune")):
        if code:
            return [code]
    return None


def opening_hours(slots: Iterable[Mapping[str, Any]]) -> str | None:
    """Weekly slots (ISO weekday 1–7, local "HH:MM[:SS]" start and end) in the OpenStreetMap opening_hours
    syntax data·inclusion uses: "Mo-Fr 09:00-12:00,14:00-17:00; Sa 09:00-12:00"."""
    by_day: dict[int, list[str]] = {}
    for slot in sorted(slots, key=lambda slot: (slot["weekday"], slot["start"])):
        by_day.setdefault(int(slot["weekday"]), []).append(f"{str(slot['start'])[:5]}-{str(slot['end'])[:5]}")
    rules: list[str] = []
    days = sorted(by_day)
    index = 0
    while index < len(days):
        first = last = days[index]
        while index + 1 < len(days) and days[index + 1] == last + 1 and by_day[days[index + 1]] == by_day[first]:
            index += 1
            last = days[index]
        span = _WEEKDAYS[first - 1] if first == last else f"{_WEEKDAYS[first - 1]}-{_WEEKDAYS[last - 1]}"
        rules.append(f"{span} {','.join(by_day[first])}")
        index += 1
    return "; ".join(rules) or None


def service(
    activity: Mapping[str, Any],
    profile: Mapping[str, Any] | None,
    service_type: ServiceType | None,
    source: str,
    structure_published: bool,
) -> dict[str, Any] | Left:
    """An activity as a data·inclusion service, or every reason it cannot be one."""
    origin, title = activity["origin"], activity.get("title", "")
    reasons = []
    if profile is None or not structure_published:
        reasons.append("the régie's own structure is not published (see its entry in this list)")
    if service_type is None:
        reasons.append(f"service type '{activity.get('service_type')}' is not known to this node")
    elif not service_type.terms(VOCABULARY).get("thematiques"):
        reasons.append(
            f"service type '{service_type.key}' ({service_type.label_fr}) declares no data·inclusion thematiques: "
            "it is not a service people are directed to"
        )
    if activity.get("status") in _NOT_OFFERED:
        reasons.append(f"status is '{activity['status']}': the service is not offered now")
    for problem in (
        _length_problem("the title", title, NAME_LENGTH),
        _length_problem("the description", activity.get("description", ""), DESCRIPTION_LENGTH),
    ):
        if problem:
            reasons.append(problem)
    if reasons or profile is None or service_type is None:
        return Left("service", origin, f"{source}--{origin}--{activity['id']}", title, tuple(reasons))
    terms = service_type.terms(VOCABULARY)
    contact = profile.get("contact") or {}
    slots = (activity.get("availability") or {}).get("slots") or ()
    fields: dict[str, Any] = {
        "source": source,
        "structure_id": structure_id(source, origin),
        "id": f"{source}--{origin}--{activity['id']}",
        "nom": title,
        "description": activity["description"],
        "date_maj": _date_maj(activity),
        "type": next(iter(terms.get("type", ())), None),
        "thematiques": sorted(terms["thematiques"]),
        "frais": next(iter(terms.get("frais", ())), None),
        "publics": sorted(terms.get("publics", ())) or None,
        **_place_fields(activity, profile),
        "telephone": contact.get("phone"),
        "courriel": contact.get("email"),
        "contact_nom_prenom": contact.get("person"),
        "modes_accueil": sorted(terms.get("modes_accueil", ())) or None,
        "zone_eligibilite": _zone(activity, profile),
        "horaires_accueil": opening_hours(slots),
    }
    return {key: value for key, value in fields.items() if value is not None}
