"""Validation errors in the user's language, placed next to the form field they concern.

The API's validation answers field errors with a JSON Pointer, a pydantic error code and an English detail;
here each becomes a sentence for régie staff (French by default, with the sentences of federation.explain),
attached to its form field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from federation import explain as sentences
from federation.numbers import format_number, parse_number
from federation.problems import Problem
from federation.storage.service import RecordService
from federation.web.forms import FormState, field_for_pointer
from federation.web.i18n_request import language, translate
from federation.web.labels import N_

# An indicator's plausible bounds and precision (federation/semantics.py); limits written the reader's way.
_INDICATOR_RULES: dict[str, str] = {
    "indicator_bounds": N_("Enter a number between %(minimum)s and %(maximum)s."),
    "indicator_precision": N_("Enter a number with at most %(decimals)s decimals."),
}


def explain(request: web.Request, error: dict[str, str]) -> str:
    """One API field error as a sentence in the request's language."""
    code = error.get("code", "")
    if "message_fr" in error:  # validation rules (federation/validation_rules.py) state their own French sentence
        return error["message_fr"] if language(request) == "fr" else error["detail"]
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
    return sentences.explain(error, lambda message: translate(request, message))


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
        pointer = error.get("pointer", "")
        name = field_of(pointer) if field_of else field_for_pointer(state.fields, pointer)
        message = explain(request, error)
        if name is not None and error.get("severity") == "warning":
            state.warnings.setdefault(name, message)
        elif name is not None:
            state.errors.setdefault(name, message)
        else:
            state.form_errors.append(message)


def check_record(
    store: RecordService, kind: str, document: dict[str, Any], previous: dict[str, Any] | None
) -> tuple[BaseModel | None, list[Problem]]:
    """Validate as a write would (the record service's validation, which reports every error of a record at once),
    writing nothing."""
    try:
        return store.validate(kind, document, previous), []
    except Problem as problem:
        return None, [problem]
