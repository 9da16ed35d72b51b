"""Discovery documents: /.well-known/regies-node (identity, keys, endpoints) and NodeInfo 2.1."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from federation import SCHEMA_VERSION, __version__, appkeys
from federation.plugins import Plugins
from federation.protocol.keys import KeyStore, PublicKeyInfo, verify_rotation
from federation.responses import json_response
from federation.schema.types import NODE_ID_PATTERN

PROTOCOL_VERSION = "1"
NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.1"


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
    """This node's public URL: configured `server.base_url`, else what the client used to reach it."""
    configured = request.config_dict[appkeys.SETTINGS].server.base_url
    if configured:
        return configured.rstrip("/")
    return f"{request.scheme}://{request.host}"


async def discovery_document(request: web.Request) -> dict[str, Any]:
    app = request.app
    identity = app[IDENTITY]
    profile = await app[appkeys.READER].get("node", app[appkeys.PROFILE_ID])
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
        "service_types": sorted(plugins.registry.service_types),
    }


async def well_known_node(request: web.Request) -> web.StreamResponse:
    return json_response(json.dumps(await discovery_document(request), ensure_ascii=False))


async def well_known_nodeinfo(request: web.Request) -> web.StreamResponse:
    links = {"links": [{"rel": NODEINFO_SCHEMA, "href": f"{base_url(request)}/nodeinfo/2.1"}]}
    return json_response(json.dumps(links))


async def nodeinfo(request: web.Request) -> web.StreamResponse:
    identity = request.app[IDENTITY]
    document = {
        "version": "2.1",
        "software": {"name": "regies-federation", "version": __version__},
        # NodeInfo's protocol list is closed; this node speaks none of its entries, only its own protocol,
        # which metadata names.
        "protocols": [],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {"users": {}},
        "metadata": {
            "nodeId": identity.node_id,
            "protocol": f"regies-federation/{PROTOCOL_VERSION}",
            "discovery": f"{base_url(request)}/.well-known/regies-node",
        },
    }
    return web.Response(
        body=json.dumps(document).encode(),
        headers={"Content-Type": f'application/json; profile="{NODEINFO_SCHEMA}#"'},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/.well-known/regies-node", well_known_node, allow_head=False)
    app.router.add_get("/.well-known/nodeinfo", well_known_nodeinfo, allow_head=False)
    app.router.add_get("/nodeinfo/2.1", nodeinfo, allow_head=False)


@dataclass(frozen=True)
class RemoteNode:
    """A discovery document fetched from another node, checked for shape."""

    node_id: str
    name: str
    base_url: str
    keys: list[PublicKeyInfo]
    document: dict[str, Any]


def parse_discovery(document: Any, expected_node_id: str | None = None) -> RemoteNode:
    """Validate another node's discovery document; ValueError naming what is wrong."""
    import re

    if not isinstance(document, dict):
        raise ValueError("the discovery document is not a JSON object")
    node_id = document.get("node_id")
    if not isinstance(node_id, str) or not re.match(NODE_ID_PATTERN, node_id):
        raise ValueError(f"the discovery document has an invalid node_id: {node_id!r}")
    if expected_node_id is not None and node_id != expected_node_id:
        raise ValueError(f"the node at this address is now '{node_id}', not '{expected_node_id}'")
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise ValueError("the discovery document publishes no keys")
    keys = [PublicKeyInfo.from_jwk(jwk) for jwk in raw_keys]
    base = document.get("base_url")
    if not isinstance(base, str) or not base.startswith(("http://", "https://")):
        raise ValueError(f"the discovery document has an invalid base_url: {base!r}")
    return RemoteNode(node_id, str(document.get("name") or node_id), base.rstrip("/"), keys, document)


def accept_rotated_keys(node_id: str, pinned: list[PublicKeyInfo], offered: list[PublicKeyInfo]) -> list[PublicKeyInfo]:
    """The pinned keys plus every offered key whose rotation proof chains to a pinned key.

    Pinned keys keep their identity (a node cannot swap the public value behind a known kid) but take the
    validity the node now publishes for them (rotation shortens the old key's life).
    """
    trusted = {key.kid: key for key in pinned}
    offered_by_kid = {key.kid: key for key in offered}
    for kid, key in list(trusted.items()):
        newer = offered_by_kid.get(kid)
        if newer is not None and newer.x == key.x:
            trusted[kid] = newer
    progress = True
    while progress:
        progress = False
        for key in offered:
            if key.kid not in trusted and verify_rotation(node_id, key, trusted):
                trusted[key.kid] = key
                progress = True
    return list(trusted.values())
