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

from federation.config import CONFIG_FILE_NAME, ServerSettings, Settings, is_loopback_host
from federation.plugins import build_plugins
from federation.protocol.keys import create_key
from federation.record_rules import record_service
from federation.schema.types import NODE_ID_PATTERN
from federation.storage import migrate
from federation.storage.engine import create_engine, is_sqlite, sqlite_path
from federation.storage.records import get_meta, set_meta
from federation.storage.tokens import create_token

CONFIG_TEMPLATE = """\
# Settings of this régie's node. Every setting is documented in config/node.example.toml;
# any of them can also be set with REGIES_<SECTION>__<KEY>, e.g. REGIES_SERVER__PORT=8081.

[server]
host = "127.0.0.1"
port = 8080
# This node's address as other nodes reach it; their signatures are checked against it. Empty on a node bound
# to 127.0.0.1: it is then http://127.0.0.1:<the port it serves on>.
base_url = "{base_url}"
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


def initial_base_url(settings: Settings, requested: str | None) -> str:
    """The base URL `regies init` writes: `requested` (--base-url), else the configured one, else nothing for a node
    bound to loopback (its URL is then http://127.0.0.1:<port served>); ValueError for any other node, which must
    say where others reach it."""
    if requested:
        return ServerSettings.model_validate({"base_url": requested}).base_url
    if settings.server.base_url:
        return settings.public_base_url
    if is_loopback_host(settings.server.host):
        # Left empty: the node's URL follows the port it is served on (`make run PORT=…`, `serve --port`), which a
        # URL written now with the default port would contradict.
        return ""
    raise ValueError(
        f"this node listens on {settings.server.host}, so other nodes reach it through an address only you know: "
        "pass --base-url https://… (its public URL, e.g. https://regie.example.org)"
    )


async def init_node(
    settings: Settings,
    name: str | None,
    kind: str = "quartier",
    node_id: str | None = None,
    ask_name: Callable[[], Awaitable[str]] | None = None,
    base_url: str | None = None,
) -> InitResult:
    """Create what a node needs; running it again on an initialised node changes nothing. Without a name,
    `ask_name` is asked for one (only when the node is created); the id is derived from the name unless given.

    The config file it writes names the node's base URL (`initial_base_url`); an existing config file is left as
    it is, so a different `base_url` asked for must be written there by hand.
    """
    if node_id is not None and not re.match(NODE_ID_PATTERN, node_id):
        raise ValueError(f"node id '{node_id}' must be 3–64 lowercase letters, digits and hyphens")
    config_path = settings.config_file or settings.data_dir / CONFIG_FILE_NAME
    public_url = initial_base_url(settings, base_url) if base_url or not config_path.exists() else None
    if config_path.exists() and public_url is not None and public_url != settings.server.base_url:
        raise ValueError(f'{config_path} already exists: set base_url = "{public_url}" in its [server] table')
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not config_path.exists():
        # It may later hold a database password.
        _write_secret(config_path, CONFIG_TEMPLATE.format(base_url=public_url))

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
        # No plugin is loaded yet: the profile is checked by the core's rules alone.
        store = record_service(engine, node_id, build_plugins(load_entry_points=False))
        await store.create("node", {"name": name, "kind": kind}, "init", record_id=profile_id)
        await set_meta(engine, "profile_id", str(profile_id))
        await set_meta(engine, "node_id", node_id)
        await create_key(engine, settings.keys_dir, node_id)
        token = await create_token(engine, "admin")
        _write_secret(settings.admin_token_file, token + "\n")
        return InitResult(node_id, name, True, token, settings.admin_token_file)
    finally:
        await engine.dispose()
