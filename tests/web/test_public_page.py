"""The public page: activities grouped by field of action, the next ones, where the régie acts, resources and how
to borrow them, contact, partners, data."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from babel.dates import format_date

from federation import appkeys
from federation.protocol import persistence
from tests.web.conftest import HTML


async def test_the_public_page_presents_the_regie(node: Any) -> None:
    auth = node.regies_auth
    for body in (
        {"category": "urban_management", "service_type": "green_spaces", "title": "Espaces verts des Lilas"},
        {"category": "mediation", "service_type": "night_correspondents", "title": "Correspondants de nuit"},
    ):
        assert (await node.post("/api/v1/activities", json=body, headers=auth)).status == 201
    resource = {
        "kind": "vehicle",
        "name": "Minibus 9 places",
        "capacity": 9,
        "capacity_unit": "places",
        "borrowers": ["associations", "regies"],
        "conditions": "Permis B depuis trois ans",
    }
    assert (await node.post("/api/v1/resources", json=resource, headers=auth)).status == 201
    await persistence.save_peer(
        node.app[appkeys.ENGINE],
        node_id="rq-voisine",
        name="Régie de la Voisine",
        base_url="https://voisine.example",
        keys=[],
        role="peer",
        pull=True,
        push=False,
    )

    page = html.unescape(await (await node.get("/", headers=HTML)).text())
    urban = page.index("<h3>Gestion urbaine de proximité</h3>")
    mediation = page.index("<h3>Médiation sociale</h3>")
    assert urban < page.index("Espaces verts des Lilas") < mediation < page.index("Correspondants de nuit")
    assert "Minibus 9 places" in page
    assert "Qui peut l'emprunter : Associations, Autres régies" in page
    assert "Conditions : Permis B depuis trois ans" in page
    assert '<a href="https://voisine.example/">Régie de la Voisine</a>' in page
    assert '<a href="/api/v1/activities">/api/v1/activities</a>' in page
    # The files and the data·inclusion lists (docs/open-data.md), each link answering.
    assert "Télécharger les activités :" in page
    for link in (
        "/api/v1/export/activities?format=xlsx",
        "/api/v1/export/resources?format=geojson",
        "/api/v1/datainclusion/structures",
        "/api/v1/datainclusion/services",
        "/api/v1/datainclusion/excluded",
    ):
        assert f'href="{link}"' in page
        assert (await node.get(link)).status == 200, link
    assert "Se connecter" in page  # nobody is logged in: the page offers to


async def test_the_public_page_shows_the_next_activities_where_the_regie_acts_and_how_to_borrow(node: Any) -> None:
    auth = node.regies_auth
    today = dt.date.today()
    current = await node.get("/api/v1/node")
    profile = await current.json()
    profile_body = {key: profile[key] for key in ("name", "kind", "label_status")}
    profile_body |= {"commune": "75120", "qpv": ["QN07512M"], "contact": {"email": "contact@regie.example"}}
    headers = {**auth, "If-Match": current.headers["ETag"]}
    assert (await node.put("/api/v1/node", json=profile_body, headers=headers)).status == 200
    for title, start, status, place in (
        ("Fête de quartier", today + dt.timedelta(days=30), "planned", {"commune": "93066", "qpv": ["QN09311M"]}),
        ("Atelier vélo", today + dt.timedelta(days=3), "planned", {}),
        ("Chantier passé", today - dt.timedelta(days=3), "active", {"commune": "93066"}),
        ("Report annulé", today + dt.timedelta(days=5), "suspended", {}),
    ):
        body = {
            "category": "local_democracy",
            "service_type": "neighbourhood_meetings",
            "title": title,
            "status": status,
            "start_date": start.isoformat(),
            "place": place,
        }
        assert (await node.post("/api/v1/activities", json=body, headers=auth)).status == 201, title
    resource = {"kind": "room", "name": "Salle polyvalente", "borrowers": ["inhabitants"]}
    assert (await node.post("/api/v1/resources", json=resource, headers=auth)).status == 201

    page = html.unescape(await (await node.get("/", headers=HTML)).text())
    agenda = page[page.index('<h2 id="upcoming"') : page.index('<h2 id="where"')]
    # Soonest first; what started already or is suspended is not "coming up".
    assert agenda.index("Atelier vélo") < agenda.index("Fête de quartier")
    assert "Chantier passé" not in agenda and "Report annulé" not in agenda
    soon = today + dt.timedelta(days=3)
    assert f'<time datetime="{soon.isoformat()}">{format_date(soon, "long", locale="fr")}</time>' in agenda
    where = page[page.index('<h2 id="where"') : page.index('<h2 id="resources"')]
    assert "Code INSEE 75120 — Paris" in where and "Code INSEE 93066 — Seine-Saint-Denis" in where
    assert where.count("93066") == 1
    assert "<li>QN07512M</li>" in where and "<li>QN09311M</li>" in where
    # A resource without its own contact is borrowed through the régie's address, the request pre-written.
    assert 'href="mailto:contact@regie.example?subject=Demande%20d%27emprunt%20%3A%20Salle%20polyvalente"' in page
    assert "Demander à l'emprunter" in page
    # The field of action is a card with its icon, drawn from the package (no request to another site).
    assert '<div class="field-head"><svg class="icon"' in page
    assert "http://www.w3.org/2000/svg" in page and "https://" not in page.replace("https://voisine", "")
