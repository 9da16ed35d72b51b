"""Who may do what on the hub: every endpoint × role (anonymous, hub admin, national and regional
coordinators of the node's region or another one, a member node signing its request) → expected status."""

from __future__ import annotations

from typing import Any

import pytest

from federation.protocol.transport import TransportError
from tests.plugins.test_hub import REPORT, Network, _approve_all, fingerprints_of, network  # noqa: F401
from tests.protocol.conftest import activity

ROLES = ("anonymous", "admin", "national", "regional", "other-region", "member")

# (method, path, expected status per role in ROLES order). rq-paris is in region 11 ("regional"), rq-lyon in 84.
READS = [
    ("GET", "/plugins/hub/directory", (200, 200, 200, 200, 200, 200)),
    ("GET", "/plugins/hub/directory.geojson", (200, 200, 200, 200, 200, 200)),
    ("GET", "/plugins/hub/directory/export?format=csv", (401, 200, 200, 200, 200, 401)),
    ("GET", "/plugins/hub/enrolments", (401, 200, 200, 200, 200, 401)),
    ("GET", "/plugins/hub/reports?period=2025", (401, 200, 200, 200, 200, 401)),
    ("GET", "/plugins/hub/tables/activities?period=2025", (401, 200, 200, 200, 200, 401)),
    ("GET", "/plugins/hub/tables/activities?period=2025&level=national", (401, 200, 200, 403, 403, 401)),
    ("GET", "/plugins/hub/tables/indicators?period=2025&level=regional&region=11", (401, 200, 200, 200, 403, 401)),
    (
        "GET",
        "/plugins/hub/tables/completeness?period=2025&level=departmental&department=69",
        (401, 200, 200, 403, 200, 401),
    ),
    ("GET", "/plugins/hub/tables/missing?period=2025&format=xlsx", (401, 200, 200, 200, 200, 401)),
    ("GET", "/plugins/hub/tables/trends?indicator=volunteers", (401, 200, 200, 200, 200, 401)),
    ("GET", "/plugins/hub/me", (401, 401, 401, 401, 401, 200)),
    ("GET", "/api/v1/reports", (401, 200, 403, 403, 403, 401)),
    ("POST", "/api/v1/activities", (401, 201, 403, 403, 403, 401)),
]


async def _call(net: Network, role: str, method: str, path: str, body: Any = None) -> int:
    if role == "member":
        paris = net.nodes["rq-paris"]
        data = None if body is None else __import__("json").dumps(body).encode()
        try:
            return (await paris.context.client.request(method, f"{net.hub.url}{path}", data)).status
        except TransportError as exc:
            assert exc.status is not None, exc
            return exc.status
    headers = {} if role == "anonymous" else net.auth(role)
    async with net.hub.session.request(method, f"{net.hub.url}{path}", json=body, headers=headers) as response:
        return response.status


@pytest.fixture
async def populated(network: Network) -> Network:  # noqa: F811
    await _approve_all(network)
    from federation.protocol import sender

    for node in network.nodes.values():
        await node.create("activities", activity(1, start_date="2025-01-15"))
        report = await node.create("reports", {**REPORT, "state": "submitted"})
        node.report_id = report["id"]  # type: ignore[attr-defined]
        await sender.push_all(node.context)
    return network


async def test_endpoint_by_role(populated: Network) -> None:
    # One network for every endpoint (a hub and three nodes take seconds to set up): the reads change nothing, and
    # the one write comes last. Every mismatch is listed at once.
    got, expected = {}, {}
    for method, path, statuses in READS:
        body = activity(9) if method == "POST" else None
        got[f"{method} {path}"] = {role: await _call(populated, role, method, path, body) for role in ROLES}
        expected[f"{method} {path}"] = dict(zip(ROLES, statuses, strict=True))
    assert got == expected


# Two-level approval (the default), in order on rq-paris's report: (role, decision, expected status, the hub's state
# of the report afterwards). A regional coordinator validates at regional level, never gives the national acceptance.
REVIEW_STEPS = [
    ("anonymous", "validate", 401, "submitted"),
    ("member", "validate", 401, "submitted"),
    ("other-region", "validate", 403, "submitted"),
    ("regional", "validate", 201, "validated_regional"),
    ("regional", "validate", 403, "validated_regional"),
    ("regional", "return", 403, "validated_regional"),
    ("other-region", "validate", 403, "validated_regional"),
    ("member", "validate", 401, "validated_regional"),
    ("national", "validate", 201, "validated"),
    # Decided: a second decision on that version is refused, whoever asks.
    ("admin", "validate", 409, "validated"),
    ("national", "return", 409, "validated"),
    ("regional", "validate", 409, "validated"),
]


async def _hub_state(net: Network, origin: str) -> str:
    _status, reports = await net.hub_get("/reports?period=2025")
    return str({item["origin"]: item["state"] for item in reports["items"]}[origin])


async def test_review_by_role(populated: Network) -> None:
    paris_report = populated.nodes["rq-paris"].report_id  # type: ignore[attr-defined]
    comment = {"comment": "À corriger"}
    for role, decision, expected, state in REVIEW_STEPS:
        path = f"/plugins/hub/reports/rq-paris/{paris_report}/{decision}"
        assert await _call(populated, role, "POST", path, comment) == expected, (role, decision)
        assert await _hub_state(populated, "rq-paris") == state, (role, decision)


async def test_national_coordinator_accepts_both_levels_in_one(populated: Network) -> None:
    lyon_report = populated.nodes["rq-lyon"].report_id  # type: ignore[attr-defined]
    path = f"/plugins/hub/reports/rq-lyon/{lyon_report}/validate"
    assert await _call(populated, "national", "POST", path) == 201
    assert await _hub_state(populated, "rq-lyon") == "validated"


async def test_enrolment_decisions_by_role(network: Network) -> None:  # noqa: F811
    _status, listing = await network.hub_get("/enrolments?state=pending")
    lyon = next(item for item in listing["items"] if item["node_id"] == "rq-lyon")
    path = f"/plugins/hub/enrolments/{lyon['id']}/approve"
    confirmed = fingerprints_of(network.nodes["rq-lyon"])
    assert await _call(network, "anonymous", "POST", path, confirmed) == 401
    assert await _call(network, "member", "POST", path, confirmed) == 401
    assert await _call(network, "regional", "POST", path, confirmed) == 403
    assert await _call(network, "other-region", "POST", path, confirmed) == 200


async def test_departmental_tables_show_that_department_only(populated: Network) -> None:
    """Each régie has one activity and a report of 12 volunteers: a department's tables count its own régie alone,
    and a coordinator of another region gets a refusal with no figure in it."""
    departmental = "period=2025&level=departmental&department="
    status, paris = await populated.hub_get(f"/tables/activities?{departmental}75", role="regional")
    assert status == 200
    assert [(row["activities"], row["regies"]) for row in paris["rows"] if row["category"] is None] == [(1, 1)]
    status, lyon = await populated.hub_get(f"/tables/indicators?{departmental}69", role="other-region")
    assert status == 200
    volunteers = [(row["total"], row["reports"]) for row in lyon["rows"] if row["indicator"] == "volunteers"]
    assert volunteers == [(12, 1)]
    status, refused = await populated.hub_get(f"/tables/indicators?{departmental}69", role="regional")
    assert status == 403 and "rows" not in refused
