"""``fastpath result merge``: copy (a selection of) one or more stores into another.

Ids are mapped through content hashes, so objects and results are kept exactly once and
merging the same source twice adds nothing.  The destination is written in one
transaction; when anything fails it is left exactly as it was (a destination created by
this merge is removed again).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, func, select

from fastpath.errors import UserError
from fastpath.resultstore import query
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
from fastpath.resultstore.store import Store, destroy, open_store, store_exists
from fastpath.resultstore.url import StoreURL, parse_url
from fastpath.resultstore.writer import Writer, insert_ignore

_CHUNK = 20_000


@dataclass
class MergeReport:
    destination: str
    created: bool
    results_added: int = 0
    errors_added: int = 0
    results_read: int = 0
    errors_read: int = 0
    sources: list[str] = field(default_factory=list)


@dataclass
class Selection:
    suts: Sequence[str] | None = None
    swprofiles: Sequence[str] | None = None
    benchmarks: Sequence[str] | None = None


_RESULT_COLUMNS = ("timestamp", "resultclass_id", "sut_id", "swprofile_id", "rolemap_id",
                   "role_id", "session_uuid", "value")


def result_insert_sql(dialect: str) -> str:
    """A driver-level INSERT of result rows that skips rows already present."""
    cols = ", ".join(_RESULT_COLUMNS)
    if dialect == "sqlite":
        marks = ", ".join("?" for _ in _RESULT_COLUMNS)
        return f"INSERT INTO result ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    marks = ", ".join("%s" for _ in _RESULT_COLUMNS)
    return f"INSERT INTO result ({cols}) VALUES ({marks}) ON DUPLICATE KEY UPDATE id = id"


def _timestamp_converter(dialect: str) -> Callable[[Any], Any]:
    """Timestamps as the destination driver wants them: SQLite stores SQLAlchemy's text
    form (always six fraction digits); MySQL takes datetimes or that same text."""

    def convert(ts: Any) -> Any:
        if isinstance(ts, datetime):
            return ts.strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(ts, str) and len(ts) == 19:  # no fraction stored
            return ts + ".000000"
        return ts

    return convert


_MYSQL_ROWS_PER_STATEMENT = 5_000


def _mysql_insert_literal(rows: list[tuple]) -> str:
    """One multi-row INSERT with escaped literals: PyMySQL's per-value escaping dominates a
    large merge otherwise.  Strings go through PyMySQL's own ``escape_string``."""
    import math

    from pymysql.converters import escape_string

    parts = []
    for ts, rc, sut, swp, rm, role, sess, value in rows:
        if not math.isfinite(value):
            raise UserError(f"a source result has the non-finite value {value!r}",
                            hint="the source store is damaged")
        parts.append(f"('{escape_string(ts)}',{int(rc)},{int(sut)},{int(swp)},{int(rm)},"
                     f"{int(role)},'{escape_string(sess)}',{float(value)!r})")
    return (f"INSERT INTO result ({', '.join(_RESULT_COLUMNS)}) VALUES {','.join(parts)} "
            "ON DUPLICATE KEY UPDATE id = id")


def _rows(conn: Connection, table: Table) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.id))]


