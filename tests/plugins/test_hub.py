"""The hub end to end on 127.0.0.1: joining, pushing reports, reviews flowing back, tables and exports."""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import uuid
from typing import Any

import openpyxl
import pytest
from regies_hub.settings import HubSettings
from regies_hubclient import HubClientSettings
from regies_hubclient.cli import _directory, _join

from federation.protocol import persistence, sender
from federation.protocol.keys import fingerprint
from federation.protocol.puller import pull_peer
from federation.storage.tokens import create_token
from tests.protocol.conftest import Node, NodeFactory, activity

PROFILES = {
    "rq-paris": {"name": "Régie de Belleville", "kind": "quartier", "commune": "75056", "label_status": "labellisee"},
    "rq-lyon": {"name": "Régie de la Duchère", "kind": "quartier", "commune": "69123", "label_status": "en_projet"},
}
REPORT = {"period": {"type": "year", "year": 2025}, "indicators": {"volunteers": 12, "headcount_aided": 30}}


class Network:
    def __init__(self, hub: Node, nodes: dict[str, Node], tokens: dict[str, str]) -> None:
        self.hub, self.nodes, self.tokens = hub, nodes, tokens

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def hub_get(self, path: str, role: str = "national") -> tuple[int, Any]:
        async with self.hub.session.get(f"{self.hub.url}/plugins/hub{path}", headers=self.auth(role)) as response:
            body = await response.json() if "json" in response.content_type else await response.read()
            return response.status, body

    async def hub_post(self, path: str, body: Any = None, role: str = "national") -> tuple[int, Any]:
        url = f"{self.hub.url}/plugins/hub{path}"
        async with self.hub.session.post(url, json=body, headers=self.auth(role)) as response:
            return response.status, await response.json()


async def _join_network(node: Node, hub: Node) -> None:
    hub_key = hub.context.identity.keys.published[0]
    config = HubClientSettings(url=hub.url, fingerprint=fingerprint(hub_key.x))
    args = argparse.Namespace(url=None, fingerprint=None)
    assert await _join(args, node.opened, config) == 0


@pytest.fixture
async def network(make_node: NodeFactory, database_url: str) -> Network:
    """A hub (on SQLite, then on PostgreSQL) and two régies, one in Île-de-France and one in Auvergne-Rhône-Alpes."""
    return await make_network(make_node, database_url, {"enabled": True})


async def make_network(make_node: NodeFactory, database_url: str, hub_settings: dict[str, Any]) -> Network:
    """The `network` fixture's hub and régies, the hub configured with `hub_settings` ([plugins.hub])."""
    hub = await make_node("hub-national", database_url, plugin_settings={"hub": hub_settings})
    engine = hub.context.engine
    tokens = {
        "admin": hub.token,
        "national": await create_token(engine, "coordination nationale", "national"),
        "regional": await create_token(engine, "coordination IDF", "regional", "11"),
        "other-region": await create_token(engine, "coordination AURA", "regional", "84"),
    }
    nodes = {}
    for node_id, profile in PROFILES.items():
        node = await make_node(node_id, plugin_settings={"hubclient": {"url": "http://placeholder"}})
        async with node.session.put(f"{node.url}/api/v1/node", json=profile, headers=node.auth) as response:
            assert response.status == 200, await response.text()
        await _join_network(node, hub)
        nodes[node_id] = node
    return Network(hub, nodes, tokens)


def fingerprints_of(node: Node) -> dict[str, list[str]]:
    """An approval's body: the node's key fingerprints as its operator reads them out from its own keys."""
    return {"fingerprints": [fingerprint(key.x) for key in node.context.identity.keys.published]}


async def _approve_all(network: Network) -> None:
    status, pending = await network.hub_get("/enrolments?state=pending")
    assert status == 200
    for item in pending["items"]:
        confirmed = fingerprints_of(network.nodes[item["node_id"]])
        assert (await network.hub_post(f"/enrolments/{item['id']}/approve", confirmed))[0] == 200


