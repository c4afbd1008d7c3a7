"""Streaming a CSV store's result.csv into another store (``result merge``).

A merge never loads a CSV source's result table into SQLite: result.csv is read in chunks
and its rows go straight to the destination, so memory does not grow with the store.

Rows travel as one flat, row-major list per chunk (9 fields per row, in the file's column
order: id, timestamp, the five references as canonical decimal text, session_uuid, value
as a float).  Well-formed chunks (what fastpath writes) are checked column-wise with
C-level builtins; a chunk that is not plainly well formed sends the whole file through the
generic record parser of :mod:`csvstore`, which reports the same file:line errors as
opening the store.

Into a SQLite-based destination, big files are parsed by worker processes (one byte range
of the file each) into temporary unindexed SQLite files, which the destination then copies
with ``INSERT ... SELECT`` in file order: parsing, not inserting, is the slow part.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Connection

from fastpath.errors import UserError
from fastpath.resultcsv import (  # noqa: F401 - re-exported
    _WIDTH,
    COLUMNS,
    RESULT_FKS,
    Maps,
    _blocks,
    _fast_chunk,
    _init_worker,
    _stage,
    _Staged,
    insert_rows,
    map_rows,
)
from fastpath.resultstore.csvstore import _BATCH, _parser, _records, check_header, file_for
from fastpath.resultstore.models import Result

_HEADER = ["id", *COLUMNS]
_PARALLEL_MIN_BYTES = 4 << 20  # smaller files: one process
_STAGE_TIMEOUT_S = 60.0  # + the range's size at _STAGE_MIN_RATE: then read it in-process
_STAGE_MIN_RATE = 1 << 20  # bytes/s


def text_maps(maps: dict[str, dict[int, int]]) -> Maps:
    return {col: {str(k): v for k, v in m.items()} for col, m in maps.items()}


# ---------------------------------------------------------------- parsing


def _slow_chunks(path: Path, parents: dict[str, set[int]], skip: int) -> Iterator[list]:
    """The generic parser, from the start (to know every id); yields after ``skip`` rows."""
    records = _records(path)
    _line, header = next(records)
    header = [h.lstrip("\ufeff") if i == 0 else h for i, h in enumerate(header)]
    table = Result.__table__
    names = [c.name for c in table.columns]
    positions = [header.index(c) for c in names]
    parsers = [_parser(c, path) for c in table.columns]
    width = len(header)
    seen: set[int] = set()
    index = 0
    flat: list = []
    for line, fields in records:
        if not fields:
            continue
        if len(fields) != width:
            raise UserError(f"expected {width} fields, found {len(fields)}",
                            where=f"{path}:{line}", hint="check the quoting of that row")
        row = dict(zip(names, (p(fields[i], line) for p, i in zip(parsers, positions,
                                                                    strict=True)), strict=True))
        if row["id"] in seen:
            raise UserError(f"inconsistent data: id {row['id']} is repeated",
                            where=f"{path}:{line}", hint="every result row needs its own id")
        seen.add(row["id"])
        for col, parent in RESULT_FKS.items():
            if row[col] not in parents[col]:
                raise UserError(f"inconsistent data: column '{col}' refers to {parent} id "
                                f"{row[col]}, which {parent}.csv does not have",
                                where=f"{path}:{line}",
                                hint=f"restore the missing {parent} row or remove this one")
        index += 1
        if index <= skip:
            continue
        flat.extend((row["id"], row["timestamp"], *(str(row[c]) for c in RESULT_FKS),
                     row["session_uuid"], row["value"]))
        if len(flat) >= _BATCH * _WIDTH:
            yield flat
            flat = []
    if flat:
        yield flat


def _keys(parents: dict[str, set[int]]) -> dict[str, set[str]]:
    return {col: {str(i) for i in ids} for col, ids in parents.items()}


def read_results(directory: Path, parents: dict[str, set[int]]) -> Iterator[list]:
    """Every row of ``directory``/result.csv, validated, as flat chunks in file order.

    ``parents`` maps each reference column to the ids its parent table holds: a row
    referring to anything else is an error (file:line), as is a repeated id."""
    path = file_for(directory, Result.__table__)
    header = check_header(directory, Result.__table__)
    done = 0
    if header == _HEADER:
        keys = _keys(parents)
        last: list[int | None] = [None]
        try:
            for text in _blocks(path, _data_start(path), path.stat().st_size):
                flat = _fast_chunk(text, keys, last)
                if flat is None:
                    break
                yield flat
                done += len(flat) // _WIDTH
            else:
                return
        except UnicodeDecodeError:
            pass
    yield from _slow_chunks(path, parents, done)


def _data_start(path: Path) -> int:
    with open(path, "rb") as fh:
        fh.readline()
        return fh.tell()


# ---------------------------------------------------------------- mapping


# ---------------------------------------------------------------- parallel staging


def _ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges of the data lines, split at line ends."""
    start, size = _data_start(path), path.stat().st_size
    cuts = [start]
    with open(path, "rb") as fh:
        for k in range(1, parts):
            fh.seek(max(start + (size - start) * k // parts, cuts[-1]))
            fh.readline()
            cuts.append(min(fh.tell(), size))
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


def _workers() -> int:
    """Worker processes for parsing: the usable CPUs (at most 4)."""
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 4))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, min(os.cpu_count() or 1, 4))


