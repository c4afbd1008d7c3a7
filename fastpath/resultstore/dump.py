"""Canonical dump of a store: the same text for the same content, whatever the backend.

Each table is rendered as its CSV text (the CSV backend's encoding) with rows in id order
and ids renumbered densely (1, 2, ...), foreign keys following.  Two stores holding the same
data inserted in the same order therefore dump byte-identically, even when a backend
skipped ids (e.g. MySQL auto-increment after a rollback).
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from fastpath.resultstore import csvstore
from fastpath.resultstore.models import TABLES


def canonical_dump(conn: Connection) -> dict[str, str]:
    renumber: dict[str, dict[int, int]] = {}
    out: dict[str, str] = {}
    for table in TABLES:
        cols = list(table.columns)
        has_id = "id" in table.c
        order = table.c.id if has_id else table.c.key
        rows = [list(r) for r in conn.execute(select(table).order_by(order))]
        if has_id:
            renumber[table.name] = {row[0]: i for i, row in enumerate(rows, start=1)}
        fks = {}
        for pos, col in enumerate(cols):
            for fk in col.foreign_keys:
                fks[pos] = fk.column.table.name
        for row in rows:
            if has_id:
                row[0] = renumber[table.name][row[0]]
            for pos, target in fks.items():
                if row[pos] is not None:
                    row[pos] = renumber[target][row[pos]]
        out[table.name] = csvstore.table_text(conn, table, rows)
    return out


def canonical_text(conn: Connection) -> str:
    return "".join(f"## {name}\r\n{text}" for name, text in canonical_dump(conn).items())
