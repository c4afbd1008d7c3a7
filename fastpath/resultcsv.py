"""The part of streaming result.csv that worker processes run: parsing well-formed
blocks, mapping references, inserting rows (see :mod:`fastpath.resultstore.csvresults`).

Standard library only: a ``forkserver`` worker imports this module and nothing heavy.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice, repeat
from operator import itemgetter, lt
from pathlib import Path

RESULT_FKS = {"resultclass_id": "resultclass", "sut_id": "sut", "swprofile_id": "swprofile",
              "rolemap_id": "rolemap", "role_id": "role"}
COLUMNS = ("timestamp", *RESULT_FKS, "session_uuid", "value")  # what a destination gets
_WIDTH = 9
_CHUNK_BYTES = 1 << 20
_ROWS_PER_INSERT = 200  # rows per multi-row INSERT (SQLite allows 32766 parameters)

Maps = dict[str, dict[str, int]]  # reference column -> source id text -> destination id


def _fast_chunk(text: str, keys: dict[str, set[str]], last: list[int | None]
                ) -> list | None:
    """The rows of ``text`` (whole lines) as a flat list when all are plainly well formed
    and valid, else None (the caller then uses the generic parser)."""
    if '"' in text:
        return None
    crlf = "\r" in text
    lines = text.split("\r\n" if crlf else "\n")
    if lines[-1] == "":
        lines.pop()
    n = len(lines)
    if not n or (crlf and text.count("\r") != n) or "" in lines:
        return None
    if list(map(str.count, lines, repeat(",", n))).count(_WIDTH - 1) != n:
        return None
    flat = ",".join(lines).split(",")
    try:
        ids = list(map(int, flat[0::_WIDTH]))
        stamps = flat[1::_WIDTH]
        if set(map(len, stamps)) != {26} or set(map(itemgetter(10), stamps)) != {" "}:
            return None
        for _ in map(datetime.fromisoformat, stamps):
            pass
        values = list(map(float, flat[8::_WIDTH]))
    except ValueError:
        return None
    if (last[0] is not None and ids[0] <= last[0]) or not all(map(lt, ids, islice(ids, 1, None))):
        return None  # not strictly increasing: the generic parser finds a repeated id
    if not all(map(math.isfinite, values)):
        return None
    if 0.0 in values:
        values = [v + 0.0 for v in values]  # -0.0 -> 0.0, as on ingest
    for k, col in enumerate(RESULT_FKS, start=2):
        if not keys[col].issuperset(flat[k::_WIDTH]):
            return None
    flat[0::_WIDTH] = ids
    flat[8::_WIDTH] = values
    last[0] = ids[-1]
    return flat


def _blocks(path: Path, start: int, end: int) -> Iterator[str]:
    """The text of bytes [start, end) of ``path`` in blocks of whole lines."""
    with open(path, "rb") as fh:
        fh.seek(start)
        while (pos := fh.tell()) < end:
            data = fh.read(min(_CHUNK_BYTES, end - pos))
            if not data.endswith(b"\n") and fh.tell() < end:
                data += fh.readline()
            yield data.decode("utf-8")


def map_rows(flat: list, maps: Maps) -> list:
    """Source rows (9 fields) -> destination rows (the 8 ``COLUMNS``), references mapped.
    Rows whose objects are not selected (missing from ``maps``) are dropped."""
    try:
        mapped = [list(map(maps[col].__getitem__, flat[k::_WIDTH]))
                  for k, col in enumerate(RESULT_FKS, start=2)]
    except KeyError:
        return _map_selected(flat, maps)
    for k, column in enumerate(mapped, start=2):
        flat[k::_WIDTH] = column
    del flat[0::_WIDTH]
    return flat


def _map_selected(flat: list, maps: Maps) -> list:
    rc, sut, swp, rm, role = (maps[col] for col in RESULT_FKS)
    out: list = []
    for i in range(0, len(flat), _WIDTH):
        _id, ts, a, b, c, d, e, sess, value = flat[i:i + _WIDTH]
        if a in rc and b in sut and c in swp:
            out.extend((ts, rc[a], sut[b], swp[c], rm[d], role[e], sess, value))
    return out


def insert_sql(table: str, rows: int) -> str:
    one = "(" + ", ".join("?" for _ in COLUMNS) + ")"
    return (f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES "
            f"{', '.join([one] * rows)}")


def insert_rows(conn: sqlite3.Connection, table: str, rows: list, suffix: str = "") -> None:
    """Insert flat destination rows with multi-row INSERTs (pysqlite's per-statement cost,
    not SQLite, dominates a one-row-per-statement executemany)."""
    width = len(COLUMNS)
    step = _ROWS_PER_INSERT * width
    full = len(rows) // step * step
    if full:
        conn.executemany(insert_sql(table, _ROWS_PER_INSERT) + suffix,
                         (rows[i:i + step] for i in range(0, full, step)))
    if full < len(rows):
        conn.execute(insert_sql(table, (len(rows) - full) // width) + suffix, rows[full:])



# ---------------------------------------------------------------- worker


@dataclass
class _Staged:
    path: str | None  # None: a block was not plainly well formed (use the generic path)
    rows: int = 0
    first_id: int | None = None
    last_id: int | None = None


_job: dict = {}  # a worker's job (set by _init_worker)


def _init_worker(path: Path, keys: dict[str, set[str]], maps: Maps) -> None:
    _job.update(path=path, keys=keys, maps=maps)


def _stage(part: tuple[int, int, str]) -> _Staged:
    """Worker: parse bytes [start, end) of result.csv into an unindexed SQLite file."""
    start, end, out = part
    keys, maps = _job["keys"], _job["maps"]
    last: list[int | None] = [None]
    first: int | None = None
    rows = 0
    con = sqlite3.connect(out, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.execute(f"CREATE TABLE stage ({', '.join(COLUMNS)})")
        con.execute("BEGIN")
        for text in _blocks(_job["path"], start, end):
            flat = _fast_chunk(text, keys, last)
            if flat is None:
                return _Staged(None)
            if first is None:
                first = flat[0]
            out_rows = map_rows(flat, maps)
            rows += len(out_rows) // len(COLUMNS)
            insert_rows(con, "stage", out_rows)
        con.execute("COMMIT")
    except UnicodeDecodeError:
        return _Staged(None)
    finally:
        con.close()
    return _Staged(out, rows, first, last[0])


