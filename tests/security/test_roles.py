"""Every endpoint × every role → the expected status, checked against the routers of a régie's node and a hub.

Roles: no credentials, the node's admin token, national and regional coordinator tokens, a peer node and the hub
signing their requests (RFC 9421). Node endpoints are called on a régie's node that pinned both signers' keys;
/plugins/hub/ endpoints on the hub, where the peer is a member and "hub" is the hub signing to itself (it is not
its own peer). An endpoint added without an entry here fails the test.
Signed-request faults (replayed, expired, tampered, spoofed origin, unknown key) are in tests/protocol/test_faults.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from federation.protocol.transport import TransportError
from federation.storage.tokens import create_token
from tests.protocol.conftest import Node, NodeFactory, activity

ROLES = ("anonymous", "admin", "national", "regional", "peer", "hub")
# Pages of the web UI authenticate with a session cookie, not these credentials: tests/web covers the core's, and
# each plugin's tests its own pages (those it registers with Registry.add_web_pages, read from the node's registry).
CORE_WEB_UI_PREFIXES = ("/admin", "/login", "/logout", "/static/")
RECORD = "00000000-0000-4000-8000-000000000000"

# (method, route as the router names it) → (concrete path, expected status per role in ROLES order).
EXPECTED: dict[tuple[str, str], tuple[str, tuple[int, ...]]] = {
    ("GET", "/"): ("/", (200, 200, 200, 200, 200, 200)),
    ("GET", "/healthz"): ("/healthz", (200, 200, 200, 200, 200, 200)),
    ("GET", "/readyz"): ("/readyz", (200, 200, 200, 200, 200, 200)),
    ("GET", "/openapi.json"): ("/openapi.json", (200, 200, 200, 200, 200, 200)),
    ("GET", "/docs"): ("/docs", (200, 200, 200, 200, 200, 200)),
    # The régie's logo, public like the page that shows it; none uploaded here.
    ("GET", "/logo"): ("/logo", (404, 404, 404, 404, 404, 404)),
    ("HEAD", "/logo"): ("/logo", (404, 404, 404, 404, 404, 404)),
    ("GET", "/docs/assets"): ("/docs/assets/swagger-ui.css", (200, 200, 200, 200, 200, 200)),
    ("HEAD", "/docs/assets"): ("/docs/assets/swagger-ui.css", (200, 200, 200, 200, 200, 200)),
    ("GET", "/metrics"): ("/metrics", (200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/node"): ("/api/v1/node", (200, 200, 200, 200, 200, 200)),
    ("PUT", "/api/v1/node"): ("/api/v1/node", (401, 422, 403, 403, 401, 401)),
    ("GET", "/api/v1/activities"): ("/api/v1/activities", (200, 200, 200, 200, 200, 200)),
    ("POST", "/api/v1/activities"): ("/api/v1/activities", (401, 201, 403, 403, 401, 401)),
    ("GET", "/api/v1/activities/{id}"): (f"/api/v1/activities/{RECORD}", (404, 404, 404, 404, 404, 404)),
    ("PUT", "/api/v1/activities/{id}"): (f"/api/v1/activities/{RECORD}", (401, 404, 403, 403, 401, 401)),
    ("DELETE", "/api/v1/activities/{id}"): (f"/api/v1/activities/{RECORD}", (401, 404, 403, 403, 401, 401)),
    ("GET", "/api/v1/resources"): ("/api/v1/resources", (200, 200, 200, 200, 200, 200)),
    ("POST", "/api/v1/resources"): ("/api/v1/resources", (401, 422, 403, 403, 401, 401)),
    ("GET", "/api/v1/resources/{id}"): (f"/api/v1/resources/{RECORD}", (404, 404, 404, 404, 404, 404)),
    ("PUT", "/api/v1/resources/{id}"): (f"/api/v1/resources/{RECORD}", (401, 422, 403, 403, 401, 401)),
    ("DELETE", "/api/v1/resources/{id}"): (f"/api/v1/resources/{RECORD}", (401, 404, 403, 403, 401, 401)),
    ("GET", "/api/v1/reports"): ("/api/v1/reports", (401, 200, 403, 403, 401, 401)),
    ("POST", "/api/v1/reports"): ("/api/v1/reports", (401, 422, 403, 403, 401, 401)),
    ("GET", "/api/v1/reports/{id}"): (f"/api/v1/reports/{RECORD}", (401, 404, 403, 403, 401, 401)),
    ("PUT", "/api/v1/reports/{id}"): (f"/api/v1/reports/{RECORD}", (401, 422, 403, 403, 401, 401)),
    ("DELETE", "/api/v1/reports/{id}"): (f"/api/v1/reports/{RECORD}", (401, 404, 403, 403, 401, 401)),
    ("GET", "/api/v1/report-form"): ("/api/v1/report-form?period=2026", (401, 200, 403, 403, 401, 401)),
    ("GET", "/api/v1/plugins"): ("/api/v1/plugins", (200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/service-types"): ("/api/v1/service-types", (200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/indicators"): ("/api/v1/indicators", (200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/export/{collection}"): ("/api/v1/export/reports?format=csv", (401, 200, 403, 403, 401, 401)),
    ("GET", "/.well-known/regies-node"): ("/.well-known/regies-node", (200, 200, 200, 200, 200, 200)),
    ("GET", "/federation/v1/changes"): ("/federation/v1/changes", (401, 401, 401, 401, 200, 200)),
    ("POST", "/federation/v1/inbox"): ("/federation/v1/inbox", (401, 401, 401, 401, 422, 422)),
    # Unsigned: refused before the body is read. Signed: the body must carry the signing key (here it is empty).
    ("POST", "/plugins/hub/enrolments"): ("/plugins/hub/enrolments", (401, 401, 401, 401, 422, 422)),
    ("GET", "/plugins/hub/enrolments"): ("/plugins/hub/enrolments", (401, 200, 200, 200, 401, 401)),
    ("POST", "/plugins/hub/enrolments/{id}/approve"): (
        "/plugins/hub/enrolments/999/approve",
        (401, 404, 404, 404, 401, 401),
    ),
    ("POST", "/plugins/hub/enrolments/{id}/reject"): (
        "/plugins/hub/enrolments/999/reject",
        (401, 404, 404, 404, 401, 401),
    ),
    ("POST", "/plugins/hub/members/{node_id}/revoke"): (
        "/plugins/hub/members/rq-none/revoke",
        (401, 404, 404, 404, 401, 401),
    ),
    # Only national coordinators (and the hub's administrator) record a member's label; the empty body is a 422.
    ("PUT", "/plugins/hub/members/{node_id}/label"): (
        "/plugins/hub/members/rq-none/label",
        (401, 422, 422, 403, 401, 401),
    ),
    ("GET", "/plugins/hub/directory"): ("/plugins/hub/directory", (200, 200, 200, 200, 200, 200)),
    ("GET", "/plugins/hub/directory/export"): (
        "/plugins/hub/directory/export?format=csv",
        (401, 200, 200, 200, 401, 401),
    ),
    ("GET", "/plugins/hub/directory.geojson"): ("/plugins/hub/directory.geojson", (200, 200, 200, 200, 200, 200)),
    ("GET", "/plugins/hub/reports"): ("/plugins/hub/reports?period=2026", (401, 200, 200, 200, 401, 401)),
    ("POST", "/plugins/hub/reports/{origin}/{id}/validate"): (
        f"/plugins/hub/reports/rq-none/{RECORD}/validate",
        (401, 404, 404, 404, 401, 401),
    ),
    ("POST", "/plugins/hub/reports/{origin}/{id}/return"): (
        f"/plugins/hub/reports/rq-none/{RECORD}/return",
        (401, 404, 404, 404, 401, 401),
    ),
    ("GET", "/plugins/hub/me"): ("/plugins/hub/me", (401, 401, 401, 401, 200, 401)),
    ("GET", "/plugins/hub/tables/activities"): (
        "/plugins/hub/tables/activities?period=2026",
        (401, 200, 200, 200, 401, 401),
    ),
    ("GET", "/plugins/hub/tables/indicators"): (
        "/plugins/hub/tables/indicators?period=2026",
        (401, 200, 200, 200, 401, 401),
    ),
    ("GET", "/plugins/hub/tables/trends"): (
        "/plugins/hub/tables/trends?indicator=volunteers",
        (401, 200, 200, 200, 401, 401),
    ),
    ("GET", "/plugins/hub/tables/completeness"): (
        "/plugins/hub/tables/completeness?period=2026",
        (401, 200, 200, 200, 401, 401),
    ),
    ("GET", "/plugins/hub/tables/missing"): ("/plugins/hub/tables/missing?period=2026", (401, 200, 200, 200, 401, 401)),
    # Open data and lending plugins (public documents; the lending API needs the admin token or a peer).
    ("DELETE", "/plugins/lending/calendar-token"): ("/plugins/lending/calendar-token", (401, 204, 403, 403, 401, 401)),
    ("GET", "/api/v1/datainclusion/excluded"): ("/api/v1/datainclusion/excluded", (200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/datainclusion/services"): ("/api/v1/datainclusion/services", (200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/datainclusion/structures"): ("/api/v1/datainclusion/structures", (200, 200, 200, 200, 200, 200)),
    ("GET", "/catalog.jsonld"): ("/catalog.jsonld", (404, 404, 404, 404, 404, 404)),
    ("GET", "/feeds/activities.atom"): ("/feeds/activities.atom", (200, 200, 200, 200, 200, 200)),
    ("GET", "/feeds/activities.ics"): ("/feeds/activities.ics", (200, 200, 200, 200, 200, 200)),
    ("GET", "/hsds"): ("/hsds", (200, 200, 200, 200, 200, 200)),
    ("GET", "/hsds/"): ("/hsds/", (200, 200, 200, 200, 200, 200)),
    ("GET", "/hsds/organizations"): ("/hsds/organizations", (200, 200, 200, 200, 200, 200)),
    ("GET", "/hsds/organizations/{id}"): (f"/hsds/organizations/{RECORD}", (404, 404, 404, 404, 404, 404)),
    ("GET", "/hsds/profile"): ("/hsds/profile", (200, 200, 200, 200, 200, 200)),
    ("GET", "/hsds/service_at_locations"): ("/hsds/service_at_locations", (200, 200, 200, 200, 200, 200)),
    ("GET", "/hsds/service_at_locations/{id}"): (
        f"/hsds/service_at_locations/{RECORD}",
        (404, 404, 404, 404, 404, 404),
    ),
    ("GET", "/hsds/services"): ("/hsds/services", (200, 200, 200, 200, 200, 200)),
    ("GET", "/hsds/services/{id}"): (f"/hsds/services/{RECORD}", (404, 404, 404, 404, 404, 404)),
    ("GET", "/hsds/taxonomies"): ("/hsds/taxonomies", (200, 200, 200, 200, 200, 200)),
    ("GET", "/hsds/taxonomies/{id}"): (f"/hsds/taxonomies/{RECORD}", (404, 404, 404, 404, 404, 404)),
    ("GET", "/hsds/taxonomy_terms"): ("/hsds/taxonomy_terms", (200, 200, 200, 200, 200, 200)),
    ("GET", "/hsds/taxonomy_terms/{id}"): (f"/hsds/taxonomy_terms/{RECORD}", (404, 404, 404, 404, 404, 404)),
    ("GET", "/plugins/hub/opendata/{dataset}"): ("/plugins/hub/opendata/directory", (404, 404, 404, 404, 404, 404)),
    ("GET", "/plugins/lending/calendar/{id}/availability.ics"): (
        f"/plugins/lending/calendar/{RECORD}/availability.ics",
        (404, 404, 404, 404, 404, 404),
    ),
    ("GET", "/plugins/lending/calendar/{id}/loans.ics"): (
        f"/plugins/lending/calendar/{RECORD}/loans.ics",
        (404, 404, 404, 404, 404, 404),
    ),
    ("GET", "/plugins/lending/loans"): ("/plugins/lending/loans", (401, 200, 403, 403, 401, 401)),
    ("GET", "/plugins/lending/loans/{origin}/{id}"): (
        f"/plugins/lending/loans/rq-none/{RECORD}",
        (401, 404, 403, 403, 401, 401),
    ),
    ("POST", "/plugins/lending/calendar-token"): ("/plugins/lending/calendar-token", (401, 201, 403, 403, 401, 401)),
    ("POST", "/plugins/lending/federation/check"): (
        "/plugins/lending/federation/check",
        (401, 401, 401, 401, 422, 422),
    ),
    ("POST", "/plugins/lending/loans/{origin}/{id}/accept"): (
        f"/plugins/lending/loans/rq-none/{RECORD}/accept",
        (401, 404, 403, 403, 401, 401),
    ),
    ("POST", "/plugins/lending/loans/{origin}/{id}/cancel"): (
        f"/plugins/lending/loans/rq-none/{RECORD}/cancel",
        (401, 404, 403, 403, 401, 401),
    ),
    ("POST", "/plugins/lending/loans/{origin}/{id}/decline"): (
        f"/plugins/lending/loans/rq-none/{RECORD}/decline",
        (401, 404, 403, 403, 401, 401),
    ),
    ("POST", "/plugins/lending/loans/{origin}/{id}/picked-up"): (
        f"/plugins/lending/loans/rq-none/{RECORD}/picked-up",
        (401, 404, 403, 403, 401, 401),
    ),
    ("POST", "/plugins/lending/loans/{origin}/{id}/returned"): (
        f"/plugins/lending/loans/rq-none/{RECORD}/returned",
        (401, 404, 403, 403, 401, 401),
    ),
    ("POST", "/plugins/lending/requests"): ("/plugins/lending/requests", (401, 422, 403, 403, 401, 401)),
}
# aiohttp answers HEAD on every GET route of a plugin's sub-application like the GET.
HEAD_OF_GET = {("HEAD", route) for method, route in EXPECTED if method == "GET" and route.startswith("/plugins/")}


def router_endpoints(app: Any, prefix: str = "") -> set[tuple[str, str]]:
    """(method, route) of every route, sub-applications' included."""
    found: set[tuple[str, str]] = set()
    for route in app.router.routes():
        resource = route.resource
        sub_app = getattr(resource, "_app", None)
        if route.method == "*" and sub_app is not None:
            found |= router_endpoints(sub_app, resource.canonical)
        elif resource is not None:
            found.add((route.method, prefix + resource.canonical if prefix else resource.canonical))
    return found