async def test_join_requests_are_scoped_and_decided(network: Network) -> None:
    status, listing = await network.hub_get("/enrolments")
    assert {(item["node_id"], item["state"], item["region"]) for item in listing["items"]} == {
        ("rq-paris", "pending", "11"),
        ("rq-lyon", "pending", "84"),
    }
    status, regional = await network.hub_get("/enrolments", role="regional")
    assert [item["node_id"] for item in regional["items"]] == ["rq-paris"]
    lyon = next(item for item in listing["items"] if item["node_id"] == "rq-lyon")
    lyon_prints = fingerprints_of(network.nodes["rq-lyon"])
    status, _problem = await network.hub_post(f"/enrolments/{lyon['id']}/approve", lyon_prints, role="regional")
    assert status == 403
    status, _problem = await network.hub_post(f"/enrolments/{lyon['id']}/reject", {}, role="other-region")
    assert status == 422  # a comment is required
    status, decided = await network.hub_post(f"/enrolments/{lyon['id']}/reject", {"comment": "doublon"}, "other-region")
    assert (status, decided["state"], decided["comment"]) == (200, "rejected", "doublon")
    paris = next(item for item in listing["items"] if item["node_id"] == "rq-paris")
    paris_prints = fingerprints_of(network.nodes["rq-paris"])
    assert (await network.hub_post(f"/enrolments/{paris['id']}/approve", paris_prints, role="regional"))[0] == 200
    assert (await network.hub_post(f"/enrolments/{paris['id']}/approve", paris_prints))[0] == 409
    members = await persistence.list_peers(network.hub.context.engine)
    assert [(peer.node_id, peer.role) for peer in members] == [("rq-paris", "member")]


async def test_only_members_pushes_are_accepted(network: Network) -> None:
    paris = network.nodes["rq-paris"]
    await paris.create("activities", activity(1))
    assert await sender.push_all(paris.context) == {"target:hub": 0}  # not approved yet: 401, retried later
    (pending,) = await sender.list_outbox(paris.context)
    assert pending.state == "pending" and "401" in (pending.last_error or "")
    await _approve_all(network)
    paris.context.settings.retry_initial_s = 0.01
    async with paris.context.engine.begin() as connection:
        from federation.storage.tables import outbox_batches, push_cursors

        await connection.execute(outbox_batches.update().values(next_attempt_at_us=0))
        await connection.execute(push_cursors.update().values(open_until_us=None))
    assert await sender.push_all(paris.context) == {"target:hub": 1}
    assert len(await network.hub.records("rq-paris")) == 1


