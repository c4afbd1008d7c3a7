"""Schema version bookkeeping and alembic migrations (shipped in ``migrations/``).

Every store records ``schema_version`` in ``fastpath_meta``.  A store written by a newer
fastpath is refused; an older one is migrated (only when opened for writing).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, select

from fastpath.errors import UserError
from fastpath.resultstore.models import SCHEMA_VERSION, Meta

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# schema_version -> alembic revision that produces it
REVISIONS = {1: "0001"}


def _alembic_config(connection: Connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Run the alembic migrations up to ``revision`` on ``connection``."""
    from alembic import command

    command.upgrade(_alembic_config(connection), revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head() or ""


def read_version(connection: Connection) -> int | None:
    """The stored schema version, or None when the database holds no fastpath tables."""
    names = set(inspect(connection).get_table_names())
    if Meta.__tablename__ not in names:
        return None
    value = connection.execute(
        select(Meta.value).where(Meta.key == "schema_version")
    ).scalar_one_or_none()
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def check_version(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise UserError(
            f"resultstore {where} was written by a newer fastpath "
            f"(schema version {version}, this fastpath supports up to {SCHEMA_VERSION})",
            hint="upgrade fastpath to read it",
        )
    if version < 1:
        raise UserError(f"resultstore {where} has no valid schema version",
                        hint="it was not created by fastpath")