def _body(method: str, route: str) -> Any:
    if method in ("POST", "PUT") and route.startswith("/api/v1/activities"):
        return activity(1)
    if method in ("POST", "PUT"):
        return {}
    return None


async def _status(hub: Node, peer: Node, tokens: dict[str, str], role: str, method: str, path: str, body: Any) -> int:
    if role == "peer":
        data = None if body is None else json.dumps(body).encode()
        try:
            return (await peer.context.client.request(method, f"{hub.url}{path}", data)).status
        except TransportError as exc:
            assert exc.status is not None, exc
            return exc.status
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {tokens[role]}"}
    async with hub.session.request(method, f"{hub.url}{path}", json=body, headers=headers) as response:
        return response.status


@dataclass
class Network:
    node: Node
    hub: Node
    peer: Node
    tokens: dict[str, dict[str, str]]  # target node id → role → bearer token

    def target(self, route: str) -> Node:
        return self.hub if route.startswith("/plugins/hub/") else self.node


async def _coordinator_tokens(target: Node) -> dict[str, str]:
    engine = target.context.engine
    return {
        "admin": target.token,
        "national": await create_token(engine, "coordination nationale", "national"),
        "regional": await create_token(engine, "coordination IDF", "regional", "11"),
    }


@pytest.fixture
async def network(make_node: NodeFactory) -> Network:
    hub = await make_node("hub-roles", plugin_settings={"hub": {"enabled": True}})
    node = await make_node("rq-target")
    peer = await make_node("rq-peer")
    await hub.add_peer(peer)
    await node.add_peer(peer)
    await node.add_peer(hub, role="hub")
    tokens = {target.node_id: await _coordinator_tokens(target) for target in (node, hub)}
    return Network(node, hub, peer, tokens)


