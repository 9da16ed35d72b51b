"""Numbers and dates as French readers write them (Babel): `3 430 000 €`, `47,5 %`, `31 mars 2026`, and back.

Every figure shown on a page goes through `format_figure` or `format_number`, which never fall back to scientific
notation (Python's `str(3430000.0)` is fine, but `"%g"` gives "3.43e+06" and `str(1e16)` gives "1e+16").
`parse_number` reads what people type in a form: "32,5", "850 000" with ordinary, non-breaking or narrow
no-break spaces, or "1.5".
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation, localcontext
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime
from babel.numbers import format_decimal

LOCALES = {"fr": "fr_FR", "en": "en_GB"}
NBSP = "\u00a0"
# Unit suffixes after a figure, per language; a non-breaking space keeps the unit on the figure's line.
_SUFFIXES: dict[str, dict[str, str]] = {
    "euros": {"fr": "€", "en": "€"},
    "percent": {"fr": "%", "en": "%"},
    "hours": {"fr": "h", "en": "h"},
    "fte": {"fr": "ETP", "en": "FTE"},
    "m2": {"fr": "m²", "en": "m²"},
}
# Units whose suffix is the unit's own name (kWh, kg, tonnes); a count has none.
_NO_SUFFIX = frozenset({"count", ""})
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
_TYPED = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")


def _locale(lang: str) -> str:
    return LOCALES.get(lang, LOCALES["fr"])


def format_number(value: float | int | Decimal | None, decimals: int = 2, lang: str = "fr") -> str:
    """`value` with grouped thousands and at most `decimals` decimals (trailing zeros dropped): 3 430 000, 47,5.

    Empty for None; "—" for a value that is not a finite number."""
    if value is None:
        return ""
    number = Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        return "—"
    pattern = "#,##0" + ("." + "#" * decimals if decimals > 0 else "")
    with localcontext() as context:
        context.prec = 400  # room for every digit of the largest double (1.8e308) when rounding to `decimals`
        return format_decimal(number, format=pattern, locale=_locale(lang), decimal_quantization=True)


def unit_suffix(unit: str | None, lang: str = "fr") -> str:
    """What follows a figure of `unit`, with its non-breaking space ("" for counts)."""
    if not unit or unit in _NO_SUFFIX:
        return ""
    suffix = _SUFFIXES.get(unit, {}).get(lang) or _SUFFIXES.get(unit, {}).get("fr") or unit
    return NBSP + suffix


def format_figure(value: float | int | None, unit: str | None, decimals: int = 2, lang: str = "fr") -> str:
    """A figure with its unit: `3 430 000 €`, `47,5 %`, `1 200 h`; "—" when there is none (not aggregable)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format_number(value, decimals, lang) + unit_suffix(unit, lang)


def form_value(value: float | int | None, lang: str = "fr") -> str:
    """A number to put back in a form input: French grouping in French (which `parse_number` reads back);
    plain digits otherwise, since "850,000" would be ambiguous."""
    if value is None:
        return ""
    if lang == "fr":
        return format_number(value, decimals=6, lang="fr")
    return plain(value)


def plain(value: float | int | Decimal) -> str:
    """`value` in full with a "." decimal point and no grouping, never in scientific notation."""
    number = Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_number(text: str) -> float | None:
    """The number in what someone typed ("32,5", "850 000", "1 200,50", "-3", "1.5"); None if it is not one.

    Spaces of any kind (and apostrophes) group thousands; a comma or a point is the decimal mark (one of them,
    once: "1,234.5" is refused rather than guessed)."""
    cleaned = _SPACES.sub("", text.strip())
    if not _TYPED.fullmatch(cleaned):
        return None
    try:
        number = Decimal(cleaned.replace(",", "."))
    except InvalidOperation:
        return None
    return float(number)


def format_day(value: dt.date | dt.datetime | str | None, lang: str = "fr", style: str = "long") -> str:
    """A date as words: `31 mars 2026` (style "long") or `31/03/2026` ("short"); ISO strings are accepted."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            day = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    else:
        day = value.date() if isinstance(value, dt.datetime) else value
    pattern = "dd/MM/yyyy" if style == "short" else "long"
    return babel_format_date(day, format=pattern, locale=_locale(lang))


# Times are stored in UTC; people read them in metropolitan France's time.
SHOWN_TIME_ZONE = ZoneInfo("Europe/Paris")
_MOMENT_PATTERNS = {"fr": "d MMMM y 'à' HH:mm", "en": "d MMMM y, HH:mm"}


def format_moment(value: dt.datetime | str | None, lang: str = "fr") -> str:
    """A moment in Paris time: `31 mars 2026 à 14:05`; RFC 3339 strings are accepted."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    pattern = _MOMENT_PATTERNS.get(lang, _MOMENT_PATTERNS["fr"])
    return format_datetime(moment, pattern, tzinfo=SHOWN_TIME_ZONE, locale=_locale(lang))


def template_filters() -> dict[str, object]:
    """Jinja filters reading the page's language (`lang` in the context): `{{ value | number(1) }}`,
    `{{ value | figure(unit, decimals) }}`, `{{ date | day }}`, `{{ date | day("short") }}` and
    `{{ timestamp | moment }}`."""
    import jinja2

    @jinja2.pass_context
    def number(context: jinja2.runtime.Context, value: float | None, decimals: int = 2) -> str:
        return format_number(value, decimals, context.get("lang", "fr"))

    @jinja2.pass_context
    def figure(context: jinja2.runtime.Context, value: float | None, unit: str | None = None, decimals: int = 2) -> str:
        return format_figure(value, unit, 2 if decimals is None else decimals, context.get("lang", "fr"))

    @jinja2.pass_context
    def day(context: jinja2.runtime.Context, value: dt.date | str | None, style: str = "long") -> str:
        return format_day(value, context.get("lang", "fr"), style)

    @jinja2.pass_context
    def moment(context: jinja2.runtime.Context, value: dt.datetime | str | None) -> str:
        return format_moment(value, context.get("lang", "fr"))

    @jinja2.pass_context
    def suffix(context: jinja2.runtime.Context, unit: str | None) -> str:
        return unit_suffix(unit, context.get("lang", "fr"))

    return {"number": number, "figure": figure, "day": day, "moment": moment, "unit_suffix": suffix}
