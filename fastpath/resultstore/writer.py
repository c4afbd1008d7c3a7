"""Writing into a store: content-deduplicated objects, results and errors.

:class:`Writer` works on one open connection inside one transaction; it is shared by
:func:`ingest_batch` (records from the SUT runner) and by merge.  Objects are found by
their content hash (``key_hash`` / ``rmdescs_hash``) and created only when absent; results
and errors are inserted with "ignore duplicates" semantics on their unique constraint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from fastpath.errors import UserError
from fastpath.records import Batch, ErrorRow, NodeInfo, ResultRow
from fastpath.resultstore import hashing
from fastpath.resultstore.models import (
    Benchmark,
    Cpu,
    Error,
    Node,
    Param,
    Result,
    ResultClass,
    RmDesc,
    Role,
    RoleMap,
    Sut,
    SutClass,
    SwProfile,
)

_CHUNK = 20_000


def utc_naive(ts: datetime) -> datetime:
    """Timestamps are stored as naive UTC with microseconds."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def _none_if_empty(value: str | None) -> str | None:
    return None if value is None or value == "" else value


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT rows, silently skipping those that collide with a unique constraint."""
    if not rows:
        return
    name = conn.dialect.name
    if name == "sqlite":
        stmt = sqlite_dialect.insert(table).on_conflict_do_nothing()
    elif name in ("mysql", "mariadb"):
        stmt = mysql_dialect.insert(table)
        stmt = stmt.on_duplicate_key_update(id=stmt.inserted.id)
    else:  # pragma: no cover - only the two dialects above are supported
        raise NotImplementedError(name)
    for start in range(0, len(rows), _CHUNK):
        conn.execute(stmt, list(rows[start:start + _CHUNK]))


class Writer:
    """Get-or-create by content hash, with per-transaction caches."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self._ids: dict[tuple[str, str], int] = {}

    def get_or_create(self, table: Table, key_col: str, key: str,
                      row: dict[str, Any]) -> tuple[int, bool]:
        cache_key = (table.name, key)
        found = self._ids.get(cache_key)
        if found is not None:
            return found, False
        col = table.c[key_col]
        existing = self.conn.execute(select(table.c.id).where(col == key)).scalar_one_or_none()
        if existing is not None:
            self._ids[cache_key] = int(existing)
            return int(existing), False
        new_id = self.conn.execute(table.insert().values(**row, **{key_col: key})
                                   ).inserted_primary_key[0]
        self._ids[cache_key] = int(new_id)
        return int(new_id), True

    def child_ids(self, table: Table, parent_col: str, parent_id: int) -> list[int]:
        return [int(i) for i in self.conn.execute(
            select(table.c.id).where(table.c[parent_col] == parent_id).order_by(table.c.id)
        ).scalars()]

    def role_ids(self, benchmark_id: int) -> dict[str, int]:
        rows = self.conn.execute(
            select(Role.__table__.c.name, Role.__table__.c.id)
            .where(Role.__table__.c.benchmark_id == benchmark_id)
        )
        return {name: int(i) for name, i in rows}


# ---------------------------------------------------------------- batch ingest


def _node_row(node: NodeInfo) -> dict[str, Any]:
    return {
        "name": _none_if_empty(node.name),
        "host_name": node.host_name,
        "architecture": node.architecture,
        "cpu_count": int(node.cpu_count),
        "cpu_info_hash": node.cpu_info_hash,
        "numa_count": int(node.numa_count),
        "ram_sz": int(node.ram_sz),
        "hypervisor": node.hypervisor or "",
        "product_name": node.product_name or "",
        "product_serial": node.product_serial or "",
        "mac_addrs_hash": node.mac_addrs_hash,
    }


def _check_value(row: ResultRow, where: str) -> float:
    try:
        value = float(row.value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: result {row.resultclass!r} has a non-numeric value "
                        f"{row.value!r}") from None
    if not math.isfinite(value):
        raise UserError(f"{where}: result {row.resultclass!r} has a non-finite value {value!r}",
                        hint="store an ERROR row (code 107) instead")
    return value + 0.0  # -0.0 -> 0.0: SQLite cannot keep the sign of zero


