"""Opaque position cursors written as base64url of "<prefix>:<row number>" (the feed's, and the API's older ones)."""

from __future__ import annotations

import base64
import binascii

# 18 digits stay within a 64-bit row number: beyond that the database would overflow.
MAX_DIGITS = 18


def encode_b64_cursor(prefix: str, number: int) -> str:
    return base64.urlsafe_b64encode(f"{prefix}:{number}".encode()).decode().rstrip("=")


def decode_b64_cursor(cursor: str, prefix: str) -> int:
    """The row number in a cursor of `prefix`; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise ValueError(f"not a cursor: {exc}") from exc
    found, _, number = raw.partition(":")
    # isascii: str.isdigit() also accepts digits such as "²" that int() refuses.
    if found != prefix or not (number.isascii() and number.isdigit()) or len(number) > MAX_DIGITS:
        raise ValueError(f"not a '{prefix}' cursor")
    return int(number)
