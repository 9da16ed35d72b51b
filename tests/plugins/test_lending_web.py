"""The lending back-office pages, as staff see them (French): the request form and its errors next to the fields,
the lender's inbox with the conflicts shown, accepting from it, the borrower's list and the month calendar; the
period report form saying where its loan figures come from."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.plugins.lending_helpers import call, loan_body, next_weekday, pull
from tests.plugins.test_lending import trio as trio
from tests.protocol.conftest import Node

HTML = {"Accept": "text/html", "Accept-Language": "fr"}
Trio = tuple[Node, Node, Node, dict[str, Any]]
Login = Callable[..., Awaitable[Any]]


def csrf(page: str) -> str:
    match = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert match
    return match.group(1)


def visible(page: str) -> str:
    """The page's text, tags removed and spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.fixture
async def staff(regies_login: Login) -> AsyncIterator[Callable[[Node], Awaitable[TestClient[Any, Any]]]]:
    clients: list[TestClient[Any, Any]] = []

    async def open_for(node: Node) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(node.server)
        await client.start_server()
        clients.append(client)
        assert (await regies_login(client, "staff", username=f"equipe-{node.node_id}")).status == 303
        return client

    yield open_for
    for client in clients:
        await client.session.close()


async def page(client: TestClient[Any, Any], path: str, status: int = 200) -> str:
    response = await client.get(path, headers=HTML)
    body = await response.text()
    assert response.status == status, body[:3000]
    return body


def form(resource: dict[str, Any], token: str, day: str, start: str = "09:00", end: str = "17:00") -> dict[str, str]:
    return {
        "_csrf": token,
        "start_date": day,
        "start_time": start,
        "end_date": day,
        "end_time": end,
        "quantity": "1",
        "purpose": "Déménagement de la ressourcerie",
        "contact_person": "Karim B.",
        "contact_email": "karim@rq-voisine.example",
        "contact_phone": "",
        "insurer": "MAIF",
        "policy_number": "RC-2026-0042",
        "valid_until": "2027-01-31",
        "conditions_accepted": "yes",
    }


async def test_request_from_the_form_then_accept_it_from_the_inbox(trio: Trio, staff: Any) -> None:
    lender, borrower, _third, resource = trio
    at_borrower, at_lender = await staff(borrower), await staff(lender)

    partners = visible(await page(at_borrower, "/lending/partners"))
    assert "Ressources des partenaires" in partners and "Camion benne 3,5 t" in partners
    path = f"/lending/partners/rq-lilas/{resource['id']}"
    shown = await page(at_borrower, path)
    assert 'type="date"' in shown and 'type="time"' in shown  # a date picker that needs no JavaScript
    assert "Caution de 500 €" in visible(shown) and "Lundi 08:00–18:00" in visible(shown)

    # Refusals are worded in French, next to their field: a Sunday is outside the slots, the end before the start.
    sunday, monday = next_weekday(7).isoformat(), next_weekday(1).isoformat()
    answer = await at_borrower.post(path, data=form(resource, csrf(shown), sunday), headers=HTML)
    refused = visible(await answer.text())
    assert answer.status == 422
    assert "En dehors des créneaux de disponibilité de la ressource." in refused
    answer = await at_borrower.post(path, data=form(resource, csrf(shown), monday, "15:00", "10:00"), headers=HTML)
    assert answer.status == 422 and "La fin doit être après le début." in visible(await answer.text())
    unchecked = {**form(resource, csrf(shown), monday), "conditions_accepted": ""}
    answer = await at_borrower.post(path, data=unchecked, headers=HTML)
    assert "Les conditions de la ressource doivent être acceptées." in visible(await answer.text())
    # Without the CSRF token nothing is written.
    answer = await at_borrower.post(path, data={**form(resource, "", monday)}, headers=HTML)
    assert answer.status == 403

    answer = await at_borrower.post(path, data=form(resource, csrf(shown), monday), headers=HTML)
    mine = visible(await answer.text())
    assert answer.status == 200 and str(answer.url).endswith("/lending/requests?done=requested")
    assert "Demande envoyée à la régie prêteuse." in mine and "en attente de réponse" in mine

    # A second request the same afternoon: once the first is accepted, the inbox shows the conflict.
    answer = await at_borrower.post(path, data=form(resource, csrf(shown), monday, "13:00", "15:00"), headers=HTML)
    assert answer.status == 200
    await pull(lender, "rq-voisine")
    inbox = await page(at_lender, "/lending")
    assert "Demandes de prêt reçues" in visible(inbox) and "Karim B." in visible(inbox)
    first, second = re.findall(r'action="(/lending/loans/rq-voisine/[0-9a-f-]+)/accept"', inbox)
    answer = await at_lender.post(
        f"{first}/accept", data={"_csrf": csrf(inbox), "deposit_eur": "500", "pickup_instructions": "Clés à l'accueil"}
    )
    inbox = visible(await answer.text())
    assert "Prêt accepté : la régie emprunteuse en est informée." in inbox
    assert "Conflit : avec 1 prêt accepté, celui-ci dépasse la capacité de la ressource." in inbox
    answer = await at_lender.post(f"{second}/accept", data={"_csrf": csrf(await page(at_lender, "/lending"))})
    assert answer.status == 409
    assert "cochez la case pour l'accepter quand même" in visible(await answer.text())
    token = csrf(await page(at_lender, "/lending"))
    answer = await at_lender.post(f"{second}/decline", data={"_csrf": token, "comment": "Déjà prêté"})
    assert answer.status == 200 and "Demande refusée" in visible(await answer.text())

    # The month calendar shows the accepted loan on its day, and the availability slots.
    calendar = visible(await page(at_lender, f"/lending/calendar/{resource['id']}?month={monday[:7]}"))
    assert calendar.count("Prêtée à rq-voisine (accepté)") == 1 and "08:00–18:00" in calendar
    assert "refusé" not in calendar

    # The borrower sees both answers; it marks the accepted one picked up.
    await pull(borrower, "rq-lilas")
    mine_page = await page(at_borrower, "/lending/requests")
    mine = visible(mine_page)
    assert "accepté" in mine and "refusé" in mine and "Caution 500 €." in mine and "Clés à l'accueil" in mine
    picked = re.search(r'action="(/lending/loans/rq-voisine/[0-9a-f-]+/picked-up)"', mine_page)
    assert picked
    answer = await at_borrower.post(picked.group(1), data={"_csrf": csrf(mine_page)})
    assert "Retrait enregistré." in visible(await answer.text()) and "retiré" in visible(await answer.text())