async def _status(net: Network, role: str, method: str, route: str, path: str) -> int:
    target = net.target(route)
    body = _body(method, route)
    if role in ("peer", "hub"):
        signer = net.peer if role == "peer" else net.hub
        data = None if body is None else json.dumps(body).encode()
        try:
            return (await signer.context.client.request(method, f"{target.url}{path}", data)).status
        except TransportError as exc:
            assert exc.status is not None, exc
            return exc.status
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {net.tokens[target.node_id][role]}"}
    async with target.session.request(method, f"{target.url}{path}", json=body, headers=headers) as response:
        return response.status


def is_web_ui_route(target: Node, route: str) -> bool:
    """A page of the web UI: the core's, or under the prefix of pages a plugin registered on this node."""
    plugin_prefixes = [pages.prefix for pages in target.context.registry.web_pages.values()]
    return route.startswith(CORE_WEB_UI_PREFIXES) or any(
        route == prefix or route.startswith(f"{prefix}/") for prefix in plugin_prefixes
    )


async def test_every_endpoint_has_an_entry(network: Network) -> None:
    endpoints = {
        (method, route)
        for target in (network.node, network.hub)
        for method, route in router_endpoints(target.server.app)
        if not is_web_ui_route(target, route)
    }
    missing = sorted(endpoints - set(EXPECTED) - HEAD_OF_GET)
    assert not missing, f"add these endpoints to EXPECTED with the status each role gets: {missing}"
    assert not sorted(set(EXPECTED) - endpoints), "EXPECTED names endpoints the routers no longer have"


async def test_endpoint_by_role(network: Network) -> None:
    got = {
        endpoint: tuple([await _status(network, role, *endpoint, path) for role in ROLES])
        for endpoint, (path, _expected) in EXPECTED.items()
    }
    wrong = {
        f"{method} {route}": dict(zip(ROLES, got[(method, route)], strict=True))
        for (method, route), (_path, expected) in EXPECTED.items()
        if got[(method, route)] != expected
    }
    assert not wrong, wrong
