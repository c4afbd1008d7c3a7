"""The CSV directory format: one ``<table>.csv`` per table (RFC 4180, UTF-8, CRLF, header).

A CSV store is loaded into an in-memory SQLite database with the same models, so every
operation behaves exactly as on the SQL backends.  Writes go back to the directory at the
end of each transaction: every changed table is written to a temporary file, fsync'ed, and
renamed over the old one in dependency order (parents first).  Because stores only grow,
a crash between two renames still leaves every reference resolvable.

Value encoding (identical in the canonical dump): integers in decimal, floats as Python's
shortest round-trip ``repr``, timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC), NULL as
an empty field (only nullable columns; text columns that may be NULL never hold '').
"""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import Column, Connection, Table, select
from sqlalchemy.exc import IntegrityError

from fastpath.errors import UserError
from fastpath.resultstore.models import TABLES

_BATCH = 50_000


def file_for(directory: Path, table: Table) -> Path:
    return directory / f"{table.name}.csv"


def _kind(col: Column) -> str:
    t = col.type
    name = type(t).__name__.lower()
    if hasattr(t, "variant_mapping") and "sqlite" in getattr(t, "variant_mapping", {}):
        name = type(t.variant_mapping["sqlite"]).__name__.lower()
    if "int" in name:
        return "int"
    if "double" in name or "float" in name or "real" in name:
        return "float"
    if "datetime" in name:
        return "datetime"
    if "enum" in name:
        return "enum"
    return "text"


def format_value(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "float":
        return repr(float(value))
    if kind == "datetime":
        return value.isoformat(sep=" ", timespec="microseconds")
    if kind == "int":
        return str(int(value))
    return str(value)


def row_formatter(table: Table):
    kinds = [_kind(c) for c in table.columns]
    if kinds == ["int", "datetime", "int", "int", "int", "int", "int", "text", "float"]:
        def fmt_result(row):  # fast path for the big table
            return (row[0], row[1].isoformat(sep=" ", timespec="microseconds"), row[2], row[3],
                    row[4], row[5], row[6], row[7], repr(row[8]))
        return fmt_result

    def fmt(row):
        return [format_value(v, k) for v, k in zip(row, kinds, strict=True)]
    return fmt


def write_csv(fh, table: Table, rows: Iterable) -> None:
    writer = csv.writer(fh, lineterminator="\r\n")
    writer.writerow([c.name for c in table.columns])
    fmt = row_formatter(table)
    writer.writerows(fmt(r) for r in rows)


def _iter_table(conn: Connection, table: Table, after_id: int | None = None) -> Iterator:
    order = table.c.id if "id" in table.c else table.c.key
    stmt = select(table).order_by(order)
    if after_id is not None:
        stmt = stmt.where(table.c.id > after_id)
    result = conn.execution_options(yield_per=_BATCH).execute(stmt)
    for part in result.partitions():
        yield from part


def dump_tables(directory: Path, conn: Connection, tables: list[Table],
                appends: dict[str, int] | None = None) -> None:
    """Write ``tables`` (dependency order) to ``directory``, atomically per file.

    ``appends`` maps a table name to the largest id already in its file: when that file
    looks like fastpath wrote it (expected header, ends with a line break), it is copied and
    only the newer rows are appended to the copy, instead of formatting every row again.
    """
    directory.mkdir(parents=True, exist_ok=True)
    appends = appends or {}
    temps: list[tuple[Path, Path]] = []
    try:
        for table in tables:
            final = file_for(directory, table)
            tmp = directory / f".{table.name}.csv.tmp-{os.getpid()}"
            after = appends.get(table.name)
            if after is not None and _appendable(final, table):
                shutil.copyfile(final, tmp)
                with open(tmp, "a", encoding="utf-8", newline="") as fh:
                    writer = csv.writer(fh, lineterminator="\r\n")
                    writer.writerows(map(row_formatter(table), _iter_table(conn, table, after)))
                    fh.flush()
                    os.fsync(fh.fileno())
            else:
                with open(tmp, "w", encoding="utf-8", newline="") as fh:
                    write_csv(fh, table, _iter_table(conn, table))
                    fh.flush()
                    os.fsync(fh.fileno())
            temps.append((tmp, final))
        for tmp, final in temps:
            os.replace(tmp, final)
        dirfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    finally:
        for tmp, _final in temps:
            tmp.unlink(missing_ok=True)


def _appendable(path: Path, table: Table) -> bool:
    header = (",".join(c.name for c in table.columns) + "\r\n").encode()
    try:
        with open(path, "rb") as fh:
            if fh.read(len(header)) != header:
                return False
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"
    except OSError:
        return False


def table_text(conn: Connection, table: Table, rows: Iterable | None = None) -> str:
    buf = io.StringIO(newline="")
    write_csv(buf, table, _iter_table(conn, table) if rows is None else rows)
    return buf.getvalue()


# ---------------------------------------------------------------- loading


def _parser(col: Column, path: Path):
    kind = _kind(col)
    nullable = bool(col.nullable)
    name = col.name

    def fail(line: int, text: str, what: str):
        return UserError(f"column '{name}': {text!r} {what}", where=f"{path}:{line}",
                         hint="fix the value in the CSV file")

    if kind == "int":
        def parse_int(text: str, line: int):
            if text == "" and nullable:
                return None
            try:
                return int(text)
            except ValueError:
                raise fail(line, text, "is not an integer") from None
        return parse_int
    if kind == "float":
        def parse_float(text: str, line: int):
            try:
                value = float(text)
            except ValueError:
                raise fail(line, text, "is not a number") from None
            if not math.isfinite(value):
                raise fail(line, text, "is not a finite number")
            return value + 0.0  # -0.0 -> 0.0, as on ingest
        return parse_float
    if kind == "datetime":
        def parse_dt(text: str, line: int):
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise fail(line, text, "is not a timestamp (YYYY-MM-DD HH:MM:SS.ffffff)") from None
            if len(text) == 26 and text[10] == " ":
                return text  # already the canonical text
            if value.tzinfo is not None:
                from datetime import UTC

                value = value.astimezone(UTC).replace(tzinfo=None)
            # the exact text SQLAlchemy's SQLite DateTime stores (always 6 fraction digits)
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return parse_dt
    if kind == "enum":
        allowed = tuple(col.type.enums)  # type: ignore[attr-defined]

        def parse_enum(text: str, line: int):
            if text not in allowed:
                raise fail(line, text, f"is not one of {', '.join(allowed)}")
            return text
        return parse_enum

    def parse_text(text: str, line: int):
        if text == "" and nullable:
            return None
        return text
    return parse_text


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) of every record; reports malformed CSV with file:line."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        line = 1
        try:
            for fields in reader:
                yield line, fields
                line = reader.line_num + 1
        except csv.Error as exc:
            raise UserError(f"malformed CSV: {exc}", where=f"{path}:{reader.line_num}",
                            hint="the file must follow RFC 4180") from None
        except UnicodeDecodeError as exc:
            raise UserError(f"not UTF-8: {exc.reason}", where=str(path),
                            hint="save the file as UTF-8") from None


