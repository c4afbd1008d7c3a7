"""Alembic environment for the resultstore.

fastpath runs migrations programmatically (:func:`fastpath.resultstore.schema.upgrade`)
and passes an open SQLAlchemy connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from fastpath.resultstore.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("fastpath resultstore migrations need a connection in attributes")
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