def _without(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("id", *keys)}


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def copy_store(src: Connection, w: Writer, sel: Selection, label: str,
               fail_after: Callable[[int], None] | None = None,
               attached: str | None = None,
               streamed: Path | None = None) -> tuple[int, int]:
    """Copy the selected content of ``src`` through the destination writer ``w``.

    ``attached`` names the schema under which the same source is ATTACHed to a SQLite
    destination connection: the result rows are then copied by one ``INSERT ... SELECT``
    through temporary id-mapping tables instead of passing through Python.
    ``streamed`` is the directory of a CSV source whose result.csv was not loaded: its
    rows are streamed from the file in chunks.
    Returns (results read, errors read)."""
    dst = w.conn
    where = f" in {label}"
    sut_sel = {s.id for s in query.select_objects(query.suts(src), sel.suts, "sut", where)}
    swp_sel = {p.id for p in query.select_objects(query.swprofiles(src), sel.swprofiles,
                                                  "swprofile", where)}
    bench_sel = {b.id for b in query.select_objects(query.benchmarks(src), sel.benchmarks,
                                                    "benchmark", where)}

    # SUT classes and SUTs with nodes and CPUs
    class_rows = {r["id"]: r for r in _rows(src, SutClass.__table__)}
    class_map: dict[int, int] = {}
    node_map: dict[int, int] = {}
    sut_map: dict[int, int] = {}
    src_nodes = _rows(src, Node.__table__)
    src_cpus = _rows(src, Cpu.__table__)
    for s in _rows(src, Sut.__table__):
        if s["id"] not in sut_sel:
            continue
        cls = s["sutclass_id"]
        if cls is not None and cls not in class_map:
            c = class_rows[cls]
            class_map[cls], _ = w.get_or_create(SutClass.__table__, "key_hash", c["key_hash"],
                                                _without(c, "key_hash"))
        row = _without(s, "key_hash")
        row["sutclass_id"] = class_map.get(cls) if cls is not None else None
        new_id, created = w.get_or_create(Sut.__table__, "key_hash", s["key_hash"], row)
        sut_map[s["id"]] = new_id
        nodes = [n for n in src_nodes if n["sut_id"] == s["id"]]
        if created:
            for n in nodes:
                nid = dst.execute(Node.__table__.insert().values(
                    **{**_without(n), "sut_id": new_id})).inserted_primary_key[0]
                node_map[n["id"]] = int(nid)
            mine = {n["id"] for n in nodes}
            cpus = [{**_without(c), "node_id": node_map[c["node_id"]]}
                    for c in src_cpus if c["node_id"] in mine]
            if cpus:
                dst.execute(Cpu.__table__.insert(), cpus)
        else:
            existing = w.child_ids(Node.__table__, "sut_id", new_id)
            if len(existing) != len(nodes):
                raise UserError(f"SUT {s['name']!r}{where} has {len(nodes)} node(s) but the "
                                f"same SUT in the destination has {len(existing)}",
                                hint="one of the stores is inconsistent")
            node_map.update(zip([n["id"] for n in nodes], existing, strict=True))

    swp_map = {}
    for p in _rows(src, SwProfile.__table__):
        if p["id"] in swp_sel:
            swp_map[p["id"]], _ = w.get_or_create(SwProfile.__table__, "key_hash",
                                                  p["key_hash"], _without(p, "key_hash"))

    bench_map: dict[int, int] = {}
    role_map: dict[int, int] = {}
    src_params = _rows(src, Param.__table__)
    src_roles = _rows(src, Role.__table__)
    for b in _rows(src, Benchmark.__table__):
        if b["id"] not in bench_sel:
            continue
        new_id, created = w.get_or_create(Benchmark.__table__, "key_hash", b["key_hash"],
                                          _without(b, "key_hash"))
        bench_map[b["id"]] = new_id
        roles = [r for r in src_roles if r["benchmark_id"] == b["id"]]
        if created:
            params = [{**_without(p), "benchmark_id": new_id}
                      for p in src_params if p["benchmark_id"] == b["id"]]
            if params:
                dst.execute(Param.__table__.insert(), params)
            if roles:
                dst.execute(Role.__table__.insert(),
                            [{**_without(r), "benchmark_id": new_id} for r in roles])
        dest_roles = w.role_ids(new_id)
        for r in roles:
            role_map[r["id"]] = dest_roles[r["name"]]

    rolemap_map: dict[int, int] = {}
    src_rmdescs = _rows(src, RmDesc.__table__)
    for rm in _rows(src, RoleMap.__table__):
        descs = [d for d in src_rmdescs if d["rolemap_id"] == rm["id"]]
        if not descs or not all(d["role_id"] in role_map and d["node_id"] in node_map
                                for d in descs):
            continue  # belongs to a SUT or benchmark that is not selected
        new_id, created = w.get_or_create(RoleMap.__table__, "rmdescs_hash", rm["rmdescs_hash"],
                                          {})
        rolemap_map[rm["id"]] = new_id
        if created:
            dst.execute(RmDesc.__table__.insert(), [
                {"rolemap_id": new_id, "role_id": role_map[d["role_id"]],
                 "node_id": node_map[d["node_id"]]} for d in descs
            ])

    rc_map: dict[int, int] = {}
    for rc in _rows(src, ResultClass.__table__):
        if rc["benchmark_id"] in bench_map:
            row = {**_without(rc, "key_hash"), "benchmark_id": bench_map[rc["benchmark_id"]]}
            rc_map[rc["id"]], _ = w.get_or_create(ResultClass.__table__, "key_hash",
                                                  rc["key_hash"], row)

    _check_targets(dst, {ResultClass: rc_map, Sut: sut_map, SwProfile: swp_map,
                         RoleMap: rolemap_map, Role: role_map})
    if streamed is not None:
        read_results = _copy_results_csv(src, dst, streamed, {
            "resultclass_id": rc_map, "sut_id": sut_map, "swprofile_id": swp_map,
            "rolemap_id": rolemap_map, "role_id": role_map}, fail_after)
    elif attached is not None:
        read_results = _copy_results_attached(dst, attached, {
            "rc": rc_map, "sut": sut_map, "swp": swp_map, "rm": rolemap_map, "role": role_map,
        })
        if fail_after is not None:
            fail_after(read_results)
    else:
        read_results = _copy_results_streamed(src, dst, rc_map, sut_map, swp_map,
                                              rolemap_map, role_map, fail_after)

    e = Error.__table__.c
    errors = []
    for row in src.execute(select(Error.__table__).order_by(e.id)):
        m = row._mapping
        if (m["sut_id"] in sut_map and m["swprofile_id"] in swp_map
                and m["benchmark_id"] in bench_map):
            errors.append({**_without(dict(m)), "sut_id": sut_map[m["sut_id"]],
                           "swprofile_id": swp_map[m["swprofile_id"]],
                           "benchmark_id": bench_map[m["benchmark_id"]],
                           "rolemap_id": rolemap_map[m["rolemap_id"]],
                           "role_id": role_map[m["role_id"]]})
    insert_ignore(dst, Error.__table__, errors)
    return read_results, len(errors)


