"""Members attacking each other and the hub through their own nodes (issue 20: record-id squatting, self-validated
reports, forged reviews, several profiles, absurd indicator values), against real nodes and a real hub."""

from __future__ import annotations

import io
import json
import math
import re
import uuid
from typing import Any

import openpyxl
import pytest
from regies_hubclient.sync import send_to_hub
from sqlalchemy import select, text

from federation import appkeys
from federation.protocol import persistence, sender
from federation.protocol.puller import PullError, pull_peer
from federation.protocol.transport import TransportError
from federation.schema.records import Activity, AuditEntry, NodeProfile, PeriodReport, ReportReview
from federation.storage.tables import records
from tests.plugins.test_hub import REPORT, Network, _approve_all
from tests.plugins.test_hub import network as network
from tests.plugins.test_hub_web import browse as browse
from tests.plugins.test_hub_web import text as page_text
from tests.protocol.conftest import Node, NodeFactory, activity

ENVELOPE = ("origin", "id", "version", "updated_at", "deleted")


async def _pull(node: Node, origin: str) -> None:
    peer = await persistence.get_peer(node.context.engine, origin)
    assert peer is not None
    await pull_peer(node.context, peer)


async def _write_own(node: Node, kind: str, model: Any, fields: dict[str, Any], record_id: str | None = None) -> Any:
    """What a member's modified node can write as its own record: any document of its origin, any id it picks."""
    store = node.server.app[appkeys.STORE]
    return await store.create_built(
        kind,
        lambda _previous, envelope: model.model_validate({**fields, **envelope}),
        record_id=uuid.UUID(record_id) if record_id else None,
    )


async def _stored(node: Node, kind: str, origin: str) -> list[dict[str, Any]]:
    async with node.context.engine.connect() as connection:
        rows = await connection.execute(
            select(records.c.body).where(records.c.kind == kind, records.c.origin == origin).order_by(records.c.rid)
        )
        return [json.loads(body) for (body,) in rows]


# --- Record-id squatting ----------------------------------------------------------------------------------------


async def test_a_squatted_record_id_shadows_nothing(make_node: NodeFactory, database_url: str) -> None:
    """B sees A's new activity id on A's public API and publishes its own record with that id first, to the hub
    (push) and to a third régie (pull). A's record and every later version of it still arrive at both."""
    a, b = await make_node("rq-a"), await make_node("rq-b")
    hub, c = await make_node("hub-national", database_url), await make_node("rq-c")
    for member in (a, b):
        await member.add_peer(hub, push=True, pull=False)
        await hub.add_peer(member, pull=False)
        await c.add_peer(member)
        await member.add_peer(c, pull=False)

    original = await a.create("activities", activity(1, title="Jardin partagé"))
    status, _seen = await b.get(f"/api/v1/activities/{original['id']}?origin=rq-a")
    assert status == 404  # B has not pulled A: it read the id on A's public API
    squat = await _write_own(b, "activity", Activity, activity(2, title="Record squatté"), original["id"])
    assert str(squat.id) == original["id"]
    assert await sender.push_all(b.context) == {"peer:hub-national": 1}
    await _pull(c, "rq-b")

    versions = [original]
    for round_ in range(3):
        assert sum((await sender.push_all(a.context)).values()) == 1
        await _pull(c, "rq-a")
        for receiver in (hub, c):
            status, got = await receiver.get(f"/api/v1/activities/{original['id']}?origin=rq-a")
            assert (status, got) == (200, versions[-1]), (receiver.node_id, round_)
            status, other = await receiver.get(f"/api/v1/activities/{original['id']}?origin=rq-b")
            assert status == 200 and other["title"] == "Record squatté"
        versions.append(await a.put("activities", original["id"], activity(1, title=f"Jardin partagé v{round_ + 2}")))
    await a.delete("activities", original["id"])
    await sender.push_all(a.context)
    await _pull(c, "rq-a")

    for receiver in (hub, c):
        assert [record["version"] for record in await _stored(receiver, "activity", "rq-a")] == [5]
        status, _gone = await receiver.get(f"/api/v1/activities/{original['id']}?origin=rq-a")
        assert status == 410
        # B's record was never replaced by A's nor A's by B's: both are listed under their origins.
        assert [item["title"] for item in (await receiver.records("rq-b")).values()] == ["Record squatté"]
    # Without ?origin= the id names two records neither of which is the receiver's own: the client must choose.
    status, problem = await c.get(f"/api/v1/activities/{original['id']}")
    assert status == 409 and problem["errors"][0]["pointer"] == "/origin"
    # A's own node still serves its record by id alone, and B's copy never reaches A's write paths.
    status, _gone = await a.get(f"/api/v1/activities/{original['id']}")
    assert status == 410


