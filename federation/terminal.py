"""What a node prints on a terminal from outside: text another node or a visitor chose, made inert."""

from __future__ import annotations

import unicodedata


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _is_hidden(char: str) -> bool:
    # Cc: C0 and C1 controls and DEL (ESC starts the sequences that move the cursor, erase lines, set titles).
    # Cf: format characters (bidi overrides and isolates, zero-width spaces and joiners) that reorder or hide text.
    # Zl/Zp: line and paragraph separators, which some terminals break lines on. Cs: a lone surrogate (JSON can
    # carry one) would make print() raise.
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def printable(text: str) -> str:
    """`text` with every control, format and separator character written as \\xNN / \\uNNNN: a name or an
    error cannot move the cursor, erase the lines around it (a fingerprint) or reorder them."""
    if text.isprintable():
        return text
    return "".join(_escaped(char) if _is_hidden(char) else char for char in text)
