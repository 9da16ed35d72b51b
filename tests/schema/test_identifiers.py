"""Tests for the French identifier validators in federation.schema.identifiers."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from federation.schema.identifiers import (
    INSEE_COMMUNE_PATTERN,
    QPV_PATTERN,
    RNA_PATTERN,
    luhn_ok,
    normalize_insee_commune,
    normalize_qpv_code,
    normalize_rna,
    normalize_siren,
    normalize_siret,
    qpv_generation,
)

# --- luhn_ok ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "digits",
    ["0", "18", "732829320", "499454478", "356000000", "73282932000074", "49945447800029", "35600000000048"],
)
def test_luhn_ok_accepts_valid_numbers(digits: str) -> None:
    assert luhn_ok(digits) is True


@pytest.mark.parametrize("digits", ["1", "732829321", "73282932000015", "35600000000001"])
def test_luhn_ok_rejects_invalid_numbers(digits: str) -> None:
    assert luhn_ok(digits) is False


@pytest.mark.parametrize("digits", ["", "73282932A", "732 829 320", "-18", "\u0661\u0668"])
def test_luhn_ok_is_false_for_non_digit_input(digits: str) -> None:
    assert luhn_ok(digits) is False


# --- SIREN -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("732829320", "732829320"),
        ("732 829 320", "732829320"),
        (" 732829320 ", "732829320"),
        ("732\u00a0829\u00a0320", "732829320"),  # non-breaking spaces from French formatting
        ("499454478", "499454478"),
        ("356000000", "356000000"),
    ],
)
def test_normalize_siren_valid(value: str, expected: str) -> None:
    assert normalize_siren(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("732829321", "check digit"),
        ("73282932", "9 digits"),
        ("7328293200", "9 digits"),
        ("73282932A", "9 digits"),
        ("", "9 digits"),
        ("   ", "9 digits"),
        ("732-829-320", "9 digits"),
        ("\u0667\u0663\u0662\u0668\u0662\u0669\u0663\u0662\u0660", "9 digits"),  # non-ASCII digits
    ],
)
def test_normalize_siren_invalid(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_siren(value)


# --- SIRET -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("73282932000074", "73282932000074"),
        ("732 829 320 00074", "73282932000074"),
        ("49945447800029", "49945447800029"),
        ("35600000000001", "35600000000001"),  # La Poste establishment: digit sum 15, not Luhn-valid
        ("35600000000048", "35600000000048"),  # La Poste head office: Luhn key
        ("356 000 000 00001", "35600000000001"),
    ],
)
def test_normalize_siret_valid(value: str, expected: str) -> None:
    assert normalize_siret(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("73282932000015", "Luhn"),
        ("35600000000014", "multiple of 5"),  # Luhn-valid but La Poste establishments use the digit sum
        ("7328293200007", "14 digits"),
        ("732829320000740", "14 digits"),
        ("7328293200007A", "14 digits"),
        ("732829320", "14 digits"),
        ("", "14 digits"),
    ],
)
def test_normalize_siret_invalid(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_siret(value)


def test_la_poste_establishment_is_not_luhn_checked() -> None:
    assert not luhn_ok("35600000000001")
    assert luhn_ok("35600000000014")


# --- RNA -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("W751234567", "W751234567"),
        ("w751234567", "W751234567"),
        ("W 751 234 567", "W751234567"),
        ("W2A1234567", "W2A1234567"),
        ("w2b1234567", "W2B1234567"),
        ("W971234567", "W971234567"),
    ],
)
def test_normalize_rna_valid(value: str, expected: str) -> None:
    assert normalize_rna(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "W75123456",  # too short
        "W7512345678",  # too long
        "751234567",  # missing W
        "X751234567",
        "W1A1234567",  # only 2A/2B may contain a letter
        "W2C1234567",
        "W75123456A",
        "WW75123456",
        "",
    ],
)
def test_normalize_rna_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="RNA number"):
        normalize_rna(value)


# --- INSEE commune ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("75056", "75056"),
        ("2A004", "2A004"),
        ("2a004", "2A004"),
        ("2B033", "2B033"),
        ("2b033", "2B033"),
        ("97411", "97411"),
        ("97611", "97611"),
        ("01001", "01001"),
        (" 75 056 ", "75056"),
        ("75111", "75111"),  # Paris 11e arrondissement
        ("97801", "97801"),  # Saint-Martin
        ("98735", "98735"),  # Papeete
        ("01039", "01039"),  # retired in 2025 (merged into Culoz-Béon): still a code of the reference data
    ],
)
def test_normalize_insee_commune_valid(value: str, expected: str) -> None:
    assert normalize_insee_commune(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("20004", "20004 does not exist$"),  # Corsica has used 2A/2B since 1976
        ("96001", "does not exist"),
        ("93999", "93999 does not exist$"),
        ("2A999", "2A999 does not exist$"),
        ("97699", "97699 does not exist$"),
        ("00001", "does not exist"),
        ("93100", r"93100 does not exist; 93100 is the postal code of Montreuil \(93048\)$"),
        ("75011", r"is the postal code of Paris 11e Arrondissement \(75111\)$"),
        ("7505", "5 digits"),
        ("750560", "5 digits"),
        ("2C004", "5 digits"),
        ("2A0O4", "5 digits"),
        ("A2004", "5 digits"),
        ("", "5 digits"),
    ],
)
def test_normalize_insee_commune_invalid(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_insee_commune(value)


# --- QPV -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "generation"),
    [
        ("QP075001", "QP075001", "2015"),
        ("qp075001", "QP075001", "2015"),
        ("QP 075 001", "QP075001", "2015"),
        ("QN07501M", "QN07501M", "2024"),
        ("qn07501m", "QN07501M", "2024"),
        ("QN02A01M", "QN02A01M", "2024"),
        ("QN97401Z", "QN97401Z", "2024"),
    ],
)
def test_normalize_qpv_code_valid(value: str, expected: str, generation: str) -> None:
    assert normalize_qpv_code(value) == expected
    assert qpv_generation(value) == generation


@pytest.mark.parametrize(
    "value",
    [
        "QP07500",  # too short
        "QP0750012",  # too long
        "QP07500A",  # 2015 codes are digits only
        "QN075011",  # 2024 codes end with a letter
        "QN0750M",  # too short
        "QN075011M",  # too long
        "QN07-01M",
        "QX075001",
        "075001",
        "",
    ],
)
def test_normalize_qpv_code_invalid(value: str) -> None:
    with pytest.raises(ValueError, match="QPV code"):
        normalize_qpv_code(value)
    with pytest.raises(ValueError, match="QPV code"):
        qpv_generation(value)


@pytest.mark.parametrize(
    ("pattern", "normalize", "samples"),
    [
        (
            INSEE_COMMUNE_PATTERN,
            normalize_insee_commune,
            ["75056", "01001", "2A004", "2B033", "97411", "97501", "97611", "20004", "9741", "750561", "75O56"],
        ),
        (RNA_PATTERN, normalize_rna, ["W751234567", "W2A1234567", "W1A1234567", "W75123456", "X751234567"]),
        (QPV_PATTERN, normalize_qpv_code, ["QP075001", "QN07501M", "QN02A01M", "QP07500", "QN075011", "QX075001"]),
    ],
)
def test_the_published_patterns_agree_with_the_validators(
    pattern: str, normalize: Callable[[str], str], samples: list[str]
) -> None:
    """API clients and fuzzers read these patterns in the contract: on real codes and malformed ones, both agree."""
    for sample in samples:
        try:
            valid = normalize(sample) == sample
        except ValueError:
            valid = False
        assert (re.fullmatch(pattern, sample) is not None) == valid, sample
