"""Discovery documents: /.well-known/regies-node (identity, keys, endpoints), parsed from other nodes too.

No NodeInfo document is served: NodeInfo 2.1 requires at least one protocol from its closed list, and this node
speaks none of them (docs/protocol.md §3.4); `/.well-known/nodeinfo` answers 404, NodeInfo's own way of saying so.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from federation import PROTOCOL_VERSION, SCHEMA_VERSION, __version__, appkeys
from federation.plugins import Plugins
from federation.protocol.addresses import shown
from federation.protocol.keys import KeyStore, PublicKeyInfo, verify_rotation
from federation.responses import json_response
from federation.schema.records import utcnow
from federation.schema.types import NODE_ID_PATTERN


@dataclass
class NodeIdentity:
    """Who this node is on the federation: its id, name, public URL and keys."""

    node_id: str
    keys: KeyStore

    def keyid(self) -> tuple[str, str]:
        kid, _ = self.keys.signing
        return f"{self.node_id}#{kid}", kid


IDENTITY = web.AppKey("identity", NodeIdentity)


def base_url(request: web.Request) -> str:
    """This node's public URL as configured (`server.base_url`), never what the client says (Host): a signature
    made for another node's URL must not verify here."""
    return request.config_dict[appkeys.SETTINGS].public_base_url


def signed_target_uri(request: web.Request) -> str:
    """The `@target-uri` a signer of `request` must have signed: this node's base URL, then the path and query of
    the request line exactly as they were sent (never decoded or re-encoded: a signer signs the bytes it sends)."""
    return base_url(request) + request.raw_path


async def discovery_document(request: web.Request) -> dict[str, Any]:
    app = request.app
    identity = app[IDENTITY]
    profile = await app[appkeys.READER].get("node", app[appkeys.PROFILE_ID], identity.node_id)
    name = json.loads(profile.body).get("name") if profile and not profile.deleted else identity.node_id
    return build_discovery(identity, base_url(request), name, app[appkeys.PLUGINS])


def build_discovery(identity: NodeIdentity, base: str, name: str, plugins: Plugins) -> dict[str, Any]:
    """This node's discovery document as served at /.well-known/regies-node."""
    return {
        "node_id": identity.node_id,
        "name": name,
        "base_url": base,
        "software": {"name": "regies-federation", "version": __version__},
        "protocol_version": PROTOCOL_VERSION,
        "schema_versions": [SCHEMA_VERSION],
        "keys": [key.jwk() for key in identity.keys.published],
        "endpoints": {
            "changes": f"{base}/federation/v1/changes",
            "inbox": f"{base}/federation/v1/inbox",
            "api": f"{base}/api/v1",
            "openapi": f"{base}/openapi.json",
        },
        "plugins": [{"name": info.name, "version": info.version} for info in plugins.infos.values()],
        # What this node speaks, for peers of other versions (`regies peers` shows the skew).
        "record_kinds": sorted(plugins.registry.kinds),
        "service_types": sorted(plugins.registry.service_types),
    }


async def well_known_node(request: web.Request) -> web.StreamResponse:
    return json_response(json.dumps(await discovery_document(request), ensure_ascii=False))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/.well-known/regies-node", well_known_node, allow_head=False)


@dataclass(frozen=True)
class RemoteNode:
    """A discovery document fetched from another node, checked for shape."""

    node_id: str
    name: str
    base_url: str
    keys: list[PublicKeyInfo]
    document: dict[str, Any]


def parse_discovery(document: Any, expected_node_id: str | None = None) -> RemoteNode:
    """Validate another node's discovery document; ValueError naming what is wrong (values quoted, cut short)."""
    if not isinstance(document, dict):
        raise ValueError("the discovery document is not a JSON object")
    node_id = document.get("node_id")
    if not isinstance(node_id, str) or not re.match(NODE_ID_PATTERN, node_id):
        raise ValueError(f"the discovery document has an invalid node_id: {shown(repr(node_id), 80)}")
    if expected_node_id is not None and node_id != expected_node_id:
        raise ValueError(f"the node at this address is now '{node_id}', not '{expected_node_id}'")
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise ValueError("the discovery document publishes no keys")
    keys = [PublicKeyInfo.from_jwk(jwk) for jwk in raw_keys]
    base = document.get("base_url")
    if not isinstance(base, str) or not base.startswith(("http://", "https://")):
        raise ValueError(f"the discovery document has an invalid base_url: {shown(repr(base), 120)}")
    return RemoteNode(node_id, str(document.get("name") or node_id), base.rstrip("/"), keys, document)


def accept_rotated_keys(
    node_id: str, pinned: list[PublicKeyInfo], offered: list[PublicKeyInfo], now: int | None = None
) -> list[PublicKeyInfo]:
    """The pinned keys plus every offered key whose rotation proof chains to a key this node holds as valid `now`.

    Revocation is final on this side. Only a key valid as pinned here vouches for a new one: a stolen key, once
    this node has seen it revoked or expired, cannot introduce its thief's key. A pinned key keeps its public value
    (a node cannot swap the value behind a known kid) and the earliest end of validity this node has seen for it:
    a document may shorten a key's life (rotation, revocation), never lengthen it, so a discovery document, which
    is not signed, cannot bring a revoked or expired key back. The shortening applies after the document's
    rotations, so a node that rotates and at once revokes its old key is still followed by its peers.
    """
    moment = int(utcnow().timestamp()) if now is None else now
    trusted = {key.kid: key for key in pinned}
    progress = True
    while progress:
        progress = False
        vouching = {kid: key for kid, key in trusted.items() if key.valid_at(moment)}
        for key in offered:
            if key.kid not in trusted and verify_rotation(node_id, key, vouching):
                trusted[key.kid] = key
                progress = True
    offered_by_kid = {key.kid: key for key in offered}
    for key in pinned:
        newer = offered_by_kid.get(key.kid)
        if newer is not None and newer.x == key.x:
            trusted[key.kid] = dataclasses.replace(key, not_after=_earlier(key.not_after, newer.not_after))
    return list(trusted.values())


def keep_revocations(pinned: list[PublicKeyInfo], offered: list[PublicKeyInfo]) -> list[PublicKeyInfo]:
    """`offered` (keys from a source that may introduce keys, such as the hub's signed directory), where each key
    already pinned ends no later than this node has seen it end: a revocation seen here stays final."""
    ends = {(key.kid, key.x): key.not_after for key in pinned}
    return [
        dataclasses.replace(key, not_after=_earlier(ends[key.kid, key.x], key.not_after))
        if (key.kid, key.x) in ends
        else key
        for key in offered
    ]


def _earlier(first: int | None, second: int | None) -> int | None:
    """The earlier of two ends of validity (None: no end)."""
    if first is None:
        return second
    return first if second is None else min(first, second)