def field_hint(form_page: str, key: str) -> str:
    """The hint the report form shows under indicator `key`'s field."""
    match = re.search(rf'<p class="hint" id="f-indicators-{key}-hint">([^<]*)</p>', form_page)
    assert match, f"no hint for {key}"
    return html.unescape(match.group(1))


async def test_the_report_form_says_where_the_loan_figures_come_from(trio: Trio, staff: Any) -> None:
    lender, borrower, _third, resource = trio
    monday = next_weekday(1)
    status, loan = await call(borrower, "POST", "/requests", loan_body(resource, monday))
    assert status == 201, loan
    await pull(lender, "rq-voisine")
    assert (await call(lender, "POST", f"/loans/rq-voisine/{loan['request']['id']}/accept", {}))[0] == 200

    at_lender = await staff(lender)
    report = await page(at_lender, f"/admin/reports/new?period={monday.year}")
    assert "Prêts de ressources à d'autres régies" in visible(report)
    lent, borrowed = field_hint(report, "loans_lent_to_regies"), field_hint(report, "loans_borrowed_from_regies")
    assert lent == (
        "nombre · calculé à partir des prêts de vos ressources que vous avez acceptés (puis retirés ou rendus), "
        "commençant dans la période"
    )
    assert borrowed.endswith(
        "calculé à partir des prêts que d'autres régies vous ont accordés (puis retirés ou rendus), "
        "commençant dans la période"
    )
    assert field_hint(report, "loans_lent_vehicle") == lent
    # The generic words are for figures computed from activities, which these are not.
    assert "activités" not in lent + borrowed
    # The figure itself is filled in: the one accepted loan, a van.
    assert re.search(r'id="f-indicators-loans_lent_vehicle"[^>]*value="1"', report)

    answer = await at_lender.get(f"/admin/reports/new?period={monday.year}", headers={**HTML, "Accept-Language": "en"})
    in_english = await answer.text()
    assert field_hint(in_english, "loans_lent_to_regies").endswith(
        "computed from the loans of your resources you accepted (then picked up or returned), starting in the period"
    )
