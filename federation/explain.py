"""Field errors as sentences for people, in their language: shared by the API's problem answers and the web's forms.

A field error carries a JSON Pointer, a pydantic error code and an English detail; `explain` turns it into a
sentence for régie staff through a gettext function (the catalogues live with the web interface, under
federation/web/locale; `python -m federation.web.messages` also extracts the strings of this module).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable


def N_(message: str) -> str:
    """Mark `message` for translation where it is defined; it is translated where it is shown."""
    return message


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

# Reference data errors, whose French sentence repeats what the English detail names (a commune, a department).
_WITH_NAMES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"INSEE commune code (?P<code>\S+) does not exist; \S+ is the postal code of (?P<communes>.+)$"),
        N_("%(code)s is a postal code, not an INSEE commune code: enter the code of %(communes)s."),
    ),
    (
        re.compile(r"INSEE commune code (?P<code>\S+) does not exist$"),
        N_("The INSEE commune code %(code)s does not exist: check it in the official code list (COG)."),
    ),
    (
        re.compile(r"INSEE commune code (?P<code>\S+) was retired \(merged communes\); it is now (?P<commune>.+)$"),
        N_("The commune %(code)s no longer exists since it merged with others: enter %(commune)s."),
    ),
    (
        re.compile(r"QPV code (?P<code>\S+) names no department"),
        N_("The QPV code %(code)s does not exist: its digits do not name a department."),
    ),
    (
        re.compile(r"QPV code (?P<code>\S+) is in department (?P<qpv>\S+), not in the commune's \((?P<commune>\S+)\)"),
        N_("The QPV %(code)s is in department %(qpv)s, not in the commune's department (%(commune)s)."),
    ),
    (re.compile(r"QPV code (?P<code>\S+): each value may appear only once"), N_("The QPV %(code)s is listed twice.")),
)


VALIDATION_TITLE = N_("Invalid data")


def invalid_fields(count: int, ngettext: Callable[[str, str, int], str]) -> str:
    """The detail of a validation problem: how many fields are invalid."""
    return ngettext(
        "the request body has %(count)s invalid field", "the request body has %(count)s invalid fields", count
    ) % {"count": count}


def explain(error: dict[str, str], gettext: Callable[[str], str]) -> str:
    """One API field error as a sentence, translated by `gettext`."""
    code, detail = error.get("code", ""), error.get("detail", "")
    if code == "plugin_rule":
        return detail  # a plugin's own rule, in the words its author chose
    if code in _WITH_LIMIT:
        numbers = _NUMBER.findall(detail)
        limit = numbers[-1] if numbers else "?"
        if limit.endswith(".0"):
            limit = limit[:-2]
        return gettext(_WITH_LIMIT[code]) % {"limit": limit}
    if code in _FIXED:
        return gettext(_FIXED[code])
    for pattern, sentence in _WITH_NAMES:
        match = pattern.match(detail)
        if match:
            return gettext(sentence) % match.groupdict()
    for start, message in _VALUE_ERRORS:
        if detail.startswith(start) or start in detail:
            return gettext(message)
    return gettext(N_("This value is not valid: %(detail)s")) % {"detail": detail}


def accepted_languages(header: str) -> list[str]:
    """Languages of an Accept-Language header (primary subtags), best first; those with q=0 are left out."""
    weighted = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            weighted.append((-quality, position, tag.strip().lower().split("-")[0]))
    return [tag for quality, _, tag in sorted(weighted) if quality < 0]


def preferred_language(header: str, offered: Iterable[str]) -> str | None:
    """The first language of an Accept-Language header among `offered`, or None."""
    available = set(offered)
    return next((language for language in accepted_languages(header) if language in available), None)
