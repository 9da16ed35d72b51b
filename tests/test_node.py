"""Opening a node (federation/node.py): the database rule on old and missing databases, and nothing left open when
a step fails."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from federation.cli import main
from federation.config import Settings
from federation.node import DatabaseOutOfDate, open_node
from federation.storage import migrate
from federation.storage.engine import create_engine
from federation.storage.records import set_meta

# A revision every node database went through, well before the newest.
OLD_REVISION = "0010"


async def _old_database(settings: Settings) -> None:
    """A node's database as an older release left it: schema at OLD_REVISION, the node's id and profile set."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine, OLD_REVISION)
        await set_meta(engine, "node_id", "rq-ancienne")
        await set_meta(engine, "profile_id", "0b5c1d36-58a4-4a3c-9d1e-2f4f3b3c2a11")
    finally:
        await engine.dispose()


async def _revision(settings: Settings) -> str | None:
    engine = create_engine(settings.database_url)
    try:
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


def test_a_command_on_an_old_database_migrates_it(
    regies_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_old_database(regies_settings))
    assert main(["--data-dir", str(regies_settings.data_dir), "token", "list"]) == 0
    assert capsys.readouterr().out.split()[:3] == ["ID", "NAME", "ROLE"]
    assert asyncio.run(_revision(regies_settings)) == migrate.HEAD_REVISION


async def test_opening_without_migrating_refuses_an_old_database(regies_settings: Settings) -> None:
    await _old_database(regies_settings)
    with pytest.raises(DatabaseOutOfDate, match=f"at schema revision {OLD_REVISION} .* run `regies db upgrade`"):
        async with open_node(regies_settings, upgrade=False):
            pass
    assert await _revision(regies_settings) == OLD_REVISION  # refused, not half-migrated


def test_a_database_without_a_node_is_refused_and_left_alone(
    regies_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = str(regies_settings.data_dir)
    assert main(["--data-dir", data_dir, "user", "list"]) == 1
    assert "no node database at" in capsys.readouterr().err
    assert asyncio.run(_revision(regies_settings)) is None  # opening never creates a database
    # `regies db upgrade` makes the schema, but only `regies init` makes the node.
    assert main(["--data-dir", data_dir, "db", "upgrade"]) == 0
    assert main(["--data-dir", data_dir, "peers"]) == 1
    assert "no node is initialised in" in capsys.readouterr().err


def _threads_settle(expected: set[threading.Thread]) -> set[threading.Thread]:
    """The threads running beyond `expected`, once those that are ending have ended (at most 5 s; it blocks the
    event loop meanwhile, which a closed connection's thread does not need to end)."""
    deadline = time.monotonic() + 5
    while (extra := set(threading.enumerate()) - expected) and time.monotonic() < deadline:
        time.sleep(0.02)
    return extra


def _spoil_the_signing_key(keys_dir: Path) -> None:
    (key_file,) = keys_dir.glob("*.pem")
    key_file.write_text("not a key")


async def test_a_failing_step_closes_what_was_opened_before_it(regies_settings: Settings) -> None:
    from federation.bootstrap import init_node

    await init_node(regies_settings, name="Régie de test", node_id="rq-test")
    # Each SQLite connection, the engine's and the reader's, runs in a thread of its own: a step that fails after
    # they opened must not leave them behind.
    before = set(threading.enumerate())
    async with open_node(regies_settings) as node:
        assert node.node_id == "rq-test"
        assert set(threading.enumerate()) - before  # the reader's connection at least
    assert _threads_settle(before) == set()

    _spoil_the_signing_key(regies_settings.keys_dir)  # loading the keys comes after the engine, schema and reader
    with pytest.raises(ValueError):
        async with open_node(regies_settings):
            pytest.fail("the node opened with an unreadable key")
    assert _threads_settle(before) == set()
