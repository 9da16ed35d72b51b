"""The public page: activities grouped by field of action, resources and how to borrow them, partners, data."""

from __future__ import annotations

import html
from typing import Any

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
    assert "Se connecter" in page  # nobody is logged in: the page offers to