def ingest_batch(conn: Connection, batch: Batch, writer: Writer | None = None) -> None:
    """Ingest one :class:`~fastpath.records.Batch` through ``conn`` (caller owns the
    transaction)."""
    w = writer or Writer(conn)
    sut, swp, bench = batch.sut, batch.swprofile, batch.benchmark
    where = f"batch for benchmark {bench.suite}/{bench.name}"
    if not sut.nodes:
        raise UserError(f"{where}: the SUT has no nodes")

    # SUT, its class, nodes and CPUs
    sutclass_id = None
    sutclass_name = _none_if_empty(sut.sutclass)
    if sutclass_name is not None:
        sutclass_id, _ = w.get_or_create(SutClass.__table__, "key_hash",
                                         hashing.sutclass_key(sutclass_name),
                                         {"name": sutclass_name})
    node_rows = [_node_row(n) for n in sut.nodes]
    node_contents = [
        hashing.node_content(r, [(c.cpu_index, c.desc) for c in n.cpus])
        for r, n in zip(node_rows, sut.nodes, strict=True)
    ]
    nodes_hash = hashing.nodes_hash(node_contents)
    sut_name = _none_if_empty(sut.name)
    sut_key = hashing.sut_key(sut_name, sutclass_name, nodes_hash)
    sut_id, created = w.get_or_create(
        Sut.__table__, "key_hash", sut_key,
        {"name": sut_name, "nodes_hash": nodes_hash, "sutclass_id": sutclass_id},
    )
    if created:
        node_ids = []
        for row, node in zip(node_rows, sut.nodes, strict=True):
            nid = conn.execute(Node.__table__.insert().values(sut_id=sut_id, **row)
                               ).inserted_primary_key[0]
            node_ids.append(int(nid))
            if node.cpus:
                conn.execute(Cpu.__table__.insert(), [
                    {"desc": c.desc, "cpu_index": int(c.cpu_index), "node_id": nid}
                    for c in sorted(node.cpus, key=lambda c: c.cpu_index)
                ])
    else:
        node_ids = w.child_ids(Node.__table__, "sut_id", sut_id)

    # software profile
    swp_row = {
        "name": _none_if_empty(swp.name),
        "kernel_name": swp.kernel_name,
        "kernel_git_sha": _none_if_empty(swp.kernel_git_sha),
        "kernel_kconfig_full_hash": _none_if_empty(swp.kernel_kconfig_full_hash),
        "kernel_cmdline_full_hash": swp.kernel_cmdline_full_hash,
        "userspace_name": swp.userspace_name,
        "cmdline": "\n".join(sorted(swp.cmdline)),
        "sysctl": "\n".join(sorted(swp.sysctl)),
        "bootscript": "\n".join(swp.bootscript),
    }
    swp_id, _ = w.get_or_create(SwProfile.__table__, "key_hash",
                                hashing.swprofile_key(swp_row), swp_row)

    # benchmark, params, roles
    roles = list(bench.roles)
    if len(set(roles)) != len(roles) or not roles:
        raise UserError(f"{where}: roles must be unique and non-empty, got {roles}")
    bench_row = {
        "suite": bench.suite, "name": bench.name, "type": bench.type, "image": bench.image,
        "params_hash": hashing.params_hash(bench.params), "roles_hash": hashing.roles_hash(roles),
    }
    bench_key = hashing.benchmark_key(bench_row)
    bench_id, created = w.get_or_create(Benchmark.__table__, "key_hash", bench_key, bench_row)
    if created:
        if bench.params:
            conn.execute(Param.__table__.insert(), [
                {"name": str(k), "value": str(v), "benchmark_id": bench_id}
                for k, v in bench.params.items()
            ])
        conn.execute(Role.__table__.insert(), [
            {"name": r, "benchmark_id": bench_id} for r in roles
        ])
    role_ids = w.role_ids(bench_id)

    # rolemap
    mapping = dict(batch.rolemap) or {r: 0 for r in roles}  # single node: all on node 0
    for role, index in mapping.items():
        if role not in role_ids:
            raise UserError(f"{where}: rolemap names unknown role {role!r}",
                            hint=f"roles: {', '.join(roles)}")
        if not 0 <= int(index) < len(node_ids):
            raise UserError(f"{where}: rolemap maps role {role!r} to node {index}, "
                            f"but the SUT has {len(node_ids)} node(s)")
    rm_hash = hashing.rmdescs_hash(sut_key, bench_key, list(mapping.items()))
    rolemap_id, created = w.get_or_create(RoleMap.__table__, "rmdescs_hash", rm_hash, {})
    if created:
        conn.execute(RmDesc.__table__.insert(), [
            {"rolemap_id": rolemap_id, "role_id": role_ids[r], "node_id": node_ids[int(i)]}
            for r, i in sorted(mapping.items())
        ])

    def role_id(name: str) -> int:
        if name not in role_ids:
            raise UserError(f"{where}: row names unknown role {name!r}",
                            hint=f"roles: {', '.join(roles)}")
        return role_ids[name]

    # result classes and results
    results: list[dict[str, Any]] = []
    for r in batch.results:
        if r.improvement not in ("bigger", "smaller"):
            raise UserError(f"{where}: result {r.resultclass!r} has improvement "
                            f"{r.improvement!r}", hint="use 'bigger' or 'smaller'")
        rc_id, _ = w.get_or_create(
            ResultClass.__table__, "key_hash",
            hashing.resultclass_key(bench_key, r.resultclass, r.unit, r.improvement),
            {"benchmark_id": bench_id, "name": r.resultclass, "unit": r.unit,
             "improvement": r.improvement},
        )
        results.append(_result_row(r, _check_value(r, where), rc_id, sut_id, swp_id,
                                   rolemap_id, role_id(r.role)))
    insert_ignore(conn, Result.__table__, results)
    insert_ignore(conn, Error.__table__, [
        _error_row(e, sut_id, swp_id, bench_id, rolemap_id, role_id(e.role))
        for e in batch.errors
    ])


def _result_row(r: ResultRow, value: float, rc_id: int, sut_id: int, swp_id: int,
                rolemap_id: int, role_id: int) -> dict[str, Any]:
    return {"timestamp": utc_naive(r.timestamp), "resultclass_id": rc_id, "sut_id": sut_id,
            "swprofile_id": swp_id, "rolemap_id": rolemap_id, "role_id": role_id,
            "session_uuid": str(r.session_uuid), "value": value}


def _error_row(e: ErrorRow, sut_id: int, swp_id: int, bench_id: int, rolemap_id: int,
               role_id: int) -> dict[str, Any]:
    return {"timestamp": utc_naive(e.timestamp), "sut_id": sut_id, "swprofile_id": swp_id,
            "benchmark_id": bench_id, "rolemap_id": rolemap_id, "role_id": role_id,
            "session_uuid": str(e.session_uuid), "error": int(e.code)}
