"""The hub's signed directory of members: the bytes it signs, and how a node checks it with the pinned hub key.

Shared by the hub plugin, which signs it, and the hub client, which verifies it: neither depends on the other.
"""

from __future__ import annotations

import json
from typing import Any

from federation.protocol.keys import b64url_decode


def directory_statement(document: dict[str, Any]) -> bytes:
    """The canonical bytes the hub signs: the directory without its signature."""
    unsigned = {key: value for key, value in document.items() if key != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify_directory(document: dict[str, Any], hub_keys: dict[str, Any]) -> list[dict[str, Any]]:
    """The directory's nodes if its signature verifies with one of the hub's pinned keys; ValueError if not."""
    from cryptography.exceptions import InvalidSignature

    signature = document.get("signature") or {}
    key = hub_keys.get(str(signature.get("kid")))
    if key is None:
        raise ValueError(f"the directory is signed with unknown hub key {signature.get('kid')!r}")
    try:
        key.public_key().verify(b64url_decode(str(signature.get("value", ""))), directory_statement(document))
    except (InvalidSignature, ValueError) as exc:
        raise ValueError("the directory's signature does not verify: it was not issued by the pinned hub") from exc
    nodes = document.get("nodes")
    if not isinstance(nodes, list):
        raise ValueError("the directory has no node list")
    return nodes
