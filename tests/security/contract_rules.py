"""What the API fuzzer must be taught: formats and cross-field rules that the contract states but JSON Schema cannot.

Only bodies and queries generated as *valid* are adjusted, and only so that they obey a rule the OpenAPI
document states in prose (end after start, a survey period's last year after its first…); invalid inputs
are left as generated.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from federation.plugins import build_plugins
from federation.protocol.persistence import encode_feed_cursor
from federation.schema.geo import DEPARTMENTS, arrondissements_of, communes_in_department, department_code_for_commune
from federation.schema.identifiers import INSEE_COMMUNE_FORMAT, QPV_FORMAT, luhn_ok
from federation.semantics import semantics_of

CITIES_WITH_ARRONDISSEMENTS = ("75056", "69123", "13055")


def _with_luhn_key(stem: str) -> str:
    return next(stem + key for key in "0123456789" if luhn_ok(stem + key))


def _sampled_communes() -> list[str]:
    """A few hundred codes of the shipped list, the same every run: each department's first, middle and last
    commune, and the municipal arrondissements of Paris, Lyon and Marseille."""
    codes: list[str] = []
    for department in sorted(DEPARTMENTS):
        communes = communes_in_department(department)
        codes.extend(
            dict.fromkeys(item.code for item in (communes[:1] + communes[len(communes) // 2 :][:1] + communes[-1:]))
        )
    for city in CITIES_WITH_ARRONDISSEMENTS:
        codes.extend(arrondissements_of(city))
    return codes


def _qpv_department_characters(department: str) -> str:
    """Characters 3–5 of a QPV code of this department: "075" for Paris, "02A" for Corse-du-Sud, "971"."""
    return department.rjust(3, "0")


def _in_department(code: str, department: str) -> str:
    """The QPV code moved into a department; a 2015 code (digits only) of Corsica becomes a 2024 one."""
    characters = _qpv_department_characters(department)
    if code.startswith("QP") and not characters.isdigit():
        return f"QN{characters}{code[5:7]}A"
    return code[:2] + characters + code[5:]


def register_formats() -> None:
    """SIREN and SIRET carry a Luhn key; a SIRET starts with a valid SIREN; feed cursors are the feed's own;
    communes exist in the shipped list and QPV codes name one of its departments."""
    schemathesis.openapi.format(INSEE_COMMUNE_FORMAT, st.sampled_from(_sampled_communes()))
    departments = sorted(DEPARTMENTS)
    schemathesis.openapi.format(
        QPV_FORMAT,
        st.one_of(
            st.tuples(st.sampled_from(departments), st.from_regex(r"\AQP[0-9]{6}\Z")),
            st.tuples(st.sampled_from(departments), st.from_regex(r"\AQN[0-9A-Z]{5}[A-Z]\Z")),
        ).map(lambda drawn: _in_department(drawn[1], drawn[0])),
    )
    schemathesis.openapi.format("regies-feed-cursor", st.integers(0, 10**18 - 1).map(encode_feed_cursor))
    # Addresses on real domains: the server, like any mail system, refuses special-use names (.test, .local…).
    schemathesis.openapi.format("email", st.emails())
    schemathesis.openapi.format("siren", st.from_regex(r"\A[0-9]{8}\Z").map(_with_luhn_key))
    schemathesis.openapi.format(
        "siret",
        st.tuples(st.from_regex(r"\A[0-9]{8}\Z"), st.from_regex(r"\A[0-9]{4}\Z")).map(
            lambda parts: _with_luhn_key(_with_luhn_key(parts[0]) + parts[1])
        ),
    )


def _ordered_times(body: dict[str, Any], start: str, end: str, max_days: int = 366) -> None:
    """A loan's times: the end after the start, at most `max_days` apart (the lending plugin's contract, in prose)."""
    try:
        first, last = dt.datetime.fromisoformat(body[start]), dt.datetime.fromisoformat(body[end])
        if first.tzinfo is None or last.tzinfo is None:
            first, last = first.replace(tzinfo=dt.UTC), last.replace(tzinfo=dt.UTC)
        if dt.timedelta(0) < last - first <= dt.timedelta(days=max_days):
            return
    except (TypeError, ValueError, OverflowError):
        pass
    body[start], body[end] = "2026-06-15T09:00:00+02:00", "2026-06-15T17:00:00+02:00"


def _keep_lending_rules(body: dict[str, Any]) -> None:
    """Loan requests and decisions (plugins/regies_lending): the addressee is derived from the resource or the
    request, a request's contact can be reached, a counter-proposal gives both dates and only a decline has one."""
    if isinstance(body.get("resource"), dict) and "start" in body and "end" in body:
        body["lender"] = body["resource"].get("origin")
        _ordered_times(body, "start", "end")
        contact = body.get("contact")
        if isinstance(contact, dict) and not contact.get("email") and not contact.get("phone"):
            contact["email"] = "pret@regie-exemple.fr"
    if isinstance(body.get("request"), dict) and "decision" in body:
        body["borrower"] = body["request"].get("origin")
    if "proposed_start" in body or "proposed_end" in body:
        if body.get("decision") == "accepted" or not (body.get("proposed_start") and body.get("proposed_end")):
            body["proposed_start"] = body["proposed_end"] = None
        else:
            _ordered_times(body, "proposed_start", "proposed_end", max_days=10**5)