async def test_a_local_record_is_served_by_id_even_when_a_replica_shares_it(make_node: NodeFactory) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b)
    await b.add_peer(a)
    mine = await a.create("activities", activity(1, title="La mienne"))
    await _write_own(b, "activity", Activity, activity(2, title="Celle de B"), mine["id"])
    await _pull(a, "rq-b")
    assert (await a.get(f"/api/v1/activities/{mine['id']}")) == (200, mine)
    status, theirs = await a.get(f"/api/v1/activities/{mine['id']}?origin=rq-b")
    assert status == 200 and theirs["title"] == "Celle de B"
    updated = await a.put("activities", mine["id"], activity(1, title="Toujours la mienne"))
    assert updated["version"] == 2
    status, theirs_again = await a.get(f"/api/v1/activities/{mine['id']}?origin=rq-b")
    assert theirs_again == theirs
    status, problem = await a.get(f"/api/v1/activities/{mine['id']}?origin=not%20a%20node")
    assert status == 400 and problem["errors"][0]["pointer"] == "/origin"


# --- Self-validated reports and forged reviews ------------------------------------------------------------------


def _forged_audit(report: dict[str, Any]) -> list[dict[str, Any]]:
    line = AuditEntry(
        at=report["updated_at"],
        actor="hub:coordination nationale",
        action="validated",
        from_state="submitted",
        to_state="validated",
        changed=["state"],
    ).model_dump(mode="json")
    return [*report["audit"], line]


async def test_a_member_cannot_validate_its_own_report(network: Network, browse: Any) -> None:
    await _approve_all(network)
    paris = network.nodes["rq-paris"]
    submitted = await paris.create("reports", {**REPORT, "state": "submitted"})
    # Paris's modified node rewrites its report as validated, with an audit line naming a coordinator.
    store = paris.server.app[appkeys.STORE]
    forged = {**submitted, "state": "validated", "audit": _forged_audit(submitted)}
    await store.replace_built(
        "report", submitted["id"], lambda _p, envelope: PeriodReport.model_validate({**forged, **envelope})
    )
    assert await sender.push_all(paris.context) == {"target:hub": 1}

    status, listing = await network.hub_get("/reports?period=2025")
    assert [(item["origin"], item["state"]) for item in listing["items"]] == [("rq-paris", "submitted")]
    client = await browse("national")
    page = await page_text(client, f"/hub/reports/rq-paris/{submitted['id']}")
    assert re.search(r'id="report-state">Soumis<', page), page
    assert "hub:coordination nationale" not in page  # the forged audit line is not shown as the hub's
    assert f"/hub/reports/rq-paris/{submitted['id']}/validate" in page  # still awaiting the hub's decision
    # The coordinators can still act on it as on any submission: a return is accepted.
    status, review = await network.hub_post(
        f"/reports/rq-paris/{submitted['id']}/return", {"comment": "Validation non faite par le réseau."}
    )
    assert status == 201 and review["decision"] == "returned"


async def test_a_legitimate_validation_still_shows_once_sent_back(network: Network) -> None:
    await _approve_all(network)
    paris = network.nodes["rq-paris"]
    report = await paris.create("reports", {**REPORT, "state": "submitted"})
    await sender.push_all(paris.context)
    assert (await network.hub_post(f"/reports/rq-paris/{report['id']}/validate"))[0] == 201
    await _pull(paris, "hub-national")
    await sender.push_all(paris.context)
    status, listing = await network.hub_get("/reports?period=2025")
    (shown,) = listing["items"]
    assert (shown["state"], shown["version"]) == ("validated", report["version"] + 1)
    status, _problem = await network.hub_post(f"/reports/rq-paris/{report['id']}/validate")
    assert status == 409  # already decided: the hub does not review the same report twice


def _volunteers(table: dict[str, Any]) -> list[tuple[float, int]]:
    return [
        (row["total"], row["reports"])
        for row in table["rows"]
        if row["indicator"] == "volunteers" and row["area"] is None
    ]


