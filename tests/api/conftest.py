"""API test fixtures: a node app with one small test plugin, served as `regies serve` serves it (aiohttp's own
parser errors answered in problem+json) through pytest-aiohttp's test client."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import BaseModel, ConfigDict, Field

from federation import hookimpl
from federation.app import create_app
from federation.config import Settings
from federation.plugins import build_plugins
from federation.registrations import ServiceType
from federation.registry import Registry
from federation.schema.types import Category
from tests.protocol.conftest import NodeTestServer


class CleaningDetails(BaseModel):
    model_config = ConfigDict(extra="forbid")
    surface_m2: int | None = Field(None, ge=0)


class CleaningPlugin:
    """A plugin registering one service type, so API tests do not depend on the built-in plugins."""

    @hookimpl
    def register_service_types(self, registry: Registry) -> None:
        registry.add_service_type(
            ServiceType(
                "test_cleaning", Category.URBAN_MANAGEMENT, "Nettoyage (test)", "Cleaning (test)", CleaningDetails
            )
        )


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, admin_token: str) -> TestClient[Any, Any]:
    plugins = build_plugins(extra=[("test-cleaning", CleaningPlugin())], load_entry_points=False)
    app = create_app(settings, plugins)
    test_client: TestClient[Any, Any] = await aiohttp_client(NodeTestServer(app))
    return test_client


@pytest.fixture
async def member_client(aiohttp_client: Any, settings: Settings, admin_token: str) -> TestClient[Any, Any]:
    """Like `client`, for a node that joined the network's hub as `regies network join` does (it can submit
    reports; the sync worker is off in tests, so nothing is sent)."""
    import regies_hubclient

    plugins = build_plugins(
        extra=[("test-cleaning", CleaningPlugin()), ("hubclient", regies_hubclient)],
        load_entry_points=False,
        settings={"hubclient": {"url": "http://hub.invalid"}},
    )
    test_client: TestClient[Any, Any] = await aiohttp_client(NodeTestServer(create_app(settings, plugins)))
    return test_client


@pytest.fixture
def auth(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}


def activity(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "urban_management",
        "service_type": "test_cleaning",
        "title": "Nettoyage des halls",
        "place": {"commune": "93066", "qpv": ["QP093001"]},
        "details": {"surface_m2": 1200},
    }
    body.update(overrides)
    return body


@pytest.fixture
def table_counts(settings: Settings) -> Any:
    """An async function returning (records, changes) row counts, to prove a rejected request wrote nothing."""
    from sqlalchemy import func, select

    from federation.storage.engine import create_engine
    from federation.storage.tables import changes, records

    async def counts() -> tuple[int, int]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.connect() as connection:
                n_records = await connection.scalar(select(func.count()).select_from(records))
                n_changes = await connection.scalar(select(func.count()).select_from(changes))
        finally:
            await engine.dispose()
        return int(n_records or 0), int(n_changes or 0)

    return counts