def _keep_body_rules(body: Any) -> None:
    if not isinstance(body, dict):
        return
    _keep_lending_rules(body)
    if body.get("start_date") and body.get("end_date") and body["end_date"] < body["start_date"]:
        body["start_date"], body["end_date"] = body["end_date"], body["start_date"]
    for derived in (body, body.get("place")):
        if isinstance(derived, dict):
            for key in ("department", "region"):  # derived from the commune: only the derived value is accepted
                derived.pop(key, None)
            _keep_qpv_rules(derived)
    period = body.get("period")
    if isinstance(period, dict):
        period["key"] = None
        kind = period.get("type")
        if kind == "year":
            period.update(quarter=None, end_year=None)
        elif kind == "quarter":
            period.update(quarter=period.get("quarter") or 1, end_year=None)
        elif kind == "survey":
            period["year"] = min(period["year"], 2099)
            period.update(quarter=None, end_year=max(period.get("end_year") or 0, period["year"] + 1))
    if body.get("state") == "submitted" and isinstance(period, dict):
        # Submitting needs a period that is over and figures that pass the report's validation rules (stated in
        # prose, docs/api.md "Validation rules at submission"): generated reports stay drafts.
        body["state"] = "draft"
    if body.get("status") == "labellisee" and not body.get("since"):
        body["since"] = "2024-01-01"  # a granted label says since when (the hub's contract, in prose)
    if isinstance(body.get("since"), str) and isinstance(body.get("until"), str) and body["until"] < body["since"]:
        body["since"], body["until"] = body["until"], body["since"]  # a label ends after it starts
    for slot in (body.get("availability") or {}).get("slots") or []:
        if dt.time.fromisoformat(slot["end"]) <= dt.time.fromisoformat(slot["start"]):
            slot["start"], slot["end"] = "08:00:00", "18:00:00"
    if body.get("siret") and body.get("siren"):
        body["siren"] = None  # derived from the SIRET
    indicators = body.get("indicators")
    if isinstance(indicators, dict):  # a report's values have at most their indicator's `x-regies-decimals`
        decimals = _indicator_decimals()
        for key, value in indicators.items():
            if _is_number(value) and key in decimals:
                indicators[key] = round(value, decimals[key])
    details = body.get("details")
    if isinstance(details, dict):
        if any(key.startswith("exits_") for key in details):
            # Insertion contracts: the total of exits is computed from the split, and bounded by the employees.
            details["exits_to_employment"] = None
            details["employees_cddi"] = None
        for total, parts in (
            ("learners", ("code_passed", "licences_obtained", "learners_autonomous")),
            ("trainees", ("certificates_obtained",)),
            ("rentals", ("bikes_lent", "people_served")),
        ):
            if _is_number(details.get(total)):  # results never exceed the people concerned
                for part in parts:
                    if _is_number(details.get(part)):
                        details[part] = min(details[part], details[total])


@functools.cache
def _indicator_decimals() -> dict[str, int]:
    """Each indicator's decimals, as the fuzzed node (built-in plugins) registers them."""
    return {key: semantics_of(indicator).decimals for key, indicator in build_plugins().registry.indicators.items()}


