"""The month view of a resource's calendar, computed server-side: weeks of days, each with the loans holding the
resource that day and the resource's availability slots for that weekday (Europe/Paris days)."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .records import DEFAULT_ZONE

_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")


@dataclass
class Day:
    """One cell of the month view."""

    date: dt.date
    in_month: bool
    loans: list[Mapping[str, Any]] = field(default_factory=list)
    slots: list[Mapping[str, Any]] = field(default_factory=list)


def parse_month(value: str | None, today: dt.date) -> dt.date:
    """`2026-06` → 1 June 2026; missing or malformed: this month."""
    match = _MONTH.match(value or "")
    if match and 1 <= int(match.group(2)) <= 12 and 1900 < int(match.group(1)) < 3000:
        return dt.date(int(match.group(1)), int(match.group(2)), 1)
    return today.replace(day=1)


def shifted(first: dt.date, months: int) -> dt.date:
    """The first day of the month `months` away from `first`'s."""
    index = first.year * 12 + first.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(DEFAULT_ZONE).date()


def month_weeks(
    first: dt.date,
    loans: Iterable[tuple[dt.datetime, dt.datetime, Mapping[str, Any]]],
    slots: Iterable[Mapping[str, Any]],
) -> list[list[Day]]:
    """Weeks (Monday first) covering the month of `first`; `loans` are (start, end, what to show) and appear on
    every day they cover (a loan ending at midnight does not cover the next day)."""
    by_weekday: dict[int, list[Mapping[str, Any]]] = {}
    for slot in sorted(slots, key=lambda s: (int(s["weekday"]), s["start"])):
        by_weekday.setdefault(int(slot["weekday"]), []).append(slot)
    spans = [(local_day(start), local_day(end - dt.timedelta(microseconds=1)), shown) for start, end, shown in loans]
    weeks = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        days = []
        for date in week:
            day = Day(date, date.month == first.month, slots=by_weekday.get(date.isoweekday(), []))
            day.loans = [shown for since, until, shown in spans if since <= date <= until]
            days.append(day)
        weeks.append(days)
    return weeks
