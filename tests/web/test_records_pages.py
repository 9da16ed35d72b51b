"""Back-office forms for activities and resources: generated from the models, validated like the API."""

from __future__ import annotations

import html
import json
from typing import Any

from aiohttp.test_utils import TestClient

from federation import appkeys
from federation.record_rules import record_service
from tests.web.conftest import csrf_of


async def _form(client: TestClient[Any, Any], path: str) -> str:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    return await response.text()


async def _api_activities(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await (await client.get("/api/v1/activities")).json())["items"]
    return items


async def test_the_activity_form_follows_the_service_type_details_model(staff: TestClient[Any, Any]) -> None:
    chooser = await _form(staff, "/admin/activities/new")
    assert '<option value="green_spaces">' in chooser
    page = await _form(staff, "/admin/activities/new?service_type=green_spaces")
    # The green spaces plugin's details model: a number, multiple choices and a yes/no question.
    assert '<label for="f-details-surface_m2">Surface (m²)</label>' in page
    assert 'name="details.tasks" value="mowing"' in page
    assert '<select id="f-details-zero_pesticide" name="details.zero_pesticide"' in page
    response = await staff.post(
        "/admin/activities/new",
        data={
            "_csrf": csrf_of(page),
            "service_type": "green_spaces",
            "title": "Espaces verts des Lilas",
            "status": "active",
            "start_date": "2026-03-01",
            "place.commune": "93066",
            "place.qpv": "QP093001, QP093002",
            "partners": "Ville de Saint-Denis\nPlaine Commune Habitat",
            "details.surface_m2": "12 000,5",
            "details.tasks": ["mowing", "pruning"],
            "details.zero_pesticide": "true",
        },
        allow_redirects=False,
    )
    assert response.status == 303, html.unescape(await response.text())
    [activity] = await _api_activities(staff)
    assert activity["category"] == "urban_management"
    assert activity["place"]["qpv"] == ["QP093001", "QP093002"]
    assert activity["place"]["department"] == "93"
    assert [partner["name"] for partner in activity["partners"]] == ["Ville de Saint-Denis", "Plaine Commune Habitat"]
    assert activity["details"] == {"surface_m2": 12000.5, "tasks": ["mowing", "pruning"], "zero_pesticide": True}
    listing = await (await staff.get("/admin/activities?done=created")).text()
    assert "Espaces verts des Lilas" in listing
    assert "Enregistré." in listing


async def test_invalid_values_are_explained_in_french_next_to_their_field(staff: TestClient[Any, Any]) -> None:
    page = await _form(staff, "/admin/activities/new?service_type=green_spaces")
    response = await staff.post(
        "/admin/activities/new",
        data={
            "_csrf": csrf_of(page),
            "service_type": "green_spaces",
            "title": "",
            "place.commune": "75",
            "inhabitants_involved": "douze",
            "details.surface_m2": "-3",
        },
    )
    assert response.status == 422
    page = html.unescape(await response.text())
    expected = {
        "title": "Ce champ est obligatoire.",
        "place-commune": "Saisissez un code commune INSEE",
        "inhabitants_involved": "Saisissez un nombre entier, par exemple 12.",
        "details-surface_m2": "Saisissez un nombre supérieur ou égal à 0.",
    }
    for field, message in expected.items():
        assert f'<p class="field-error" id="f-{field}-error">{message}' in page, field
        assert f'id="f-{field}" name=' in page
    assert 'value="douze"' in page  # what was typed is kept
    dates = await staff.post(
        "/admin/activities/new",
        data={
            "_csrf": csrf_of(page),
            "service_type": "green_spaces",
            "title": "Tonte",
            "start_date": "2026-05-01",
            "end_date": "2026-04-01",
        },
    )
    message = "La date de fin ne peut pas précéder la date de début."
    assert f'<p class="field-error" id="f-end_date-error">{message}' in html.unescape(await dates.text())
    assert await _api_activities(staff) == []  # nothing was written