@pytest.mark.parametrize("level", ["national", "regional"])
async def test_figures_changed_after_validation_are_not_validated(network: Network, browse: Any, level: str) -> None:
    await _approve_all(network)
    paris = network.nodes["rq-paris"]
    submitted = await paris.create("reports", {**REPORT, "state": "submitted"})
    await sender.push_all(paris.context)
    path = f"/reports/rq-paris/{submitted['id']}"
    assert (await network.hub_post(f"{path}/validate", role=level))[0] == 201
    if level == "national":
        _status, accepted = await network.hub_get("/tables/indicators?period=2025&approved=national")
        assert _volunteers(accepted) == [(12, 1)]  # counted once validated
    # Paris's modified node records the decision as the next version, as a genuine node does, with other figures:
    # the version the hub will hold claims exactly the state the hub's decision leads to.
    store = paris.server.app[appkeys.STORE]
    claimed = "validated" if level == "national" else "submitted"
    changed = {**submitted, "state": claimed, "indicators": {"volunteers": 777, "headcount_aided": 30}}
    await store.replace_built(
        "report", submitted["id"], lambda _p, envelope: PeriodReport.model_validate({**changed, **envelope})
    )
    assert await sender.push_all(paris.context) == {"target:hub": 1}

    _status, listing = await network.hub_get("/reports?period=2025")
    assert [(item["origin"], item["state"]) for item in listing["items"]] == [("rq-paris", "changed_after_validation")]
    _status, accepted = await network.hub_get("/reports?period=2025&approved=national")
    assert accepted["items"] == []
    for path_ in (
        "/tables/indicators?period=2025&approved=national",
        "/tables/trends?indicator=volunteers&approved=national",
    ):
        _status, table = await network.hub_get(path_)
        assert all(row["total"] != 777 for row in table["rows"]), table
    _status, accepted = await network.hub_get("/tables/indicators?period=2025&approved=national")
    assert _volunteers(accepted) == []

    client = await browse("national")
    listing_page = await page_text(client, "/hub/reports?period=2025")
    assert "Modifié après validation" in listing_page, listing_page
    page = await page_text(client, f"/hub{path}")
    assert re.search(r'id="report-state">Modifié après validation<', page), page
    assert "La régie a modifié ses chiffres après leur validation" in page
    changes = page[page.index('id="changed-after-validation"') :]
    assert re.search(r"Bénévoles.*?<td>12</td><td>777</td>", changes, re.S), changes
    assert f"/hub{path}/validate" in page  # the coordinators decide again, on the new figures
    dashboard = "/hub?period=2025&approved=national&indicator=volunteers"
    assert "777" not in await page_text(client, dashboard)

    # A coordinator who accepts the new figures makes them count: the decision is on what the régie now says.
    assert (await network.hub_post(f"{path}/validate", role="national"))[0] == 201
    _status, accepted = await network.hub_get("/tables/indicators?period=2025&approved=national")
    assert _volunteers(accepted) == [(777, 1)]
    _status, listing = await network.hub_get("/reports?period=2025")
    assert [item["state"] for item in listing["items"]] == ["validated"]
    assert "777" in await page_text(client, dashboard)


async def test_a_member_cannot_push_or_serve_reviews(network: Network) -> None:
    await _approve_all(network)
    paris, lyon = network.nodes["rq-paris"], network.nodes["rq-lyon"]
    target = await lyon.create("reports", {**REPORT, "state": "submitted"})
    await sender.push_all(lyon.context)
    await sender.push_all(paris.context)
    fields = {
        "report_origin": "rq-lyon",
        "report_id": target["id"],
        "report_version": target["version"],
        "decision": "returned",
        "comment": "Rapport refusé",
        "reviewer": "coordination nationale",
    }
    forged = await _write_own(paris, "review", ReportReview, fields)

    # Signed by Paris and posted to the hub's inbox (its outbox would not send it: the review's audience is Lyon):
    # the batch is refused and nothing of it is stored.
    envelope = {**{k: v for k, v in json.loads(forged.body).items() if k in ENVELOPE}, "kind": "review"}
    batch = {
        "origin": "rq-paris",
        "batch_id": uuid.uuid4().hex,
        "records": [{**envelope, "payload": json.loads(forged.body)}],
    }
    with pytest.raises(TransportError) as refused:
        await send_to_hub(batch, paris.context)
    assert refused.value.status == 403 and "not-author" in str(refused.value)  # the type; no peer text is kept
    assert await _stored(network.hub, "review", "rq-paris") == []
    _status, listing = await network.hub_get("/reports?period=2025")
    assert {item["origin"]: item["state"] for item in listing["items"]} == {"rq-lyon": "submitted"}

    # Served on its feed to a régie that pulls from it: the page is refused, Lyon's report does not change.
    await lyon.add_peer(paris)
    await paris.add_peer(lyon, pull=False)
    with pytest.raises(PullError, match="may not author a 'review'"):
        await _pull(lyon, "rq-paris")
    assert await _stored(lyon, "review", "rq-paris") == []
    _status, own = await lyon.get(f"/api/v1/reports/{target['id']}", headers=lyon.auth)
    assert (own["state"], own["version"]) == ("submitted", target["version"])