@functools.cache
def _exported_collections() -> dict[str, frozenset[str]]:
    """Per export format that declares its kinds (`Exporter.kinds`, as the fuzzed node's built-in plugins register
    them), the API collections of those kinds; a format not named here carries every kind."""
    registry = build_plugins().registry
    declared = registry.record_kinds
    return {
        fmt: frozenset(collection for kind in exporter.kinds if (collection := declared[kind].collection) is not None)
        for fmt, exporter in registry.exporters.items()
        if exporter.kinds
    }


def _collections_exported_as(fmt: object) -> frozenset[str] | None:
    """The API collections export format `fmt` carries; None for every one (or a format no exporter registers)."""
    return _exported_collections().get(fmt) if isinstance(fmt, str) else None


def _keep_qpv_rules(place: dict[str, Any]) -> None:
    """QPV codes of a place with a commune are in the commune's department, and each is listed once."""
    codes = place.get("qpv")
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        return
    commune = place.get("commune")
    if isinstance(commune, str):
        department = department_code_for_commune(commune)
        codes = [_in_department(code, department) for code in codes]
    place["qpv"] = list(dict.fromkeys(codes))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _keep_signed_body_rules(body: Any, signer: Any) -> None:
    """What a signed body says about its sender: a batch holds the signer's own records, each payload repeating
    its envelope; a join request carries the signing key and the signer's own profile."""
    if not isinstance(body, dict):
        return
    if isinstance(body.get("records"), list):
        body["origin"] = signer.node_id
        seen = set()
        kept = []
        for envelope in body["records"]:
            if envelope["id"] in seen:
                continue
            seen.add(envelope["id"])
            envelope["origin"] = signer.node_id
            payload = envelope.get("payload")
            if envelope.get("deleted"):
                envelope["payload"] = None
            elif isinstance(payload, dict):
                _keep_body_rules(payload)
                payload.update({key: envelope[key] for key in ("origin", "id", "version", "updated_at")})
                payload["deleted"] = False
            else:
                continue  # a live record needs its payload
            kept.append(envelope)
        body["records"] = kept
    if isinstance(body.get("discovery"), dict) and isinstance(body.get("profile"), dict):
        # The base URL must be one the hub would contact: https to a public address (docs/protocol.md §4).
        body["discovery"].update(node_id=signer.node_id, keys=[signer.jwk()], base_url="https://regie.example.org")
        _keep_body_rules(body["profile"])
        body["profile"]["origin"] = signer.node_id


def _keep_query_rules(query: dict[str, Any]) -> None:
    """The hub's tables: a regional table names its region, a departmental one its department."""
    if query.get("level") == "regional" and not query.get("region"):
        query["region"] = "11"
    if query.get("level") == "departmental" and not query.get("department"):
        query["department"] = "75"
    period = query.get("period")
    if isinstance(period, str) and len(period) == 9 and period[4] == "-" and period[5:] <= period[:4]:
        first = min(int(period[:4]), 2099)
        query["period"] = f"{first}-{first + 1}"


def _keep_hsds_rules(query: dict[str, Any]) -> None:
    """HSDA's listings (the parameters' descriptions): NDJSON has no pages, and `minimal` is not `full`."""
    if query.get("format") == "ndjson":
        query.pop("page", None)
        query.pop("per_page", None)
    if query.get("minimal") in (True, "true"):
        query.pop("full", None)


def keep_contract_rules(case: schemathesis.Case, signer: Any) -> None:
    """Adjust a case generated as valid so that it also obeys the rules stated in prose; `signer` (a
    PeerSigner) is who signs the request if the operation takes a signature."""
    if case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE:
        _keep_body_rules(case.body)
        _keep_signed_body_rules(case.body, signer)
        if isinstance(case.query, dict):
            _keep_query_rules(case.query)
            # A format exports only the kinds its exporter declares (GeoJSON: those with a place), as its
            # description says: another collection is asked for in JSON, which exports every kind.
            collection = (case.path_parameters or {}).get("collection")
            carried = _collections_exported_as(case.query.get("format"))
            if collection is not None and carried is not None and collection not in carried:
                case.query["format"] = "json"
            if case.path.startswith("/hsds/"):
                _keep_hsds_rules(case.query)
