"""Pure validators that normalise French identifiers (SIREN, SIRET, RNA, INSEE, QPV) or raise ValueError."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from federation.schema.geo import DEPARTMENTS, commune, communes_with_postal_code, replacement_of

__all__ = [
    "INSEE_COMMUNE_FORMAT",
    "INSEE_COMMUNE_PATTERN",
    "QPV_FORMAT",
    "QPV_PATTERN",
    "RNA_PATTERN",
    "log_retired_commune",
    "luhn_ok",
    "normalize_insee_commune",
    "normalize_qpv_code",
    "normalize_rna",
    "normalize_siren",
    "normalize_siret",
    "qpv_department",
    "qpv_errors",
    "qpv_generation",
    "retired_commune_detail",
]

# ASCII digits only: str.isdigit() would also accept e.g. Arabic-Indic or superscript digits.
_DIGITS_RE = re.compile(r"[0-9]+")

# La Poste establishments (SIREN 356000000) carry a check based on the digit sum being a multiple of 5
# instead of the Luhn key; only its head office keeps a regular Luhn-valid SIRET.
_LA_POSTE_SIREN = "356000000"
_LA_POSTE_HEAD_OFFICE_SIRET = "35600000000048"

# RNA numbers are "W" + 9 characters; the first characters after the W are the (sub-)prefecture code, which
# is alphanumeric for Corsica ("W2A…", "W2B…"). We accept 9 digits, or "2A"/"2B" followed by 7 digits; any
# other letter (e.g. "W1A…") is rejected.
_RNA_RE = re.compile(r"W(?:[0-9]{2}|2[AB])[0-9]{7}")

# The same rules as JSON Schema patterns, published in the contract so clients (and API fuzzers) know them.
RNA_PATTERN = "^" + _RNA_RE.pattern + "$"
QPV_PATTERN = r"^(?:QP[0-9]{6}|QN[0-9A-Z]{5}[A-Z])$"
INSEE_COMMUNE_PATTERN = (
    "^(?:(?:"
    + "|".join(sorted(code for code in DEPARTMENTS if len(code) == 2))
    + ")[0-9]{3}|(?:"
    + "|".join(sorted(code for code in DEPARTMENTS if len(code) == 3))
    + ")[0-9]{2})$"
)

# Custom JSON Schema formats for what a pattern cannot state, checked against the shipped reference data: the
# commune must exist, the QPV code must name a department (the commune's, when the place has one).
INSEE_COMMUNE_FORMAT = "insee-commune"
QPV_FORMAT = "regies-qpv"

_INSEE_COMMUNE_RE = re.compile(r"[0-9]{5}|2[AB][0-9]{3}")

# QPV codes: 2015 list "QP" + 6 digits (e.g. QP075001); 2024 list "QN" + 5 alphanumerics + 1 letter
# (e.g. QN07501M, QN02A01M).
_QPV_2015_RE = re.compile(r"QP[0-9]{6}")
_QPV_2024_RE = re.compile(r"QN[0-9A-Z]{5}[A-Z]")


def _strip_spaces(value: str) -> str:
    """Remove all whitespace, including the non-breaking spaces French formatting inserts ("732 829 320")."""
    return "".join(value.split())


def _is_digits(value: str) -> bool:
    return _DIGITS_RE.fullmatch(value) is not None


def luhn_ok(digits: str) -> bool:
    """Return True if ``digits`` passes the Luhn checksum; False for empty or non-ASCII-digit input."""
    if not _is_digits(digits):
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def normalize_siren(value: str) -> str:
    """Return the SIREN without spaces; raise ValueError unless it is 9 digits with a valid Luhn key."""
    siren = _strip_spaces(value)
    if not _is_digits(siren) or len(siren) != 9:
        raise ValueError(f"SIREN must be exactly 9 digits, got {value!r}")
    if not luhn_ok(siren):
        raise ValueError(f"SIREN {siren} has an invalid check digit (Luhn checksum failed)")
    return siren


def normalize_siret(value: str) -> str:
    """Return the 14-digit SIRET without spaces; raise ValueError unless it is 14 digits with a valid key.

    The key is the Luhn checksum over all 14 digits, except for La Poste establishments (SIREN 356000000)
    whose digit sum must be a multiple of 5; La Poste's head office (35600000000048) uses Luhn.
    """
    siret = _strip_spaces(value)
    if not _is_digits(siret) or len(siret) != 14:
        raise ValueError(f"SIRET must be exactly 14 digits, got {value!r}")
    if siret.startswith(_LA_POSTE_SIREN) and siret != _LA_POSTE_HEAD_OFFICE_SIRET:
        if sum(int(char) for char in siret) % 5 != 0:
            raise ValueError(
                f"SIRET {siret} has an invalid check digit (La Poste establishment: digit sum must be a multiple of 5)"
            )
    elif not luhn_ok(siret):
        raise ValueError(f"SIRET {siret} has an invalid check digit (Luhn checksum failed)")
    return siret


def normalize_rna(value: str) -> str:
    """Return the RNA number uppercased without spaces (e.g. "W751234567"), or raise ValueError."""
    rna = _strip_spaces(value).upper()
    if _RNA_RE.fullmatch(rna) is None:
        raise ValueError(
            f"RNA number must be 'W' followed by 9 digits (or 'W2A'/'W2B' and 7 digits for Corsica), got {value!r}"
        )
    return rna


def normalize_insee_commune(value: str) -> str:
    """Return the INSEE commune code uppercased without spaces (e.g. "2A004"), or raise ValueError.

    The code must be a current commune or municipal arrondissement of the reference data, or a commune code
    retired since 2019 (kept as written, with a logged warning: replicas and records written before the merger
    carry them; local writes refuse them, see `retired_commune_detail`). The error for an unknown code names the
    communes whose postal code it is, since postal codes are often typed in its place.
    """
    code = _strip_spaces(value).upper()
    if _INSEE_COMMUNE_RE.fullmatch(code) is None:
        raise ValueError(f"INSEE commune code must be 5 digits, or '2A'/'2B' followed by 3 digits, got {value!r}")
    if commune(code) is not None:
        return code
    if replacement_of(code) is not None:
        log_retired_commune(code)
        return code
    suggestions = communes_with_postal_code(code)
    if suggestions:
        named = " or ".join(item.label() for item in suggestions[:3])
        raise ValueError(f"INSEE commune code {code} does not exist; {code} is the postal code of {named}")
    raise ValueError(f"INSEE commune code {code} does not exist")


@lru_cache(maxsize=1024)
def log_retired_commune(code: str) -> None:
    """Log a warning naming a retired commune code and its replacement: once per code and process, not per record
    (two threads validating at the same moment may both log it)."""
    import logging  # here: logging costs milliseconds at import, and only a retired code needs it

    logging.getLogger(__name__).warning("%s", retired_commune_detail(code))


def retired_commune_detail(code: str) -> str | None:
    """Why a retired commune code is out of date and what replaced it, or None if the code is not retired."""
    replacement = replacement_of(code)
    current = commune(replacement) if replacement is not None else None
    if current is None:
        return None
    return f"INSEE commune code {code} was retired (merged communes); it is now {current.label()}"


def normalize_qpv_code(value: str) -> str:
    """Return the QPV code uppercased without spaces ("QP075001" or "QN07501M"), or raise ValueError."""
    code = _strip_spaces(value).upper()
    if _QPV_2015_RE.fullmatch(code) is None and _QPV_2024_RE.fullmatch(code) is None:
        raise ValueError(
            "QPV code must be 'QP' followed by 6 digits (2015 list) or 'QN' followed by 5 letters/digits "
            f"and a final letter (2024 list), got {value!r}"
        )
    return code


@lru_cache(maxsize=4096)  # replication checks the same few hundred codes on every record that names them
def qpv_department(code: str) -> str | None:
    """The department a normalised QPV code's characters 3–5 name ("QP075001" -> "75", "QN97101M" -> "971")."""
    digits = code[2:5]
    department = digits[1:] if digits.startswith("0") else digits
    return department if department in DEPARTMENTS else None


def qpv_errors(codes: Sequence[str], department: str | None) -> list[tuple[int, str]]:
    """(position, reason) for each code of a QPV list that names no department, another department than the
    place's, or repeats an earlier code."""
    errors: list[tuple[int, str]] = []
    for position, code in enumerate(codes):
        named = qpv_department(code)
        if named is None:
            errors.append((position, f"QPV code {code} names no department ({code[2:5]})"))
        elif department is not None and named != department:
            errors.append((position, f"QPV code {code} is in department {named}, not in the commune's ({department})"))
        elif code in codes[:position]:
            errors.append((position, f"QPV code {code}: each value may appear only once"))
    return errors


def qpv_generation(code: str) -> Literal["2015", "2024"]:
    """Return the QPV list ("2015" or "2024") a code belongs to; raise ValueError if it is not a QPV code."""
    normalized = normalize_qpv_code(code)
    return "2015" if normalized.startswith("QP") else "2024"
