"""Node initialisation: data directory, config file, database, node identity, profile and first admin token."""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from federation.config import CONFIG_FILE_NAME, Settings
from federation.protocol.keys import create_key
from federation.schema.records import NodeProfile
from federation.schema.types import NODE_ID_PATTERN
from federation.storage import migrate
from federation.storage.engine import create_engine, is_sqlite, sqlite_path
from federation.storage.records import RecordStore, get_meta, set_meta
from federation.storage.tokens import create_token

CONFIG_TEMPLATE = """\
# Settings of this régie's node. Every setting is documented in config/node.example.toml;
# any of them can also be set with REGIES_<SECTION>__<KEY>, e.g. REGIES_SERVER__PORT=8081.

[server]
host = "127.0.0.1"
port = 8080
"""


@dataclass(frozen=True)
class InitResult:
    node_id: str
    name: str | None
    created: bool
    admin_token: str | None
    token_file: Path | None


# The name a node gets when nobody chose one; the profile's name can be changed at any time (back-office, API).
UNNAMED = "Régie de quartier (à renommer)"


def unique_node_id(name: str | None) -> str:
    """An id derived from the régie's name with a random suffix, so that ids stay unique across the network even
    when two régies have the same name or none was given (6 hex digits: among 130 nodes, about 1 in 2,000 chance
    of any clash)."""
    suffix = secrets.token_hex(3)
    ascii_name = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:50].strip("-")
    candidate = f"{slug}-{suffix}"
    return candidate if slug and re.match(NODE_ID_PATTERN, candidate) else f"regie-{suffix}"


def _write_secret(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    path.chmod(0o600)


def _restrict_database_file(url: str) -> None:
    # The database holds token and password digests and session ids: only the node's user may read it.
    # SQLite gives its -wal and -shm files the database file's mode.
    if is_sqlite(url) and sqlite_path(url).exists():
        sqlite_path(url).chmod(0o600)


async def init_node(
    settings: Settings,
    name: str | None,
    kind: str = "quartier",
    node_id: str | None = None,
    ask_name: Callable[[], Awaitable[str]] | None = None,
) -> InitResult:
    """Create what a node needs; running it again on an initialised node changes nothing. Without a name,
    `ask_name` is asked for one (only when the node is created); the id is derived from the name unless given."""
    if node_id is not None and not re.match(NODE_ID_PATTERN, node_id):
        raise ValueError(f"node id '{node_id}' must be 3–64 lowercase letters, digits and hyphens")
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    config_path = settings.data_dir / CONFIG_FILE_NAME
    if settings.config_file is None and not config_path.exists():
        _write_secret(config_path, CONFIG_TEMPLATE)  # it may later hold a database password

    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        _restrict_database_file(settings.database_url)
        existing = await get_meta(engine, "node_id")
        if existing is not None:
            return InitResult(existing, None, False, None, None)
        if name is None and ask_name is not None:
            name = (await ask_name()).strip() or None
        node_id = node_id or unique_node_id(name)
        name = name or UNNAMED
        profile_id = uuid4()
        store = RecordStore(engine, node_id)
        await store.create(
            "node",
            lambda _previous, envelope: NodeProfile.model_validate({"name": name, "kind": kind, **envelope}),
            record_id=profile_id,
        )
        await set_meta(engine, "profile_id", str(profile_id))
        await set_meta(engine, "node_id", node_id)
        await create_key(engine, settings.keys_dir, node_id)
        token = await create_token(engine, "admin")
        _write_secret(settings.admin_token_file, token + "\n")
        return InitResult(node_id, name, True, token, settings.admin_token_file)
    finally:
        await engine.dispose()
