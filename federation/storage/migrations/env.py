"""Alembic environment: runs migrations on the connection handed over by federation.storage.migrate."""

from __future__ import annotations

from alembic import context

from federation.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `regies db upgrade`, which provides the database connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