async def test_reports_reviews_and_tables(network: Network) -> None:
    await _approve_all(network)
    paris, lyon = network.nodes["rq-paris"], network.nodes["rq-lyon"]
    for node, count in ((paris, 3), (lyon, 2)):
        for n in range(count):
            await node.create("activities", activity(n, start_date="2025-02-01"))
        report = await node.create("reports", {**REPORT, "state": "submitted"})
        node.report_id = report["id"]  # type: ignore[attr-defined]
        assert await sender.push_all(node.context) == {"target:hub": 1}

    status, reports = await network.hub_get("/reports?period=2025")
    assert {item["origin"]: item["state"] for item in reports["items"]} == {
        "rq-paris": "submitted",
        "rq-lyon": "submitted",
    }
    status, regional_reports = await network.hub_get("/reports?period=2025", role="regional")
    assert [item["origin"] for item in regional_reports["items"]] == ["rq-paris"]

    assert (await network.hub_post(f"/reports/rq-paris/{paris.report_id}/validate", role="regional"))[0] == 201  # type: ignore[attr-defined]
    status, _ = await network.hub_post(f"/reports/rq-lyon/{lyon.report_id}/return", {}, role="national")  # type: ignore[attr-defined]
    assert status == 422
    comment = {"comment": "Le nombre de bénévoles semble inversé avec les contrats aidés."}
    assert (await network.hub_post(f"/reports/rq-lyon/{lyon.report_id}/return", comment))[0] == 201  # type: ignore[attr-defined]
    assert (await network.hub_post(f"/reports/rq-lyon/{lyon.report_id}/validate", role="regional"))[0] == 403  # type: ignore[attr-defined]

    # The decisions travel back: each node pulls the hub's feed and records the decision on its own report.
    for node in (paris, lyon):
        hub_peer = await persistence.get_peer(node.context.engine, "hub-national")
        assert hub_peer is not None and hub_peer.is_hub
        await pull_peer(node.context, hub_peer)
    # Two-level approval (the default): the regional validation is recorded, the report stays submitted and locked
    # until the national level accepts it.
    status, validated = await paris.get(f"/api/v1/reports/{paris.report_id}", headers=paris.auth)  # type: ignore[attr-defined]
    assert validated["state"] == "submitted"
    assert validated["audit"][-1]["actor"] == "hub:coordination IDF"
    assert (validated["audit"][-1]["action"], validated["audit"][-1]["level"]) == ("validated", "regional")
    await sender.push_all(paris.context)
    status, reports = await network.hub_get("/reports?period=2025")
    assert {item["origin"]: item["state"] for item in reports["items"]}["rq-paris"] == "validated_regional"
    assert (await network.hub_post(f"/reports/rq-paris/{paris.report_id}/validate", role="regional"))[0] == 403  # type: ignore[attr-defined]
    assert (await network.hub_post(f"/reports/rq-paris/{paris.report_id}/validate", role="national"))[0] == 201  # type: ignore[attr-defined]
    paris_hub = await persistence.get_peer(paris.context.engine, "hub-national")
    assert paris_hub is not None
    await pull_peer(paris.context, paris_hub)
    status, validated = await paris.get(f"/api/v1/reports/{paris.report_id}", headers=paris.auth)  # type: ignore[attr-defined]
    assert validated["state"] == "validated"
    assert validated["audit"][-1]["actor"] == "hub:coordination nationale"
    assert validated["audit"][-1]["level"] == "national"
    status, returned = await lyon.get(f"/api/v1/reports/{lyon.report_id}", headers=lyon.auth)  # type: ignore[attr-defined]
    assert returned["state"] == "returned" and "bénévoles" in returned["audit"][-1]["comment"]
    async with paris.session.put(
        f"{paris.url}/api/v1/reports/{paris.report_id}",
        json=REPORT,
        headers=paris.auth,  # type: ignore[attr-defined]
    ) as response:
        assert response.status == 409  # validated reports are locked
    fixed = {**REPORT, "indicators": {"volunteers": 30, "headcount_aided": 12}, "state": "submitted"}
    await lyon.put("reports", lyon.report_id, fixed)  # type: ignore[attr-defined]
    for node in (paris, lyon):
        await sender.push_all(node.context)
    status, reports = await network.hub_get("/reports?period=2025")
    assert {item["origin"]: item["state"] for item in reports["items"]} == {
        "rq-paris": "validated",
        "rq-lyon": "submitted",
    }

    status, table = await network.hub_get("/tables/activities?period=2025")
    totals = [row for row in table["rows"] if row["area"] is None and row["category"] is None]
    assert totals == [{"area": None, "category": None, "service_type": None, "activities": 5, "regies": 2}]
    by_region = {row["area"]: row["activities"] for row in table["rows"] if row["category"] is None and row["area"]}
    assert by_region == {"11": 3, "84": 2}
    status, regional = await network.hub_get("/tables/activities?period=2025", role="regional")
    assert {row["area"] for row in regional["rows"] if row["area"]} == {"75"}
    assert (await network.hub_get("/tables/activities?period=2025&level=national", role="regional"))[0] == 403

    status, indicators = await network.hub_get("/tables/indicators?period=2025")
    volunteers = [row for row in indicators["rows"] if row["indicator"] == "volunteers" and row["area"] is None]
    assert volunteers and volunteers[0]["total"] == 42 and volunteers[0]["reports"] == 2

    status, complete = await network.hub_get("/tables/completeness?period=2025")
    # Submitted today: on time while today is within 2025's deadline (a period is reported once it is over).
    deadline = datetime.date(2025, 12, 31) + datetime.timedelta(days=HubSettings().report_deadline_days)
    on_time = int(datetime.date.today() <= deadline)
    assert {row["area"]: (row["expected"], row["received"], row["on_time"]) for row in complete["rows"]} == {
        "11": (1, 1, on_time),
        "84": (1, 1, on_time),
    }
    status, complete_2025 = await network.hub_get("/tables/completeness?period=2024")
    assert {row["node_id"] for row in complete_2025["missing"]} == {"rq-paris", "rq-lyon"}

    status, trend = await network.hub_get("/tables/trends?indicator=volunteers")
    assert [(row["period"], row["total"], row["reports"], row["aggregation"]) for row in trend["rows"]] == [
        ("2025", 42.0, 2, "sum")
    ]

    status, raw = await network.hub_get("/tables/activities?period=2025&format=csv")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[-1]["Activités"] == "5"
    status, raw = await network.hub_get("/tables/indicators?period=2025&format=xlsx&lang=en")
    sheet = openpyxl.load_workbook(io.BytesIO(raw)).active
    assert [cell.value for cell in next(sheet.iter_rows(max_row=1))][:3] == ["Area", "Field of action", "Service type"]