# --- One profile per origin -------------------------------------------------------------------------------------


async def _allow_second_profile(node: Node) -> None:
    """The attacker's node drops the index that keeps its own database to one profile."""
    async with node.context.engine.begin() as connection:
        await connection.execute(text("DROP INDEX ix_records_one_profile_per_origin"))


async def test_a_second_profile_of_an_origin_is_refused(make_node: NodeFactory, database_url: str) -> None:
    b = await make_node("rq-b")
    hub, c = await make_node("hub-national", database_url), await make_node("rq-c")
    await b.add_peer(hub, push=True, pull=False)
    await hub.add_peer(b, pull=False)
    await c.add_peer(b)
    await b.add_peer(c, pull=False)
    assert await sender.push_all(b.context) == {"peer:hub-national": 1}
    await _pull(c, "rq-b")
    (first,) = await _stored(hub, "node", "rq-b")

    await _allow_second_profile(b)
    second = {"name": "Régie fantôme", "kind": "quartier", "commune": "13055", "label_status": "labellisee"}
    await _write_own(b, "node", NodeProfile, second)
    assert await sender.push_all(b.context) == {"peer:hub-national": 0}
    (pending,) = await sender.list_outbox(b.context)
    assert "409" in (pending.last_error or "")
    with pytest.raises(PullError, match="one profile"):
        await _pull(c, "rq-b")
    for receiver in (hub, c):
        assert await _stored(receiver, "node", "rq-b") == [first]

    # A receiver that never had B's profile gets B's whole feed in one page: refused too.
    d = await make_node("rq-d")
    await d.add_peer(b)
    await b.add_peer(d, pull=False)
    with pytest.raises(PullError, match="one node record"):
        await _pull(d, "rq-b")
    assert await _stored(d, "node", "rq-b") == []


# --- Absurd indicator values ------------------------------------------------------------------------------------


def _not_json(name: str) -> Any:
    pytest.fail(f"the answer holds {name}, which is not JSON")


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    return True


async def test_huge_indicator_values_never_break_the_tables(network: Network, browse: Any) -> None:
    await _approve_all(network)
    for node in network.nodes.values():
        # Its own API refuses such a value (indicator bounds): a modified node writes it anyway and pushes it.
        fields = {**REPORT, "state": "submitted", "indicators": {"volunteers": 1.7e308}}
        await _write_own(node, "report", PeriodReport, fields)
        await sender.push_all(node.context)
    for path in ("/tables/indicators?period=2025", "/tables/trends?indicator=volunteers"):
        async with network.hub.session.get(
            f"{network.hub.url}/plugins/hub{path}", headers=network.auth("national")
        ) as r:
            raw = await r.text()
            assert r.status == 200, raw
        # Strict JSON: Infinity or NaN would not parse.
        table = json.loads(raw, parse_constant=_not_json)
        assert _finite(table)
        totals = [row for row in table["rows"] if row.get("indicator", "volunteers") == "volunteers"]
        # Set aside as implausible (docs/hub.md): counted, never summed into a national figure.
        assert totals and all(row["total"] in (None, 0) for row in totals if row.get("area") is None)
    status, raw = await network.hub_get("/tables/indicators?period=2025&format=xlsx")
    assert status == 200
    sheet = openpyxl.load_workbook(io.BytesIO(raw)).active
    assert all(
        not (isinstance(cell, float) and not math.isfinite(cell))
        for row in sheet.iter_rows(values_only=True)
        for cell in row
    )
    client = await browse("national")
    page = await page_text(client, "/hub?period=2025")
    # The two values are shown as set aside, never as a total, inf or in scientific notation.
    assert "2 valeurs invraisemblables écartées" in page, page
    assert ">inf<" not in page and "e+" not in page
