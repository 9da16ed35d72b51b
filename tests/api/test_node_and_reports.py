"""The node profile and period reports: validation of French identifiers and the node-side report workflow."""

from __future__ import annotations

from typing import Any

from federation import appkeys
from federation.reports import build_report
from federation.schema.records import PeriodReportData

PROFILE = {
    "name": "Régie de quartier de Belleville",
    "kind": "quartier",
    "label_status": "labellisee",
    "siret": "732 829 320 00074",
    "rna": "w751234567",
    "commune": "75056",
    "qpv": ["QP075020", "qn07520m"],
    "contact": {"email": "contact@regie.example", "phone": "+33 1 43 58 00 00"},
    "website": "https://regie.example/",
}


async def test_profile_put_normalises_and_derives(client: Any, auth: dict[str, str]) -> None:
    before = await (await client.get("/api/v1/node")).json()
    response = await client.put("/api/v1/node", json=PROFILE, headers=auth)
    assert response.status == 200, await response.text()
    profile = await response.json()
    assert profile["id"] == before["id"]
    assert profile["version"] == before["version"] + 1
    assert profile["origin"] == "rq-test"
    assert profile["siret"] == "73282932000074"
    assert profile["siren"] == "732829320"
    assert profile["rna"] == "W751234567"
    assert profile["qpv"] == ["QP075020", "QN07520M"]
    assert (profile["department"], profile["region"]) == ("75", "11")
    assert await (await client.get("/api/v1/node")).json() == profile


async def test_profile_identifiers_are_checked(client: Any, auth: dict[str, str]) -> None:
    bad = {**PROFILE, "siret": "73282932000015", "rna": "X123", "commune": "97599", "kind": "ville"}
    response = await client.put("/api/v1/node", json=bad, headers=auth)
    assert response.status == 422
    pointers = {error["pointer"] for error in (await response.json())["errors"]}
    assert pointers == {"/siret", "/rna", "/commune", "/kind"}


async def test_la_poste_establishments_use_the_digit_sum_rule(client: Any, auth: dict[str, str]) -> None:
    good = await client.put("/api/v1/node", json={**PROFILE, "siret": "35600000000001"}, headers=auth)
    assert good.status == 200
    bad = await client.put("/api/v1/node", json={**PROFILE, "siret": "35600000000014"}, headers=auth)
    assert bad.status == 422


async def test_profile_put_needs_a_token(client: Any) -> None:
    assert (await client.put("/api/v1/node", json=PROFILE)).status == 401


REPORT = {"period": {"type": "year", "year": 2025}, "indicators": {"headcount_aided": 42, "volunteers": 18}}


async def test_report_lifecycle_on_the_node(member_client: Any, auth: dict[str, str]) -> None:
    client = member_client
    created = await client.post("/api/v1/reports", json=REPORT, headers=auth)
    assert created.status == 201, await created.text()
    report = await created.json()
    assert report["state"] == "draft"
    assert report["period"]["key"] == "2025"
    location = created.headers["Location"]

    edited = await client.put(location, json={**REPORT, "indicators": {"headcount_aided": 43}}, headers=auth)
    assert edited.status == 200
    submitted = await client.put(location, json={**REPORT, "state": "submitted"}, headers=auth)
    assert submitted.status == 200
    trail = (await submitted.json())["audit"]
    assert [entry["action"] for entry in trail] == ["created", "updated", "submitted"]
    assert [entry["to_state"] for entry in trail] == ["draft", "draft", "submitted"]
    assert trail[1]["changed"] == ["indicators"]
    assert all(entry["actor"] == "admin" for entry in trail)

    locked = await client.put(location, json={**REPORT, "comment": "oubli"}, headers=auth)
    assert locked.status == 409
    assert "returns" in (await locked.json())["detail"]
    assert (await client.delete(location, headers=auth)).status == 409


async def test_a_node_without_a_hub_cannot_submit_a_report(client: Any, auth: dict[str, str]) -> None:
    refused = await client.post("/api/v1/reports", json={**REPORT, "state": "submitted"}, headers=auth)
    assert refused.status == 409
    assert refused.content_type == "application/problem+json"
    problem = await refused.json()
    assert problem["type"].endswith(":no-hub")
    assert "regies network join" in problem["detail"]
    assert [error["pointer"] for error in problem["errors"]] == ["/state"]
    assert (await (await client.get("/api/v1/reports", headers=auth)).json())["items"] == []  # nothing stored

    created = await client.post("/api/v1/reports", json=REPORT, headers=auth)
    location = created.headers["Location"]
    again = await client.put(location, json={**REPORT, "state": "submitted"}, headers=auth)
    assert again.status == 409
    assert (await again.json())["type"].endswith(":no-hub")
    stored = await (await client.get(location, headers=auth)).json()
    assert (stored["state"], stored["version"]) == ("draft", 1)