def _check_targets(dst: Connection, maps: dict[type, dict[int, int]]) -> None:
    """Every id a result row will be given exists in the destination: the result copy
    runs without SQLite's per-row reference checks, so check the (small) maps instead."""
    for model, mapping in maps.items():
        wanted = set(mapping.values())
        if not wanted:
            continue
        table = model.__table__
        ids = sorted(wanted)
        found: set[int] = set()
        for start in range(0, len(ids), 10_000):  # within SQLite's parameter limit
            part = ids[start:start + 10_000]
            found.update(i for (i,) in dst.execute(select(table.c.id).where(
                table.c.id.in_(part))))
        if found != wanted:  # pragma: no cover - a bug in the mapping, never user input
            raise RuntimeError(f"merge mapped to {table.name} ids that do not exist: "
                               f"{sorted(wanted - found)[:5]}")


def _copy_results_csv(src: Connection, dst: Connection, directory: Path,
                      maps: dict[str, dict[int, int]],
                      fail_after: Callable[[int], None] | None) -> int:
    """Stream a CSV source's result.csv into the destination (never loaded whole)."""
    from fastpath.resultstore import csvresults

    parents = {col: {i for (i,) in src.exec_driver_sql(f'SELECT id FROM "{parent}"')}
               for col, parent in csvresults.RESULT_FKS.items()}
    raw = dst.connection.driver_connection
    width = len(csvresults.COLUMNS)

    def insert_chunk(rows: list) -> None:
        if dst.dialect.name in ("mysql", "mariadb"):
            tuples = list(zip(*[iter(rows)] * width, strict=True))
            with contextlib.closing(raw.cursor()) as cur:
                for start in range(0, len(tuples), _MYSQL_ROWS_PER_STATEMENT):
                    cur.execute(_mysql_insert_literal(
                        tuples[start:start + _MYSQL_ROWS_PER_STATEMENT]))
        else:
            csvresults.insert_rows(raw, "main.result", rows, " ON CONFLICT DO NOTHING")

    return csvresults.copy_results(directory, parents, maps, dst, insert_chunk, fail_after)


def _copy_results_attached(dst: Connection, schema: str, maps: dict[str, dict[int, int]]
                           ) -> int:
    """INSERT ... SELECT from the attached source through temporary mapping tables."""
    for name, mapping in maps.items():
        dst.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS fp_map_{name} "
                            "(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL)")
        dst.exec_driver_sql(f"DELETE FROM temp.fp_map_{name}")
        if mapping:
            dst.exec_driver_sql(f"INSERT INTO temp.fp_map_{name} (src, dst) VALUES (?, ?)",
                                list(mapping.items()))
    source = (
        f"FROM {schema}.result r CROSS JOIN temp.fp_map_rc m1 CROSS JOIN temp.fp_map_sut m2 "
        "CROSS JOIN temp.fp_map_swp m3 CROSS JOIN temp.fp_map_rm m4 "
        "CROSS JOIN temp.fp_map_role m5 WHERE m1.src = r.resultclass_id "
        "AND m2.src = r.sut_id AND m3.src = r.swprofile_id AND m4.src = r.rolemap_id "
        "AND m5.src = r.role_id"
    )
    read = int(dst.exec_driver_sql(f"SELECT COUNT(*) {source}").scalar_one())
    dst.exec_driver_sql(
        f"INSERT INTO main.result ({', '.join(_RESULT_COLUMNS)}) "
        "SELECT r.timestamp, m1.dst, m2.dst, m3.dst, m4.dst, m5.dst, r.session_uuid, r.value "
        f"{source} ORDER BY r.id ON CONFLICT DO NOTHING"
    )
    for name in maps:
        dst.exec_driver_sql(f"DROP TABLE temp.fp_map_{name}")
    return read


