"""Text from outside the node made safe to print on a terminal: control characters shown as escapes."""

from __future__ import annotations

import unicodedata

# Categories a terminal would act on rather than show: C0/C1 controls (ESC, CR, BS, BEL...), format characters
# (bidirectional overrides that reorder a line), line and paragraph separators, unassigned code points.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(value: object) -> str:
    """`value` as text where every control or invisible formatting character is written as an escape (`\\x1b`,
    `\\u202e`), so a name or error chosen by another node cannot move the cursor, erase or forge lines.

    A backslash is escaped too, so an escape shown is never confused with one the text spelt out itself."""
    text = "" if value is None else str(value)
    if text.isprintable() and "\\" not in text:
        return text  # the common case: nothing to do
    return "".join(
        "\\\\" if char == "\\" else _escape(char) if unicodedata.category(char) in _UNPRINTABLE else char
        for char in text
    )
