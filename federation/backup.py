"""`regies backup` and `regies restore`: a consistent online copy of a node (database, keys, config) and back.

SQLite is copied with its online backup API, page by page in one consistent snapshot, while the node keeps
serving. A PostgreSQL database is dumped with `pg_dump` (the backup then holds keys and config, and prints
the command); restoring it is `pg_restore`'s job.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation.config import CONFIG_FILE_NAME, Settings
from federation.errors import CommandError
from federation.storage.engine import is_sqlite, sqlite_path

MANIFEST = "regies-backup.json"


@dataclass(frozen=True)
class BackupResult:
    destination: Path
    manifest: dict[str, Any]


def _copy_private_tree(source: Path, destination: Path) -> None:
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    destination.chmod(0o700)
    for item in sorted(source.iterdir()):
        target = destination / item.name
        shutil.copy2(item, target)
        target.chmod(0o600)


def backup(settings: Settings, destination: Path) -> BackupResult:
    """Copy the node into `destination` (a new or empty directory, created with mode 0700)."""
    if destination.exists() and any(destination.iterdir()):
        raise CommandError(f"{destination} is not empty; choose a new directory for the backup")
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    destination.chmod(0o700)
    manifest: dict[str, Any] = {
        "created_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data_dir": str(settings.data_dir),
    }
    url = settings.database_url
    if is_sqlite(url):
        source = sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True)
        target = sqlite3.connect(destination / "regies.db")
        try:
            source.backup(target, pages=4096)
            manifest["node_id"] = _value(target, "SELECT value FROM node_meta WHERE key = 'node_id'")
            manifest["revision"] = _value(target, "SELECT version_num FROM alembic_version")
            manifest["records"] = _value(target, "SELECT count(*) FROM records")
        finally:
            target.close()
            source.close()
        (destination / "regies.db").chmod(0o600)
        manifest["database"] = "sqlite"
    else:
        manifest["database"] = "postgresql"
        manifest["pg_dump"] = f"pg_dump --format=custom --file={destination / 'regies.pgdump'} '{_libpq_url(url)}'"
    if settings.keys_dir.exists():
        _copy_private_tree(settings.keys_dir, destination / "keys")
    config = settings.config_file or settings.data_dir / CONFIG_FILE_NAME
    if config.exists():
        shutil.copy2(config, destination / CONFIG_FILE_NAME)
    if settings.admin_token_file.exists():
        shutil.copy2(settings.admin_token_file, destination / "admin-token")
        (destination / "admin-token").chmod(0o600)
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (destination / MANIFEST).chmod(0o600)  # its pg_dump command line carries the database URL
    return BackupResult(destination, manifest)


def restore(settings: Settings, source: Path, force: bool = False) -> dict[str, Any]:
    """Bring a backup made by `backup` back into the settings' data directory (SQLite nodes)."""
    manifest_path = source / MANIFEST
    if not manifest_path.exists():
        raise CommandError(f"{source} is not a backup made by `regies backup` (no {MANIFEST})")
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("database") != "sqlite":
        raise CommandError(
            "this backup holds a PostgreSQL node: restore the database with pg_restore "
            "(see docs/operations.md), then copy its keys/ and regies.toml into the data directory"
        )
    url = settings.database_url
    if not is_sqlite(url):
        raise CommandError("the target node is configured for PostgreSQL; restore a SQLite backup into a SQLite node")
    target = sqlite_path(url)
    if target.exists() and not force:
        raise CommandError(f"{target} exists: stop the node and pass --force to replace it")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):
        stale = Path(f"{target}{suffix}")
        if stale.exists():
            stale.unlink()
    source_db = sqlite3.connect(f"file:{source / 'regies.db'}?mode=ro", uri=True)
    destination_db = sqlite3.connect(target)
    try:
        source_db.backup(destination_db)
    finally:
        destination_db.close()
        source_db.close()
    os.chmod(target, 0o600)
    if (source / "keys").exists():
        if settings.keys_dir.exists():
            shutil.rmtree(settings.keys_dir)
        _copy_private_tree(source / "keys", settings.keys_dir)
    for name in (CONFIG_FILE_NAME, "admin-token"):
        if (source / name).exists() and (force or not (settings.data_dir / name).exists()):
            shutil.copy2(source / name, settings.data_dir / name)
    if settings.admin_token_file.exists():
        settings.admin_token_file.chmod(0o600)
    return manifest


def _value(connection: sqlite3.Connection, sql: str) -> Any:
    row = connection.execute(sql).fetchone()
    return None if row is None else row[0]


def _libpq_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
