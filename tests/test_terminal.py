"""Strings from other nodes printed on a terminal cannot act on it."""

from __future__ import annotations

import unicodedata

import pytest

from federation.terminal import printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Régie de Belleville", "Régie de Belleville"),
        ("évasion\x1b[2K\rrq-fake", "évasion\\x1b[2K\\x0drq-fake"),
        ("line\nforged", "line\\x0aforged"),
        ("back\bspace\x7f", "back\\x08space\\x7f"),
        ("csi\x9b31m", "csi\\x9b31m"),
        ("abc\u202edcba", "abc\\u202edcba"),
        ("sep\u2028arator", "sep\\u2028arator"),
        ("a\\x1b", "a\\\\x1b"),
        # The widest code point written with four digits, and the first that needs eight.
        ("non\uffffchar", "non\\uffffchar"),
        ("tag\U000e0001", "tag\\U000e0001"),
        (None, ""),
        (42, "42"),
    ],
)
def test_control_characters_are_shown_as_escapes(raw: object, shown: str) -> None:
    assert printable(raw) == shown


def test_nothing_printed_can_drive_the_terminal() -> None:
    every_char = "".join(chr(code) for code in range(0x3000))
    shown = printable(every_char)
    assert not [char for char in shown if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cn")]
    assert "\x1b" not in shown and "\r" not in shown