async def test_a_report_submitted_without_a_hub_can_be_written_back_as_draft(client: Any, auth: dict[str, str]) -> None:
    submitted = PeriodReportData.model_validate({**REPORT, "state": "submitted"})
    stored = await client.app[appkeys.STORE].create_built(  # as the node could before submissions needed a hub
        "report", lambda previous, envelope: build_report(submitted, previous, envelope, "admin", hub_joined=True)
    )
    location = f"/api/v1/reports/{stored.id}"
    assert (await client.put(location, json={**REPORT, "state": "submitted"}, headers=auth)).status == 409
    unlocked = await client.put(location, json={**REPORT, "state": "draft", "comment": "oubli"}, headers=auth)
    assert unlocked.status == 200, await unlocked.text()
    trail = (await unlocked.json())["audit"]
    assert [(entry["from_state"], entry["to_state"]) for entry in trail] == [
        (None, "submitted"),
        ("submitted", "draft"),
    ]


async def test_node_cannot_validate_its_own_report(client: Any, auth: dict[str, str]) -> None:
    response = await client.post("/api/v1/reports", json={**REPORT, "state": "validated"}, headers=auth)
    assert response.status == 409


async def test_one_report_per_period(client: Any, auth: dict[str, str]) -> None:
    assert (await client.post("/api/v1/reports", json=REPORT, headers=auth)).status == 201
    duplicate = await client.post("/api/v1/reports", json=REPORT, headers=auth)
    assert duplicate.status == 409
    quarter = {**REPORT, "period": {"type": "quarter", "year": 2025, "quarter": 3}}
    assert (await client.post("/api/v1/reports", json=quarter, headers=auth)).status == 201
    listing = await (await client.get("/api/v1/reports?period=2025-Q3", headers=auth)).json()
    assert [item["period"]["key"] for item in listing["items"]] == ["2025-Q3"]


async def test_report_validation(client: Any, auth: dict[str, str]) -> None:
    bad = {"period": {"type": "quarter", "year": 2025}, "indicators": {"volunteers": -1}}
    response = await client.post("/api/v1/reports", json=bad, headers=auth)
    assert response.status == 422
    pointers = {error["pointer"] for error in (await response.json())["errors"]}
    assert pointers == {"/period", "/indicators/volunteers"}


async def test_reports_are_private(client: Any, auth: dict[str, str]) -> None:
    created = await client.post("/api/v1/reports", json=REPORT, headers=auth)
    assert (await client.get("/api/v1/reports")).status == 401
    assert (await client.get(created.headers["Location"])).status == 401
    assert (await client.get(created.headers["Location"], headers=auth)).status == 200


async def test_draft_report_can_be_deleted(client: Any, auth: dict[str, str]) -> None:
    created = await client.post("/api/v1/reports", json=REPORT, headers=auth)
    assert (await client.delete(created.headers["Location"], headers=auth)).status == 204
    assert (await client.post("/api/v1/reports", json=REPORT, headers=auth)).status == 201


async def test_unknown_indicator_is_refused(client: Any, auth: dict[str, str]) -> None:
    body = {**REPORT, "indicators": {"volunteers": 3, "unicorns": 1}}
    response = await client.post("/api/v1/reports", json=body, headers=auth)
    assert response.status == 422
    assert [error["pointer"] for error in (await response.json())["errors"]] == ["/indicators/unicorns"]


async def test_report_form_lists_core_indicators(client: Any, auth: dict[str, str]) -> None:
    assert (await client.get("/api/v1/report-form?period=2025")).status == 401
    response = await client.get("/api/v1/report-form?period=2025-Q2", headers=auth)
    assert response.status == 200
    form = await response.json()
    assert (form["from"], form["to"]) == ("2025-04-01", "2025-06-30")
    keys = {indicator["key"]: indicator for indicator in form["indicators"]}
    assert {"headcount_aided", "fte_total", "volunteers", "turnover_social_landlords"} <= set(keys)
    assert keys["fte_total"]["labels"]["fr"] == "Équivalents temps plein (total)"
    bad = await client.get("/api/v1/report-form?period=2025-Q5", headers=auth)
    assert bad.status == 400
