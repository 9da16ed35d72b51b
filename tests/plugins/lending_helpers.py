"""What the lending tests share: a lendable van, a loan request's body, and three nodes in one process."""

from __future__ import annotations

import datetime as dt
from typing import Any

from federation.protocol import persistence
from federation.protocol.puller import pull_peer
from tests.protocol.conftest import Node

# Open Monday to Friday, 8:00 to 18:00 (Europe/Paris): pick-up and return happen then.
WEEKDAY_SLOTS = [{"weekday": day, "start": "08:00", "end": "18:00"} for day in range(1, 6)]


def van(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "vehicle",
        "name": "Camion benne 3,5 t",
        "description": "Permis B, à rendre le plein fait.",
        "availability": {"slots": WEEKDAY_SLOTS},
        "conditions": "Caution de 500 €, attestation d'assurance.",
        "borrowers": ["regies", "associations"],
        "contact": {"person": "Marie Dupont", "email": "parc@rq-lilas.example"},
        "place": {"commune": "93066"},
    }
    body.update(overrides)
    return body


def next_weekday(weekday: int, weeks_ahead: int = 2) -> dt.date:
    """A day of the given ISO weekday some weeks from now (loans are in the future)."""
    today = dt.date.today()
    return today + dt.timedelta(days=(weekday - today.isoweekday()) % 7 + 7 * weeks_ahead)


def loan_body(
    resource: dict[str, Any], day: dt.date, start: str = "09:00", end: str = "17:00", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resource": {"origin": resource["origin"], "id": resource["id"], "version": resource["version"]},
        "start": f"{day.isoformat()}T{start}:00",  # no offset: Europe/Paris
        "end": f"{day.isoformat()}T{end}:00",
        "purpose": "Déménagement de la ressourcerie",
        "contact": {"person": "Karim B.", "email": "karim@rq-voisine.example", "phone": "01 23 45 67 89"},
        "conditions_accepted": True,
        "insurance": {"insurer": "MAIF", "policy_number": "RC-2026-0042", "valid_until": "2027-01-31"},
    }
    body.update(extra)
    return body


async def pull(node: Node, origin: str) -> None:
    peer = await persistence.get_peer(node.context.engine, origin)
    assert peer is not None
    await pull_peer(node.context, peer)


async def call(node: Node, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with node.session.request(
        method, f"{node.url}/plugins/lending{path}", json=body, headers=node.auth
    ) as response:
        return response.status, await response.json(content_type=None)
