"""One write path: only the record service (and the statements it owns) changes `records`, `changes` and
`record_revisions`.

The source of federation/ and plugins/ is walked: a statement writing either table, a write statement's SQL, or an
import of the service's private write module anywhere else fails the test, naming where.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = (ROOT / "federation", ROOT / "plugins")
# The service, and the modules it owns: its private statements and the upsert's SQL text.
SERVICE = "federation/storage/service.py"
OWNED = {SERVICE, "federation/storage/_writes.py", "federation/storage/upsert.py"}
# The documented boundary (federation/storage/service.py): an SQLite node's pull backlog is written by the writer
# process with the service's upsert statement; it reports its commits through the service.
WRITER_PROCESS = "federation/protocol/sqlite_writer.py"
# Migrations reshape the tables once, outside any node's writes.
MIGRATIONS = "federation/storage/migrations/"
TABLES = {"records", "changes", "record_revisions"}
WRITE_SQL = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(records|changes|record_revisions)\b", re.IGNORECASE)
UPSERT_STATEMENTS = {"SQLITE_UPSERT_SQL", "POSTGRES_STAGE_UPSERT_SQL", "REVISION_SQL", "SQLITE_REVISION_SQL"}


def _names_table(node: ast.expr) -> bool:
    """`records`, `changes`, or `tables.records`…"""
    if isinstance(node, ast.Name):
        return node.id in TABLES
    return isinstance(node, ast.Attribute) and node.attr in TABLES


def write_sites(path: str, source: str) -> list[str]:
    """Where the module at `path` (relative to the repository) writes records or change-log entries itself."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call):
            function = node.func
            # insert(records) / update(changes) / delete(records)
            if (
                isinstance(function, ast.Name)
                and function.id in ("insert", "update", "delete")
                and node.args
                and _names_table(node.args[0])
            ):
                found.append((line, f"{path}:{line}: {function.id}({ast.unparse(node.args[0])})"))
            # records.insert() / changes.update() / records.delete()
            if (
                isinstance(function, ast.Attribute)
                and function.attr in ("insert", "update", "delete")
                and _names_table(function.value)
            ):
                found.append((line, f"{path}:{line}: {ast.unparse(function)}()"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (sql := WRITE_SQL.search(node.value)):
            found.append((line, f"{path}:{line}: SQL {sql[0]!r}"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported = {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
            if "federation.storage._writes" in imported:
                found.append((line, f"{path}:{line}: imports federation.storage._writes"))
            if path != WRITER_PROCESS and UPSERT_STATEMENTS & {alias.name for alias in node.names}:
                found.append((line, f"{path}:{line}: imports the upsert statement"))
        elif isinstance(node, ast.Import) and any(alias.name == "federation.storage._writes" for alias in node.names):
            found.append((line, f"{path}:{line}: imports federation.storage._writes"))
    return [site for _, site in sorted(found)]


def _modules() -> list[tuple[str, str]]:
    return [
        (path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))
        for root in SCANNED
        for path in sorted(root.rglob("*.py"))
    ]


def test_only_the_record_service_writes_records_and_the_change_log() -> None:
    outside = [
        site
        for path, source in _modules()
        if path not in OWNED and not path.startswith(MIGRATIONS)
        for site in write_sites(path, source)
    ]
    assert outside == [], "write through the record service (federation/storage/service.py):\n" + "\n".join(outside)


def test_the_service_and_its_statements_are_where_the_walk_finds_writes() -> None:
    # The walk does see writes: in the modules the service owns, and in nothing it does not know.
    owned = {path: write_sites(path, source) for path, source in _modules() if path in OWNED}
    assert any("insert(records)" in site for site in owned["federation/storage/_writes.py"])
    assert any("insert(changes)" in site for site in owned["federation/storage/_writes.py"])
    assert any("imports federation.storage._writes" in site for site in owned[SERVICE])
    assert any("INSERT INTO records" in site for site in owned["federation/storage/upsert.py"])
    assert any("INSERT INTO record_revisions" in site for site in owned["federation/storage/upsert.py"])


def test_a_write_added_elsewhere_is_named() -> None:
    handler = (
        "from sqlalchemy import insert\n"
        "from federation.storage.tables import changes, records\n"
        "from federation.storage import _writes\n"
        "async def sneak(connection, row):\n"
        "    await connection.execute(insert(records).values(**row))\n"
        "    await connection.execute(tables.changes.insert().values(**row))\n"
        "    await connection.exec_driver_sql('UPDATE records SET deleted = 1')\n"
    )
    assert write_sites("federation/api/sneaky.py", handler) == [
        "federation/api/sneaky.py:3: imports federation.storage._writes",
        "federation/api/sneaky.py:5: insert(records)",
        "federation/api/sneaky.py:6: tables.changes.insert()",
        "federation/api/sneaky.py:7: SQL 'UPDATE records'",
    ]
