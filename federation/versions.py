"""The versions this node speaks (protocol and common schema, `MAJOR.MINOR`) and how another node's compare."""

from __future__ import annotations

import re
from typing import Any

# A minor version only adds (optional members, record kinds, service types, indicators); a major one may change or
# remove, and is refused (docs/protocol.md, "Versions"). Bump the minor for every addition to the wire.
PROTOCOL_VERSION = "1.1"
SCHEMA_VERSION = "1.1"
# The header with which a node announces its protocol version on signed requests and on its answers.
PROTOCOL_HEADER = "Regies-Protocol"
# What a peer that announces no version speaks: nodes before 0.2.0 sent no header.
UNANNOUNCED_PROTOCOL = "1.0"

_VERSION = re.compile(r"(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})")


def parse_version(text: str) -> tuple[int, int]:
    """(major, minor) of a `MAJOR.MINOR` version; ValueError for anything else."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"'{text[:20]}' is not a version of the form MAJOR.MINOR (such as {PROTOCOL_VERSION})")
    return int(match[1]), int(match[2])


def same_major(version: str, ours: str = PROTOCOL_VERSION) -> bool:
    """Whether `version` shares our major version (ValueError if it is not `MAJOR.MINOR`)."""
    return parse_version(version)[0] == parse_version(ours)[0]


def skew(version: str | None, ours: str) -> str:
    """How another node's version compares with ours, in a few words for `regies peers`."""
    if version is None:
        return "unknown"
    try:
        theirs, mine = parse_version(version), parse_version(ours)
    except ValueError:
        return "unreadable"
    if theirs[0] != mine[0]:
        return "other major: refused"
    if theirs == mine:
        return "same"
    return "older minor" if theirs < mine else "newer minor"


def spoken(document: dict[str, Any]) -> dict[str, Any]:
    """What a discovery document says its node speaks: protocol and schema versions, record kinds and service
    types (missing members of a node before 0.2.0: its protocol is 1.0, the rest unknown)."""

    def texts(value: Any) -> list[str]:
        return [item for item in value if isinstance(item, str)][:200] if isinstance(value, list) else []

    protocol = document.get("protocol_version")
    # Nodes before 0.2.0 published "1" and "v1", which are 1.0.
    protocol = UNANNOUNCED_PROTOCOL if protocol in (None, "1") or not isinstance(protocol, str) else protocol[:20]
    schemas = ["1.0" if item == "v1" else item[:20] for item in texts(document.get("schema_versions"))]
    return {
        "protocol_version": protocol,
        "schema_versions": schemas,
        "record_kinds": texts(document.get("record_kinds")),
        "service_types": texts(document.get("service_types")),
    }


def announced_protocol(headers: Any) -> str:
    """The protocol version a request or an answer announces (UNANNOUNCED_PROTOCOL without the header)."""
    value = headers.get(PROTOCOL_HEADER)
    return UNANNOUNCED_PROTOCOL if value is None else str(value)


def protocol_mismatch(headers: Any) -> str | None:
    """Why a request or an answer with these headers is refused (another major version, or an unreadable one,
    both versions named), or None when its major version is ours."""
    announced = announced_protocol(headers)
    try:
        if same_major(announced):
            return None
    except ValueError as exc:
        return f"the {PROTOCOL_HEADER} header is unreadable: {exc}; this node speaks protocol {PROTOCOL_VERSION}"
    return (
        f"the peer speaks protocol {announced[:20]} and this node protocol {PROTOCOL_VERSION}: major versions differ, "
        "so neither can read the other; the older node must be upgraded (docs/operations.md, upgrades)"
    )
