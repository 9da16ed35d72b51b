"""Alembic migrations build exactly the schema the table definitions describe, on both backends."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, select

from federation.config import Settings
from federation.storage import migrate
from federation.storage.engine import create_engine
from federation.storage.tables import metadata, record_revisions, records


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


def test_the_head_revision_constant_is_alembics_head() -> None:
    # HEAD_REVISION comes from the files' names: a migration named against the convention would be skipped.
    assert migrate.head_revision() == migrate.HEAD_REVISION


async def test_an_older_database_is_upgraded_and_one_at_head_left_alone(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        assert await migrate.current_revision(engine) is None
        assert await migrate.upgrade(engine, "0006") == (None, "0006")
        assert await migrate.current_revision(engine) == "0006"
        assert await migrate.upgrade(engine) == ("0006", migrate.HEAD_REVISION)
        assert await migrate.upgrade(engine) == (migrate.HEAD_REVISION, migrate.HEAD_REVISION)
    finally:
        await engine.dispose()


async def test_records_held_before_revisions_existed_start_at_revision_one(settings: Settings) -> None:
    """Migration 0016 gives every (kind, origin) a node already holds revision 1, so that a reader keeping results by
    revision (the hub's activity counts) reads them once after the upgrade, like the rest."""
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine, "0015")
        row = {"version": 1, "updated_at_us": 1, "deleted": False, "body": "{}"}
        async with engine.begin() as connection:
            await connection.execute(
                insert(records),
                [
                    {**row, "kind": "activity", "origin": "rq-a", "id": str(uuid.uuid4())},
                    {**row, "kind": "activity", "origin": "rq-a", "id": str(uuid.uuid4())},
                    {**row, "kind": "report", "origin": "rq-a", "id": str(uuid.uuid4())},
                    {**row, "kind": "activity", "origin": "rq-b", "id": str(uuid.uuid4())},
                ],
            )
        await migrate.upgrade(engine, "0016")
        async with engine.connect() as connection:
            revisions = set((await connection.execute(select(record_revisions))).all())
        assert revisions == {("activity", "rq-a", 1), ("report", "rq-a", 1), ("activity", "rq-b", 1)}
    finally:
        await engine.dispose()


async def _upgrade(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


def test_a_database_at_head_is_checked_without_importing_alembic(tmp_path: Any) -> None:
    # Every `regies` command checks the schema: at head, that check must not pay for importing Alembic.
    url = f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    asyncio.run(_upgrade(url))
    script = (
        "import asyncio, sys\n"
        "from federation.storage import migrate\n"
        "from federation.storage.engine import create_engine\n"
        "async def main():\n"
        f"    engine = create_engine({url!r})\n"
        "    print(await migrate.upgrade(engine))\n"
        "    await engine.dispose()\n"
        "asyncio.run(main())\n"
        "print('alembic' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split("\n")[:2] == [f"('{migrate.HEAD_REVISION}', '{migrate.HEAD_REVISION}')", "False"]