async def test_editing_bumps_the_version_and_deleting_leaves_a_tombstone(staff: TestClient[Any, Any]) -> None:
    page = await _form(staff, "/admin/resources/new")
    created = await staff.post(
        "/admin/resources/new",
        data={
            "_csrf": csrf_of(page),
            "name": "Minibus 9 places",
            "kind": "vehicle",
            "status": "available",
            "capacity": "9",
            "capacity_unit": "places",
            "borrowers": ["regies", "associations"],
            "contact.email": "pret@regie.fr",
        },
        allow_redirects=False,
    )
    assert created.status == 303, html.unescape(await created.text())
    [resource] = (await (await staff.get("/api/v1/resources")).json())["items"]
    edit_page = await _form(staff, f"/admin/resources/{resource['id']}")
    assert 'value="Minibus 9 places"' in edit_page
    edited = await staff.post(
        f"/admin/resources/{resource['id']}",
        data={
            "_csrf": csrf_of(edit_page),
            "version": "1",
            "name": "Minibus 9 places (diesel)",
            "kind": "vehicle",
            "capacity": "9",
            "borrowers": ["regies"],
        },
        allow_redirects=False,
    )
    assert edited.status == 303
    stored = await (await staff.get(f"/api/v1/resources/{resource['id']}")).json()
    assert (stored["version"], stored["name"], stored["borrowers"]) == (2, "Minibus 9 places (diesel)", ["regies"])
    stale = await staff.post(
        f"/admin/resources/{resource['id']}",
        data={
            "_csrf": csrf_of(edit_page),
            "version": "1",
            "name": "Autre nom",
            "kind": "vehicle",
            "borrowers": ["regies"],
        },
    )
    assert stale.status == 422
    assert "Quelqu'un d'autre a modifié" in html.unescape(await stale.text())
    confirm = await _form(staff, f"/admin/resources/{resource['id']}/delete")
    deleted = await staff.post(
        f"/admin/resources/{resource['id']}/delete", data={"_csrf": csrf_of(confirm)}, allow_redirects=False
    )
    assert deleted.status == 303
    assert (await staff.get(f"/api/v1/resources/{resource['id']}")).status == 410


async def test_replicas_of_other_regies_are_read_only(staff: TestClient[Any, Any]) -> None:
    from federation.schema.records import Activity

    # A record as pulled from a peer.
    other = record_service(staff.app[appkeys.ENGINE], "regie-voisine", staff.app[appkeys.PLUGINS])
    fields = {"category": "mediation", "service_type": "social_mediation", "title": "Médiation voisine"}
    stored = await other.create_built("activity", lambda _p, envelope: Activity.model_validate({**fields, **envelope}))
    assert (await staff.get(f"/admin/activities/{stored.id}")).status == 403
    listing = await (await staff.get("/admin/activities")).text()
    assert "Médiation voisine" not in listing
    assert json.loads(stored.body)["origin"] == "regie-voisine"


async def test_the_profile_form_fills_the_public_page(staff: TestClient[Any, Any]) -> None:
    page = await _form(staff, "/admin/profile")
    assert 'value="Régie de test"' in page
    refused = await staff.post(
        "/admin/profile",
        data={
            "_csrf": csrf_of(page),
            "version": "1",
            "name": "Régie des Lilas",
            "kind": "quartier",
            "label_status": "labellisee",
            "siret": "73282932000015",
        },
    )
    assert refused.status == 422
    assert "Saisissez un SIRET : 14 chiffres avec une clé de contrôle valide." in html.unescape(await refused.text())
    saved = await staff.post(
        "/admin/profile",
        data={
            "_csrf": csrf_of(page),
            "version": "1",
            "name": "Régie des Lilas",
            "kind": "quartier",
            "label_status": "labellisee",
            "siret": "73282932000074",
            "commune": "93066",
            "qpv": "QP093001",
            "contact.email": "contact@regie-lilas.fr",
        },
        allow_redirects=False,
    )
    assert saved.status == 303, html.unescape(await saved.text())
    node = await (await staff.get("/api/v1/node")).json()
    assert (node["siren"], node["department"], node["version"]) == ("732829320", "93", 2)
    public = html.unescape(await (await staff.get("/", headers={"Accept": "text/html"})).text())
    assert "<h1>Régie des Lilas</h1>" in public
    assert "Labellisée par le réseau" in public
    assert "contact@regie-lilas.fr" in public
