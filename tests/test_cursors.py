"""Opaque cursors: what decodes, and what is refused (never a crash)."""

from __future__ import annotations

import base64

import pytest

from federation.api.records import decode_cursor
from federation.cursors import decode_b64_cursor, encode_b64_cursor
from federation.problems import Problem
from federation.protocol.persistence import decode_feed_cursor, encode_feed_cursor


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_cursors_round_trip() -> None:
    assert decode_b64_cursor(encode_b64_cursor("c", 42), "c") == 42
    assert decode_feed_cursor(encode_feed_cursor(10**17)) == 10**17
    assert decode_cursor("r17") == 17
    assert decode_cursor(_b64("r:17")) == 17  # the form earlier versions handed out


@pytest.mark.parametrize(
    "cursor",
    [
        _b64("r:²"),
        _b64("r:١٢"),
        _b64("c:17"),
        _b64("r:" + "9" * 19),
        _b64("r:"),
        "%%%",
        base64.urlsafe_b64encode(b"r:\xff").decode(),
    ],
)
def test_foreign_or_malformed_list_cursors_are_a_400(cursor: str) -> None:
    with pytest.raises(Problem) as refused:
        decode_cursor(cursor)
    assert refused.value.status == 400


@pytest.mark.parametrize("cursor", [_b64("c:²"), _b64("r:17"), "!!", _b64("c:-1")])
def test_foreign_or_malformed_feed_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="not a cursor of this feed"):
        decode_feed_cursor(cursor)
