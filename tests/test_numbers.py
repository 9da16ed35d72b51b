"""French numbers and dates: written the way French readers do, never in scientific notation, read back as typed."""

from __future__ import annotations

import datetime as dt

import pytest

from federation.numbers import (
    form_value,
    format_day,
    format_figure,
    format_moment,
    format_number,
    parse_number,
    plain,
)

NNBSP, NBSP = "\u202f", "\u00a0"


def spaced(text: str) -> str:
    """`text` with the narrow and ordinary non-breaking spaces Babel writes shown as plain spaces."""
    return text.replace(NNBSP, " ").replace(NBSP, " ")


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "shown"),
    [
        (3_430_000, "euros", 2, "3 430 000 €"),
        (3_430_000.0, "euros", 2, "3 430 000 €"),
        (2_410_000.5, "euros", 2, "2 410 000,5 €"),
        (47.5, "percent", 1, "47,5 %"),
        (50.0, "percent", 1, "50 %"),
        (1e12, "euros", 2, "1 000 000 000 000 €"),
        (1e16, "count", 0, "10 000 000 000 000 000"),
        (12.25, "fte", 2, "12,25 ETP"),
        (1200, "hours", 1, "1 200 h"),
        (46.428571, "percent", 1, "46,4 %"),
        (None, "percent", 1, "—"),
    ],
)
def test_figures_in_french(value: float | None, unit: str, decimals: int, shown: str) -> None:
    text = format_figure(value, unit, decimals)
    assert spaced(text) == shown
    assert "e+" not in text and "E+" not in text


def test_the_largest_numbers_are_written_in_full() -> None:
    assert spaced(format_number(1e308, 0)).startswith("100 000 000")
    assert plain(1e12) == "1000000000000" and plain(1e-7) == "0.0000001"
    assert format_number(3_430_000, lang="en") == "3,430,000"
    assert format_figure(float("nan"), "euros") == "—"


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("32,5", 32.5),
        ("850 000", 850_000),
        (f"850{NBSP}000", 850_000),
        (f"850{NNBSP}000", 850_000),
        ("1 200,50", 1200.5),
        ("1.5", 1.5),
        (" 12 ", 12),
        ("abc", None),
        ("1,234.5", None),
        ("", None),
    ],
)
def test_parse_what_people_type(typed: str, number: float | None) -> None:
    assert parse_number(typed) == number


def test_form_values_read_back_to_the_same_number() -> None:
    for value in (850_000, 32.5, 3_430_000.25, 0.5):
        assert parse_number(form_value(value)) == value
    assert spaced(form_value(850_000)) == "850 000"
    assert form_value(850_000, "en") == "850000"


def test_dates_in_french() -> None:
    assert format_day(dt.date(2026, 3, 31)) == "31 mars 2026"
    assert format_day("2026-01-01T09:30:00Z") == "1 janvier 2026"
    assert format_day(dt.date(2026, 3, 31), style="short") == "31/03/2026"
    assert format_day(dt.date(2026, 3, 31), lang="en") == "31 March 2026"


def test_moments_in_paris_time() -> None:
    assert format_moment("2026-03-31T12:05:00Z") == "31 mars 2026 à 14:05"
    assert format_moment("2026-01-15T23:30:00+00:00") == "16 janvier 2026 à 00:30"
    assert format_moment("2026-03-31T12:05:00Z", "en") == "31 March 2026, 14:05"
