"""CSV cells a spreadsheet opens as data, never as formulas: the one writer every CSV export goes through.

OWASP's guidance on CSV injection: a cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is
read as a formula by Excel, LibreOffice and Google Sheets (`=HYPERLINK(…)`, `=cmd|…` DDE). Such text cells get a
leading single quote, and every text cell is quoted. French Excel opens a `.csv` by splitting its lines on `;`
(its list separator), quotes or not: a formula character right after a `;` inside a cell gets the same quote,
so no piece of a cell can start a formula either. Numbers stay numbers: a negative count is written `-3`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO

from federation.numbers import plain

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISING_PREFIX = "'"
_AFTER_SEMICOLON = re.compile(r";(?=[=+\-@\t\r])")
_NEUTRALISED_AFTER_SEMICOLON = re.compile(r";'(?=[=+\-@\t\r])")

CsvValue = str | int | float | None


class _Figure(float):
    """A number cell as written in full with the export's decimal mark ("3430000", "47,5"; never "3.43e+06"):
    a float to the csv module, so it stays unquoted, a number to the spreadsheet."""

    text: str

    def __new__(cls, value: float, text: str) -> _Figure:
        figure = super().__new__(cls, value)
        figure.text = text
        return figure

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def neutralise(text: str) -> str:
    """`text` as a spreadsheet will show it rather than run it: a quote before a formula's first character."""
    if ";" in text:
        text = _AFTER_SEMICOLON.sub(";" + NEUTRALISING_PREFIX, text)
    return NEUTRALISING_PREFIX + text if text.startswith(FORMULA_STARTS) else text


def restore(text: str) -> str:
    """The inverse of `neutralise`, for imports: a file exported here comes back with its original text.

    Only a quote followed by a formula character is removed, so importing, exporting and importing again never
    piles quotes up (`'=x` → `=x` → `'=x`), and text that merely starts with a quote is kept. (Text that really
    held `;'=` loses that quote: the price of a file that round-trips.)"""
    if ";'" in text:
        text = _NEUTRALISED_AFTER_SEMICOLON.sub(";", text)
    if text.startswith(NEUTRALISING_PREFIX) and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def _safe(value: CsvValue) -> CsvValue:
    if value is None:
        return ""
    if isinstance(value, bool):  # a bool is an int to Python, but a spreadsheet has no such number
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    return neutralise(value)


class SafeCsvWriter:
    """`csv.writer` with RFC 4180 CRLF lines, every text cell quoted and neutralised, numbers written bare."""

    def __init__(self, stream: IO[str], delimiter: str = ",", decimal_mark: str = ".") -> None:
        self._writer = csv.writer(stream, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_NONNUMERIC)
        self._decimal_mark = decimal_mark

    def writerow(self, values: Iterable[CsvValue]) -> None:
        self._writer.writerow([self._cell(value) for value in values])

    def _cell(self, value: CsvValue) -> CsvValue:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _Figure(value, plain(value).replace(".", self._decimal_mark))
        return _safe(value)

    def writerows(self, rows: Iterable[Iterable[CsvValue]]) -> None:
        for row in rows:
            self.writerow(row)
