"""Two-level approval through the real hub API and régie nodes: what each level records, what the régie's node
receives, what the national tables count with `?approved=national`, and the one-level setting."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from federation.protocol import persistence, sender
from federation.protocol.puller import pull_peer
from federation.storage import migrate
from tests.plugins.test_hub import REPORT, Network, _approve_all, make_network, network  # noqa: F401
from tests.protocol.conftest import Node, NodeFactory


async def _submit_all(net: Network) -> None:
    await _approve_all(net)
    for node in net.nodes.values():
        report = await node.create("reports", {**REPORT, "state": "submitted"})
        node.report_id = report["id"]  # type: ignore[attr-defined]
        assert await sender.push_all(node.context) == {"target:hub": 1}


async def _pull_from_hub(node: Node) -> dict[str, Any]:
    """The régie's node reads the hub's feed, then its own report as it now stands."""
    hub_peer = await persistence.get_peer(node.context.engine, "hub-national")
    assert hub_peer is not None
    await pull_peer(node.context, hub_peer)
    status, report = await node.get(f"/api/v1/reports/{node.report_id}", headers=node.auth)  # type: ignore[attr-defined]
    assert status == 200
    return dict(report)


def _steps(report: dict[str, Any]) -> list[tuple[str, str, str | None, str | None]]:
    return [
        (entry["action"], entry["to_state"], entry.get("level"), entry.get("comment"))
        for entry in report["audit"]
        if entry["actor"].startswith("hub:")
    ]


async def test_regie_node_receives_both_steps(network: Network) -> None:  # noqa: F811
    await _submit_all(network)
    paris = network.nodes["rq-paris"]
    path = f"/reports/rq-paris/{paris.report_id}"  # type: ignore[attr-defined]
    status, regional = await network.hub_post(f"{path}/validate", {"comment": "Chiffres cohérents"}, role="regional")
    assert status == 201
    assert (regional["decision"], regional["level"], regional["reviewer_role"]) == ("validated", "regional", "regional")
    # The national level decides before the régie's node has even heard of the regional validation.
    status, national = await network.hub_post(f"{path}/validate", role="national")
    assert status == 201 and (national["level"], national["reviewer"]) == ("national", "coordination nationale")

    report = await _pull_from_hub(paris)
    assert report["state"] == "validated"
    assert _steps(report) == [
        ("validated", "submitted", "regional", "Chiffres cohérents"),
        ("validated", "validated", "national", None),
    ]
    assert [entry["actor"] for entry in report["audit"][-2:]] == ["hub:coordination IDF", "hub:coordination nationale"]

    # Once the node sends its report back, the hub still shows it accepted, with each step audited.
    await sender.push_all(paris.context)
    _status, reports = await network.hub_get("/reports?period=2025")
    assert {item["origin"]: item["state"] for item in reports["items"]}["rq-paris"] == "validated"


async def test_regie_sees_the_regional_validation_on_its_report_page(
    network: Network,  # noqa: F811
    regies_login: Any,
) -> None:
    await _submit_all(network)
    paris = network.nodes["rq-paris"]
    path = f"/reports/rq-paris/{paris.report_id}"  # type: ignore[attr-defined]
    assert (await network.hub_post(f"{path}/validate", {"comment": "Vu en région"}, role="regional"))[0] == 201
    await _pull_from_hub(paris)
    client: TestClient[Any, Any] = TestClient(paris.server)
    await client.start_server()
    try:
        assert (await regies_login(client, "admin")).status == 303
        page = await (await client.get(f"/admin/reports/{paris.report_id}")).text()  # type: ignore[attr-defined]
    finally:
        await client.session.close()
    assert "hub:coordination IDF : Validé au niveau régional — Vu en région" in page


async def test_return_at_national_level_reaches_the_regie(network: Network) -> None:  # noqa: F811
    await _submit_all(network)
    lyon = network.nodes["rq-lyon"]
    path = f"/reports/rq-lyon/{lyon.report_id}"  # type: ignore[attr-defined]
    assert (await network.hub_post(f"{path}/validate", role="other-region"))[0] == 201
    report = await _pull_from_hub(lyon)
    assert report["state"] == "submitted"  # locked: awaiting the national level
    await sender.push_all(lyon.context)
    assert (await network.hub_post(f"{path}/return", {"comment": "Bénévoles à revoir"}, role="national"))[0] == 201
    report = await _pull_from_hub(lyon)
    assert report["state"] == "returned"
    assert _steps(report)[-1] == ("returned", "returned", "national", "Bénévoles à revoir")


async def test_national_tables_can_keep_only_accepted_reports(network: Network) -> None:  # noqa: F811
    await _submit_all(network)
    paris = network.nodes["rq-paris"]
    assert (await network.hub_post(f"/reports/rq-paris/{paris.report_id}/validate", role="regional"))[0] == 201  # type: ignore[attr-defined]

    def volunteers(table: dict[str, Any]) -> tuple[float, int]:
        row = next(r for r in table["rows"] if r["indicator"] == "volunteers" and r["area"] is None)
        return row["total"], row["reports"]

    _status, every = await network.hub_get("/tables/indicators?period=2025")
    assert volunteers(every) == (24, 2)  # the default is unchanged: every received report
    # Validated at regional level only: not yet in the nationally accepted figures.
    _status, accepted = await network.hub_get("/tables/indicators?period=2025&approved=national")
    assert [row for row in accepted["rows"] if row["indicator"] == "volunteers"] == []

    assert (await network.hub_post(f"/reports/rq-paris/{paris.report_id}/validate", role="national"))[0] == 201  # type: ignore[attr-defined]
    for _round in range(2):  # before and after the régie's node records the decision and sends its report back
        _status, accepted = await network.hub_get("/tables/indicators?period=2025&approved=national")
        assert volunteers(accepted) == (12, 1)
        _status, trend = await network.hub_get("/tables/trends?indicator=volunteers&approved=national")
        assert [(row["period"], row["total"], row["reports"]) for row in trend["rows"]] == [("2025", 12, 1)]
        _status, listing = await network.hub_get("/reports?period=2025&approved=national")
        assert [item["origin"] for item in listing["items"]] == ["rq-paris"]
        await _pull_from_hub(paris)
        await sender.push_all(paris.context)

    status, problem = await network.hub_get("/tables/indicators?period=2025&approved=regional")
    assert status == 400 and problem["errors"][0]["pointer"] == "/approved"


async def test_one_level_approval(make_node: NodeFactory, database_url: str) -> None:
    net = await make_network(make_node, database_url, {"enabled": True, "approval_levels": 1})
    await _submit_all(net)
    paris = net.nodes["rq-paris"]
    status, review = await net.hub_post(f"/reports/rq-paris/{paris.report_id}/validate", role="regional")  # type: ignore[attr-defined]
    assert status == 201 and review.get("level") is None  # as before two-level approval: a final decision
    report = await _pull_from_hub(paris)
    assert report["state"] == "validated" and _steps(report) == [("validated", "validated", None, None)]


@pytest.mark.parametrize("levels", [0, 3, "2"])
async def test_approval_levels_typo_fails_at_boot(make_node: NodeFactory, database_url: str, levels: Any) -> None:
    with pytest.raises(Exception, match="approval_levels"):
        await make_node("hub-typo", database_url, plugin_settings={"hub": {"enabled": True, "approval_levels": levels}})


async def test_reviews_written_before_their_figures_were_kept_get_their_reports_figures(network: Network) -> None:  # noqa: F811
    await _submit_all(network)
    paris = network.nodes["rq-paris"]
    assert (await network.hub_post(f"/reports/rq-paris/{paris.report_id}/validate", role="national"))[0] == 201  # type: ignore[attr-defined]
    # The hub as it was at revision 0014: its reviews kept nothing of what they decided on.
    engine = network.hub.context.engine
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE review_figures"))
        await connection.execute(text("DROP TABLE record_revisions"))  # revision 0016
        await connection.execute(text("UPDATE alembic_version SET version_num = '0014'"))
    assert await migrate.upgrade(engine) == ("0014", migrate.HEAD_REVISION)
    # Upgraded, the review keeps the figures the report has: still validated and counted.
    _status, listing = await network.hub_get("/reports?period=2025&approved=national")
    assert [(item["origin"], item["state"]) for item in listing["items"]] == [("rq-paris", "validated")]
    _status, accepted = await network.hub_get("/tables/indicators?period=2025&approved=national")
    assert [row["total"] for row in accepted["rows"] if row["indicator"] == "volunteers" and row["area"] is None] == [
        12
    ]
