"""Validation errors in the user's language, placed next to the form field they concern.

The API's validation answers field errors with a JSON Pointer, a pydantic error code and an English detail;
here each becomes a sentence for régie staff (French by default), attached to its form field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from federation.api.requests import validate_record_data, validate_service_type
from federation.numbers import format_number, parse_number
from federation.plugins import Plugins
from federation.problems import Problem
from federation.schema.records import ActivityData, RecordKind
from federation.web.forms import FormState, field_for_pointer
from federation.web.i18n_request import language, translate
from federation.web.labels import N_

_NUMBER = re.compile(r"(-?[0-9]+(?:\.[0-9]+)?)")

# Pydantic error codes whose message only needs the limit found in the English detail.
_WITH_LIMIT: dict[str, str] = {
    "greater_than_equal": N_("Enter a number greater than or equal to %(limit)s."),
    "greater_than": N_("Enter a number greater than %(limit)s."),
    "less_than_equal": N_("Enter a number less than or equal to %(limit)s."),
    "less_than": N_("Enter a number less than %(limit)s."),
    "string_too_long": N_("Enter at most %(limit)s characters."),
    "too_long": N_("Choose or enter at most %(limit)s items."),
    "too_short": N_("Choose or enter at least %(limit)s items."),
}
_FIXED: dict[str, str] = {
    "missing": N_("This field is required."),
    "string_too_short": N_("This field is required."),
    "int_parsing": N_("Enter a whole number, such as 12."),
    "int_type": N_("Enter a whole number, such as 12."),
    "int_from_float": N_("Enter a whole number, such as 12."),
    "float_parsing": N_("Enter a number, such as 12 or 12,5."),
    "float_type": N_("Enter a number, such as 12 or 12,5."),
    "finite_number": N_("Enter a number, such as 12 or 12,5."),
    "bool_parsing": N_("Choose yes or no."),
    "bool_type": N_("Choose yes or no."),
    "date_parsing": N_("Enter a date, such as 31/01/2026."),
    "date_from_datetime_parsing": N_("Enter a date, such as 31/01/2026."),
    "date_type": N_("Enter a date, such as 31/01/2026."),
    "literal_error": N_("Choose one of the values offered."),
    "enum": N_("Choose one of the values offered."),
    "string_pattern_mismatch": N_("This value does not have the expected format."),
    "extra_forbidden": N_("This field is not expected here."),
    "unknown_service_type": N_("Choose one of the service types offered."),
    "category_mismatch": N_("This service type does not belong to the chosen field of action."),
    "unknown_indicator": N_("This indicator is not known to this node."),
}
# An indicator's plausible bounds and precision (federation/semantics.py); limits written the reader's way.
_INDICATOR_RULES: dict[str, str] = {
    "indicator_bounds": N_("Enter a number between %(minimum)s and %(maximum)s."),
    "indicator_precision": N_("Enter a number with at most %(decimals)s decimals."),
}
# Messages of the schema's own validators (value_error), recognised by how their English detail starts.
_VALUE_ERRORS: tuple[tuple[str, str], ...] = (
    (
        "INSEE commune code",
        N_("Enter an INSEE commune code: 5 digits (2A or 2B then 3 digits in Corsica), e.g. 93066."),
    ),
    (
        "QPV code",
        N_("Enter QPV codes: QP and 6 digits (2015 list) or QN, 5 letters or digits and a letter (2024 list)."),
    ),
    ("SIRET", N_("Enter a SIRET: 14 digits with a valid check key.")),
    ("SIREN", N_("Enter a SIREN: 9 digits with a valid check key.")),
    ("phone number", N_("Enter a phone number: 6 to 20 digits, spaces, dots or dashes.")),
    ("value is not a valid email address", N_("Enter a valid email address, such as contact@regie.fr.")),
    ("end_date must not be before start_date", N_("The end date cannot be before the start date.")),
    ("each value may appear only once", N_("Each value may appear only once.")),
    ("end must be after start", N_("The end time must be after the start time.")),
)
# Errors about the whole record that belong next to one field.
_FIELD_OF_MESSAGE = {"end_date must not be before start_date": "end_date"}


def explain(request: web.Request, error: dict[str, str]) -> str:
    """One API field error as a sentence in the request's language."""
    code, detail = error.get("code", ""), error.get("detail", "")
    if code == "plugin_rule":
        return detail  # a plugin's own rule, in the words its author chose
    if code in _INDICATOR_RULES:
        lang = language(request)
        limits = {
            name: format_number(parse_number(error.get(name, "")), decimals=6, lang=lang)
            for name in ("minimum", "maximum")
        }
        decimals = int(error.get("decimals") or 0)
        if code == "indicator_precision" and decimals == 0:
            return translate(request, "Enter a whole number, such as 12.")
        return translate(request, _INDICATOR_RULES[code]) % {**limits, "decimals": decimals}
    if code in _WITH_LIMIT:
        numbers = _NUMBER.findall(detail)
        limit = numbers[-1] if numbers else "?"
        if limit.endswith(".0"):
            limit = limit[:-2]
        return translate(request, _WITH_LIMIT[code]) % {"limit": limit}
    if code in _FIXED:
        return translate(request, _FIXED[code])
    for start, message in _VALUE_ERRORS:
        if detail.startswith(start) or start in detail:
            return translate(request, message)
    return translate(request, "This value is not valid: %(detail)s") % {"detail": detail}


def add_problem(
    request: web.Request, state: FormState, problem: Problem, field_of: Callable[[str], str | None] | None = None
) -> None:
    """Put a refused write's errors next to their fields (or at the top of the form when no field fits)."""
    if problem.status == 412:
        state.form_errors.append(
            translate(request, "Someone else changed this record meanwhile: reload the page to see their changes.")
        )
        return
    if not problem.errors:
        state.form_errors.append(problem.detail)
        return
    for error in problem.errors:
        name = _FIELD_OF_MESSAGE.get(error.get("detail", "")) or (
            field_of(error.get("pointer", ""))
            if field_of
            else field_for_pointer(state.fields, error.get("pointer", ""))
        )
        message = explain(request, error)
        if name is not None:
            state.errors.setdefault(name, message)
        else:
            state.form_errors.append(message)


def check_record(
    kind: RecordKind, document: dict[str, Any], plugins: Plugins, previous: dict[str, Any] | None
) -> tuple[BaseModel | None, list[Problem]]:
    """Validate like the API (`validate_record_data`), but also report an activity's service type details
    errors when other fields are wrong: the API stops at the first failing stage, a form shows everything."""
    problems: list[Problem] = []
    if kind.name == "activity":
        # Unvalidated on purpose: only the service type and its details are checked here.
        known: dict[str, Any] = {key: document.get(key) for key in ("category", "service_type")}
        draft = ActivityData.model_construct(**known)
        draft.details = document.get("details") or {}
        try:
            validate_service_type(draft, plugins.registry)
        except Problem as problem:
            problems.append(problem)
    try:
        valid = validate_record_data(kind, document, plugins, previous)
    except Problem as problem:
        if not problems or problem.errors != problems[0].errors:
            problems.append(problem)
        return None, problems
    return (None, problems) if problems else (valid, [])