async def test_signed_directory_lets_members_trust_each_other(network: Network) -> None:
    await _approve_all(network)
    paris = network.nodes["rq-paris"]
    hub_peer = await persistence.get_peer(paris.context.engine, "hub-national")
    assert await _directory(argparse.Namespace(pull=False), paris.opened, hub_peer) == 0
    known = {peer.node_id: peer for peer in await persistence.list_peers(paris.context.engine)}
    assert set(known) == {"hub-national", "rq-lyon"}
    assert not known["rq-lyon"].pull
    status, _geojson = await network.hub_get("/directory.geojson", role="national")
    assert status == 200


async def test_coordinator_endpoints_need_a_coordinator(network: Network) -> None:
    for path in ("/enrolments", "/reports?period=2024", "/tables/activities?period=2024", "/directory/export"):
        async with network.hub.session.get(f"{network.hub.url}/plugins/hub{path}") as response:
            assert response.status == 401, path


async def test_directory_geojson_places_members(network: Network) -> None:
    await _approve_all(network)
    paris = network.nodes["rq-paris"]
    profile = {**PROFILES["rq-paris"], "location": {"lat": 48.8722, "lon": 2.3889}}
    async with paris.session.put(f"{paris.url}/api/v1/node", json=profile, headers=paris.auth) as response:
        assert response.status == 200
    await sender.push_all(paris.context)
    async with network.hub.session.get(f"{network.hub.url}/plugins/hub/directory.geojson") as response:
        assert response.content_type == "application/geo+json"
        collection = await response.json(content_type=None)
    features = {feature["properties"]["node_id"]: feature for feature in collection["features"]}
    assert features["rq-paris"]["geometry"] == {"type": "Point", "coordinates": [2.3889, 48.8722]}
    assert features["rq-lyon"]["geometry"] is None


async def test_pages_without_reviews_cost_the_hub_client_no_database_read() -> None:
    # A pull of a régie's activities runs this hook for every page: it must return before looking up the peer
    # (the context has no database here: a lookup would raise).
    from regies_hubclient.sync import apply_reviews

    from federation.protocol.apply import StoredDocuments
    from federation.storage.mapping import replica_tombstone_values

    moment = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    rows = [replica_tombstone_values("activity", "rq-paris", str(uuid.uuid4()), 2, moment) for _ in range(3)]
    no_database = argparse.Namespace(engine=None, node_id="rq-lyon")
    await apply_reviews("rq-paris", StoredDocuments(rows), no_database)
    with pytest.raises(AttributeError):  # a review among them: now the peer is looked up
        await apply_reviews("rq-paris", StoredDocuments([*rows, ("review", *rows[0][1:])]), no_database)
