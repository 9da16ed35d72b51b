"""A régie's node with every built-in plugin and a few records written through its API, and a hub holding two
members' records (and a stranger's, which it must not publish)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import insert

from federation import appkeys
from federation.app import create_app
from federation.bootstrap import init_node
from federation.config import Settings, load_settings
from federation.schema.records import RECORD_KINDS
from federation.storage.mapping import record_row
from federation.storage.tables import enrolments, records
from tests.migrated import MigratedDatabases
from tests.plugins.regie_profile import PROFILE

MEDIATION = {
    "category": "mediation",
    "service_type": "social_mediation",
    "title": "Médiation dans les halls",
    "description": "Des médiateurs présents le soir dans les halls de la cité.",
    "start_date": "2025-01-06",
    "end_date": "2025-12-19",
    "place": {
        "commune": "93066",
        "qpv": ["QN09306M"],
        "address": "Cité Franc-Moisin",
        "point": {"lat": 48.93, "lon": 2.36},
    },
}
MEETING = {
    "category": "local_democracy",
    "service_type": "neighbourhood_meetings",
    "title": "Réunion d'habitants de printemps",
    "status": "planned",
    "start_date": "2026-04-14",
    "place": {"commune": "93066", "address": "Maison de quartier"},
}
MINIBUS = {
    "kind": "vehicle",
    "name": "Minibus 9 places",
    "description": "Prêté pour les sorties des associations du quartier.",
    "conditions": "Caution de 300 €, permis B depuis 3 ans.",
    "borrowers": ["associations", "inhabitants"],
    "availability": {
        "slots": [{"weekday": 2, "start": "09:00", "end": "12:30"}, {"weekday": 6, "start": "14:00", "end": "18:00"}],
        "note": "Sur réservation une semaine à l'avance",
    },
    "place": {"commune": "93066"},
}


async def create(client: TestClient[Any, Any], auth: dict[str, str], path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=auth)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


@pytest.fixture
async def regie(aiohttp_client: Any, settings: Settings, admin_token: str) -> dict[str, Any]:
    """The node (every installed plugin), its profile, two activities, a resource and a deleted activity."""
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    auth = {"Authorization": f"Bearer {admin_token}"}
    assert (await client.put("/api/v1/node", json=PROFILE, headers=auth)).status == 200
    made = {
        "mediation": await create(client, auth, "/api/v1/activities", MEDIATION),
        "meeting": await create(client, auth, "/api/v1/activities", MEETING),
        "minibus": await create(client, auth, "/api/v1/resources", MINIBUS),
    }
    gone = await create(client, auth, "/api/v1/activities", {**MEETING, "title": "Réunion annulée"})
    assert (await client.delete(f"/api/v1/activities/{gone['id']}", headers=auth)).status == 204
    return {"client": client, "auth": auth, **made}


MEMBERS = ("rq-lilas", "rt-morvan")


def model(kind: str, origin: str, body: dict[str, Any]) -> Any:
    envelope = {"origin": origin, "id": str(uuid.uuid4()), "version": 1, "updated_at": dt.datetime.now(dt.UTC)}
    return RECORD_KINDS[kind].record_model.model_validate({**body, **envelope})


async def fill_hub(app: Any) -> None:
    """Approved members' replicas as the hub stores them, and a stranger's (no enrolment) it must not publish."""
    engine = app[appkeys.ENGINE]
    rows = []
    for index, origin in enumerate((*MEMBERS, "rq-stranger")):
        name = f"Régie {origin}"
        rows.append(record_row(RECORD_KINDS["node"], model("node", origin, {**PROFILE, "name": name})))
        rows.append(
            record_row(
                RECORD_KINDS["activity"], model("activity", origin, {**MEDIATION, "title": f"Médiation {index}"})
            )
        )
    async with engine.begin() as connection:
        await connection.execute(
            insert(enrolments),
            [
                {
                    "node_id": origin,
                    "name": origin,
                    "base_url": f"https://{origin}.example",
                    "keys": "[]",
                    "state": "approved",
                    "requested_at_us": 1,
                }
                for origin in MEMBERS
            ],
        )
        await connection.execute(insert(records), rows)


@pytest.fixture
async def hub(
    aiohttp_client: Any, tmp_path: Any, database_url: str, migrated_databases: MigratedDatabases
) -> AsyncIterator[TestClient[Any, Any]]:
    settings = load_settings(
        data_dir=tmp_path / "hub",
        overrides={
            "database": {"url": database_url},
            "federation": {"worker": False},
            "plugins": {"hub": {"enabled": True}},
        },
    )
    await migrated_databases.fill(settings.database_url)
    await init_node(settings, name="Mouvement des Régies", node_id="hub-national")
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    await fill_hub(client.app)
    yield client