def load_table(conn: Connection, directory: Path, table: Table) -> None:
    path = file_for(directory, table)
    header = check_header(directory, table)
    records = _records(path)
    next(records)
    columns = [c.name for c in table.columns]
    positions = [header.index(c) for c in columns]
    parsers = [_parser(c, path) for c in table.columns]
    width = len(header)
    sql = (f'INSERT INTO "{table.name}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) '
           f'VALUES ({", ".join("?" for _ in columns)})')
    raw = conn.connection.driver_connection
    fast = _fast_result_parser(table, header)
    batch: list[tuple] = []
    for line, fields in records:
        if not fields:
            continue  # a blank line (e.g. trailing)
        if len(fields) != width:
            raise UserError(f"expected {width} fields, found {len(fields)}",
                            where=f"{path}:{line}", hint="check the quoting of that row")
        row = fast(fields) if fast is not None else None
        if row is None:  # generic path; also produces the precise error message
            row = tuple(p(fields[i], line) for p, i in zip(parsers, positions, strict=True))
        batch.append(row)
        if len(batch) >= _BATCH:
            _insert(raw, sql, batch, path)
            batch = []
    if batch:
        _insert(raw, sql, batch, path)


def _fast_result_parser(table: Table, header: list[str]):
    """A quick parser for well-formed rows of the result table (None: use the generic one)."""
    if table.name != "result" or header != [c.name for c in table.columns]:
        return None
    check_ts = datetime.fromisoformat

    def parse(f: list[str]):
        try:
            ts = f[1]
            if len(ts) != 26 or ts[10] != " ":
                return None
            check_ts(ts)
            value = float(f[8]) + 0.0
            if value - value != 0.0:  # NaN or infinite
                return None
            return (int(f[0]), ts, int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6]), f[7],
                    value)
        except ValueError:
            return None

    return parse


def _insert(raw, sql: str, rows: list[tuple], path: Path) -> None:
    import sqlite3

    try:
        raw.executemany(sql, rows)
    except (sqlite3.IntegrityError, IntegrityError) as exc:
        raise UserError(f"inconsistent data: {exc}", where=str(path),
                        hint="a row repeats an id or unique key, or references a missing row"
                        ) from None


def load_directory(conn: Connection, directory: Path) -> None:
    """Load every table's CSV file into the (empty) database behind ``conn``."""
    for table in TABLES:
        load_table(conn, directory, table)


def looks_like_store(directory: Path) -> bool:
    return any(file_for(directory, t).exists() for t in TABLES)


def check_header(directory: Path, table: Table) -> list[str]:
    """The header of ``table``'s file, checked as when loading it."""
    path = file_for(directory, table)
    if not path.is_file():
        raise UserError(f"CSV resultstore {directory} is missing the file {path.name}",
                        where=str(path), hint="restore the file; every table needs one")
    records = _records(path)
    try:
        _line, header = next(records)
    except StopIteration:
        raise UserError("the file is empty (no header row)", where=f"{path}:1",
                        hint="the first line must name the columns") from None
    finally:
        records.close()
    header = [h.lstrip("\ufeff") if i == 0 else h for i, h in enumerate(header)]
    columns = [c.name for c in table.columns]
    missing = [c for c in columns if c not in header]
    if missing:
        raise UserError(f"missing column(s) {', '.join(missing)}", where=f"{path}:1",
                        hint=f"the header must be: {','.join(columns)}")
    extra = [h for h in header if h not in columns]
    if extra or len(set(header)) != len(header):
        raise UserError(f"unexpected or repeated column(s) {', '.join(extra) or header}",
                        where=f"{path}:1", hint=f"the header must be: {','.join(columns)}")
    return header