def _copy_results_streamed(src: Connection, dst: Connection, rc_map, sut_map, swp_map,
                           rolemap_map, role_map,
                           fail_after: Callable[[int], None] | None) -> int:
    """Stream result rows through the drivers (no per-row ORM/Core processing)."""
    insert_sql = result_insert_sql(dst.dialect.name)
    to_dest_ts = _timestamp_converter(dst.dialect.name)
    mysql = dst.dialect.name in ("mysql", "mariadb")
    read_results = 0
    cursor = src.exec_driver_sql(
        "SELECT timestamp, resultclass_id, sut_id, swprofile_id, rolemap_id, role_id, "
        "session_uuid, value FROM result ORDER BY id"
    )
    while True:
        part = cursor.fetchmany(_CHUNK)
        if not part:
            break
        chunk = []
        for ts, rc_id, sut_id, swp_id, rm_id, role_id, sess, value in part:
            rc_new = rc_map.get(rc_id)
            sut_new = sut_map.get(sut_id)
            swp_new = swp_map.get(swp_id)
            if rc_new is None or sut_new is None or swp_new is None:
                continue
            chunk.append((to_dest_ts(ts), rc_new, sut_new, swp_new, rolemap_map[rm_id],
                          role_map[role_id], sess, value))
        read_results += len(chunk)
        if chunk and mysql:
            # the raw cursor with no arguments: PyMySQL applies no %-formatting then
            with contextlib.closing(dst.connection.driver_connection.cursor()) as cur:
                for start in range(0, len(chunk), _MYSQL_ROWS_PER_STATEMENT):
                    cur.execute(_mysql_insert_literal(
                        chunk[start:start + _MYSQL_ROWS_PER_STATEMENT]))
        elif chunk:
            dst.exec_driver_sql(insert_sql, chunk)
        if fail_after is not None:
            fail_after(read_results)

    return read_results


_MAX_ATTACHED = 8  # SQLite allows 10 attached databases by default


def _attachable(dest: Store, sources: list[Store]) -> dict[str, str]:
    """alias -> SQLite file for each source that can be ATTACHed to ``dest``."""
    if dest.engine.dialect.name != "sqlite":
        return {}
    out: dict[str, str] = {}
    for i, src in enumerate(sources[:_MAX_ATTACHED]):
        if src.kind == "sqlite" and src.url.path is not None:
            out[f"fp_src{i}"] = str(src.url.path.resolve())
    return out


def merge(sources: Sequence[str | StoreURL], destination: str | StoreURL, *,
          append: bool = False, selection: Selection | None = None,
          fast: bool = True,
          _fail_after: Callable[[int], None] | None = None) -> MergeReport:
    """Merge ``sources`` into ``destination`` (created when missing).

    An existing destination is refused unless ``append``.  All or nothing.  With ``fast``
    (the default), SQLite sources merged into a SQLite-based destination are ATTACHed and
    their results copied by SQL; CSV sources stream result.csv in chunks (never loaded
    whole); other combinations stream rows through Python.
    """
    if not sources:
        raise UserError("no source resultstore given", hint="name at least one SRC")
    sel = selection or Selection()
    dest_url = destination if isinstance(destination, StoreURL) else parse_url(destination)
    src_urls = [s if isinstance(s, StoreURL) else parse_url(s) for s in sources]
    for s in src_urls:
        if s.same_place(dest_url):
            raise UserError(f"cannot merge resultstore {s.display} into itself",
                            hint="choose a different destination")
    report = MergeReport(dest_url.display, created=False,
                         sources=[s.display for s in src_urls])
    with contextlib.ExitStack() as stack:
        opened: list[Store] = [
            stack.enter_context(open_store(s, readonly=True, stream_results=True))
            for s in src_urls]
        exists = store_exists(dest_url)
        if exists and not append:
            raise UserError(f"destination resultstore {dest_url.display} already exists",
                            hint="add --append to merge into it")
        dest = open_store(dest_url, create=True)
        report.created = dest.created
        try:
            attach = _attachable(dest, opened) if fast else {}
            with dest.transaction(attach=attach, check_references=False) as dconn:
                before_r = _count(dconn, Result.__table__)
                before_e = _count(dconn, Error.__table__)
                writer = Writer(dconn)
                for i, src_store in enumerate(opened):
                    alias = f"fp_src{i}" if f"fp_src{i}" in attach else None
                    with src_store.connect() as sconn:
                        nr, ne = copy_store(sconn, writer, sel, src_store.url.display,
                                            _fail_after, alias, src_store.streamed_results)
                    report.results_read += nr
                    report.errors_read += ne
                report.results_added = _count(dconn, Result.__table__) - before_r
                report.errors_added = _count(dconn, Error.__table__) - before_e
        except BaseException:
            if dest.created:
                destroy(dest)
            else:
                dest.close()
            raise
        dest.close()
    return report