ATTACHED = "fastpath_attached"  # Connection.info key: aliases to DETACH after the transaction
_MAX_ATTACHED = 10  # SQLite's default limit


def _copy_parallel(dst: Connection, path: Path, parents: dict[str, set[int]],
                   maps: Maps, fail_after: Callable[[int], None] | None) -> int | None:
    """Stage byte ranges in worker processes and copy them in order; None (nothing
    written) when any range needs the generic parser.

    A database attached inside a transaction cannot be detached before it ends: the
    staged parts stay attached (``Connection.info[ATTACHED]``) and the store's
    transaction detaches them; their files are already unlinked by then."""
    import multiprocessing

    raw = dst.connection.driver_connection
    attached = dst.info.setdefault(ATTACHED, [])
    in_use = len(raw.execute("PRAGMA database_list").fetchall()) - 2  # main, temp
    workers = _workers()
    slots = _MAX_ATTACHED - in_use
    if slots < 2:
        return None
    parts = _ranges(path, min(workers * 2, slots))
    with tempfile.TemporaryDirectory(prefix="fastpath-merge-") as tmp:
        jobs = [(a, b, str(Path(tmp) / f"part{i}.db")) for i, (a, b) in enumerate(parts)]
        # forkserver, not fork: a process with other threads (a test runner, a service)
        # may hold a lock at fork time and the forked worker would wait for it for ever
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["fastpath.resultcsv"])
        with ctx.Pool(workers, _init_worker, (path, _keys(parents), maps)) as pool:
            staged = pool.imap(_stage, jobs)
            raw.execute("SAVEPOINT fp_csv_results")
            read, last = 0, None
            for a, b, _out in jobs:
                try:  # a worker that never answers must not hang the merge
                    part = staged.next(timeout=_STAGE_TIMEOUT_S + (b - a) / _STAGE_MIN_RATE)
                except multiprocessing.TimeoutError:
                    part = _Staged(None)
                if part.path is None or (
                        last is not None and part.first_id is not None
                        and part.first_id <= last):
                    raw.execute("ROLLBACK TO fp_csv_results")
                    raw.execute("RELEASE fp_csv_results")
                    return None
                if part.last_id is not None:
                    last = part.last_id
                alias = f"fp_stage{len(attached)}"
                raw.execute(f"ATTACH DATABASE ? AS {alias}", (part.path,))
                attached.append(alias)
                raw.execute(f"INSERT INTO main.result ({', '.join(COLUMNS)}) "
                            f"SELECT {', '.join(COLUMNS)} FROM {alias}.stage "
                            "ORDER BY rowid ON CONFLICT DO NOTHING")
                read += part.rows
                if fail_after is not None:
                    fail_after(read)
            raw.execute("RELEASE fp_csv_results")
            return read


# ---------------------------------------------------------------- copying


def copy_results(directory: Path, parents: dict[str, set[int]], maps: dict[str, dict[int, int]],
                 dst: Connection, insert_chunk: Callable[[list], None],
                 fail_after: Callable[[int], None] | None = None) -> int:
    """Copy every row of ``directory``/result.csv whose objects ``maps`` knows into the
    destination; returns the number of rows read.  ``insert_chunk`` takes flat
    destination rows (used when the rows are not staged in parallel)."""
    path = file_for(directory, Result.__table__)
    header = check_header(directory, Result.__table__)
    tmaps = text_maps(maps)
    if (dst.dialect.name == "sqlite" and header == _HEADER and _workers() > 1
            and path.stat().st_size >= _PARALLEL_MIN_BYTES):
        with contextlib.suppress(UnicodeDecodeError):
            read = _copy_parallel(dst, path, parents, tmaps, fail_after)
            if read is not None:
                return read
    read = 0
    for flat in read_results(directory, parents):
        rows = map_rows(flat, tmaps)
        read += len(rows) // len(COLUMNS)
        if rows:
            insert_chunk(rows)
        if fail_after is not None:
            fail_after(read)
    return read
