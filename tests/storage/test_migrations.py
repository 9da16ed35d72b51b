"""Alembic migrations build exactly the schema the table definitions describe, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from federation.config import Settings
from federation.storage import migrate
from federation.storage.engine import create_engine
from federation.storage.tables import metadata


async def test_migrated_database_matches_the_table_definitions(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        before, after = await migrate.upgrade(engine)
        assert (before, after) == (None, migrate.head_revision())

        def differences(connection: Any) -> list[Any]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        async with engine.connect() as connection:
            diff = await connection.run_sync(differences)
    finally:
        await engine.dispose()
    assert diff == [], "\n".join(map(str, diff))
