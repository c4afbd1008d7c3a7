"""Opening resultstores: :func:`open_store` returns a :class:`Store` for any backend.

The caller owns transactions: ``with store.transaction() as conn:`` commits on success
and rolls back on any exception (for a CSV store, the directory is only rewritten when
the transaction commits).  Read-only stores refuse transactions that write.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from fastpath.errors import UserError
from fastpath.records import Batch
from fastpath.resultstore import csvstore, schema, sqlstore
from fastpath.resultstore.csvresults import ATTACHED
from fastpath.resultstore.models import DATA_TABLES, SCHEMA_VERSION, TABLES, Base, Meta
from fastpath.resultstore.url import StoreURL, parse_url

# MySQL: command denied, database access denied, read-only server/transaction
_NO_WRITE_ACCESS = {1142, 1044, 1290, 1792, 1227}


class Store:
    """An open resultstore.  Use as a context manager; ``close()`` releases it."""

    def __init__(self, url: StoreURL, engine: Engine, readonly: bool, created: bool):
        self.url = url
        self.engine = engine
        self.readonly = readonly
        self.created = created  # this open created the store
        self.dir_existed = True  # CSV: the directory existed before this open
        self.made_database = False  # MySQL: this open created the database
        # CSV opened with ``stream_results``: the directory whose result.csv was NOT loaded
        # (its result table is empty; read it with csvstore.read_results)
        self.streamed_results: Path | None = None
        self._closed = False

    # ------------------------------------------------------------ basics
    @property
    def kind(self) -> str:
        return self.url.kind

    def __repr__(self) -> str:
        return f"<Store {self.url.display}{' (read-only)' if self.readonly else ''}>"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.engine.dispose()

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading."""
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def transaction(self, attach: dict[str, str] | None = None,
                    check_references: bool = True) -> Iterator[Connection]:
        """One write transaction: all or nothing.

        ``attach`` (SQLite-based stores only) maps schema names to SQLite files attached
        to the connection for the duration of the transaction (read by merge).
        ``check_references=False`` turns SQLite's per-row foreign-key checks off for this
        transaction: only for writers that map every reference to a row they just read or
        wrote (merge), where the checks cost more than the insert itself.
        """
        if self.readonly:
            raise UserError(f"resultstore {self.url.display} is open read-only")
        sqlite = self.engine.dialect.name == "sqlite"
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            for alias, path in (attach or {}).items():
                raw.execute(f"ATTACH DATABASE ? AS {alias}", (path,))
            if sqlite and not check_references:
                raw.execute("PRAGMA foreign_keys = OFF")  # no effect inside a transaction
            trans = conn.begin()
            try:
                before = self._counts(conn) if self.kind == "csv" else None
                yield conn
                if self.kind == "csv":
                    self._write_back(conn, before)
                trans.commit()
            except Exception as exc:
                trans.rollback()
                code = sqlstore.mysql_error_code(exc) if self._driver_error(exc) else None
                if code in _NO_WRITE_ACCESS:
                    raise UserError(
                        f"resultstore {self.url.display}: this user may not write to it "
                        f"(MySQL error {code})",
                        hint="use a user with read-write access for this operation",
                    ) from None
                raise
            except BaseException:
                trans.rollback()
                raise
            finally:
                if sqlite and not check_references:
                    raw.execute("PRAGMA foreign_keys = ON")
                # what merge attached, and what a reader attached inside the transaction
                for alias in [*(attach or {}), *conn.info.pop(ATTACHED, [])]:
                    raw.execute(f"DETACH DATABASE {alias}")

    def _driver_error(self, exc: BaseException) -> bool:
        if self.kind != "mysql":
            return False
        if isinstance(exc, DBAPIError):
            return True
        import pymysql

        return isinstance(exc, pymysql.err.MySQLError)

    # ------------------------------------------------------------ writing
    def ingest(self, batch: Batch) -> None:
        """Ingest one batch in one transaction (see :mod:`fastpath.resultstore.writer`)."""
        from fastpath.resultstore.writer import ingest_batch

        with self.transaction() as conn:
            ingest_batch(conn, batch)

    def ingest_many(self, batches: list[Batch]) -> None:
        """Ingest several batches in ONE transaction."""
        from fastpath.resultstore.writer import Writer, ingest_batch

        with self.transaction() as conn:
            writer = Writer(conn)
            for batch in batches:
                ingest_batch(conn, batch, writer)

    # ------------------------------------------------------------ CSV write-back
    @staticmethod
    def _counts(conn: Connection) -> dict[str, tuple[int, int | None]]:
        out = {}
        for table in DATA_TABLES:
            out[table.name] = tuple(conn.execute(
                select(func.count(), func.max(table.c.id))
            ).one())
        return out

    def _write_back(self, conn: Connection, before) -> None:
        assert self.url.path is not None
        after = self._counts(conn)
        changed = [t for t in DATA_TABLES if after[t.name] != before[t.name]]
        missing = [t for t in TABLES if not csvstore.file_for(self.url.path, t).exists()]
        tables = [t for t in TABLES if t in changed or t in missing]
        appends = {t.name: before[t.name][1] or 0 for t in changed}
        if tables:
            csvstore.dump_tables(self.url.path, conn, tables, appends)


# ---------------------------------------------------------------- opening


def _memory_engine() -> Engine:
    engine = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # pragma: no cover
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _begin(conn):  # pragma: no cover
        conn.exec_driver_sql("BEGIN")

    return engine


def _open_csv(url: StoreURL, create: bool, readonly: bool, stream_results: bool = False
              ) -> Store:
    directory = url.path
    assert directory is not None
    exists = directory.is_dir() and csvstore.looks_like_store(directory)
    dir_existed = directory.is_dir()
    if directory.exists() and not directory.is_dir():
        raise UserError(f"resultstore {url.display} is not a directory",
                        hint="CSV resultstores are directories of <table>.csv files")
    if not exists:
        if directory.is_dir() and any(directory.iterdir()):
            raise UserError(f"directory {directory} is not a fastpath resultstore "
                            "(no fastpath_meta.csv) and is not empty",
                            hint="use an empty or new directory")
        if not create or readonly:
            what = "is an empty directory" if dir_existed else "does not exist"
            raise UserError(f"resultstore {url.display} {what}",
                            hint="check the path; 'fastpath result merge' and 'fastpath plan "
                            "exec' create stores")
    engine = _memory_engine()
    try:
        with engine.begin() as conn:
            Base.metadata.create_all(conn)
            if exists:
                csvstore.load_table(conn, directory, Meta.__table__)
                version = schema.read_version(conn)
                schema.check_version(version or 0, url.display)
                for table in DATA_TABLES:
                    if stream_results and table.name == "result":
                        csvstore.check_header(directory, table)
                    else:
                        csvstore.load_table(conn, directory, table)
            else:
                conn.execute(insert(Meta.__table__).values(key="schema_version",
                                                           value=str(SCHEMA_VERSION)))
        if not exists:
            with engine.connect() as conn:
                _make_dir(directory, url)
                csvstore.dump_tables(directory, conn, TABLES)
    except BaseException:
        engine.dispose()
        raise
    store = Store(url, engine, readonly, created=not exists)
    store.dir_existed = dir_existed
    if exists and stream_results:
        store.streamed_results = directory
    return store


def _make_dir(directory: Path, url: StoreURL) -> None:
    """Create a new store's directory (and its missing parents) or say why it cannot be."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"resultstore {url.display}: cannot create directory {directory}: "
                        f"{exc.strerror or exc}",
                        hint="choose a path in a writable directory") from None


def _init_sql(engine: Engine, url: StoreURL, create: bool, readonly: bool) -> bool:
    """Check (or create/migrate) the schema; returns True when the schema was created."""
    from sqlalchemy import inspect

    try:
        with engine.connect() as conn:
            version = schema.read_version(conn)
            other_tables = set(inspect(conn).get_table_names())
    except DBAPIError as exc:
        if url.kind == "mysql":
            raise sqlstore.connect_error(url, exc) from None
        raise UserError(f"resultstore {url.display}: cannot read the database: {exc.orig}",
                        hint="is it a SQLite database written by fastpath?") from None
    if version is None:
        fastpath_tables = {t.name for t in TABLES}
        if other_tables - {"alembic_version"} and not other_tables & fastpath_tables:
            raise UserError(f"resultstore {url.display} holds tables that are not fastpath's",
                            hint="use an empty database")
        if not create or readonly:
            raise UserError(f"resultstore {url.display} does not exist (no fastpath tables)",
                            hint="check the URL; 'fastpath result merge' creates stores")
        try:
            with engine.begin() as conn:
                schema.upgrade(conn)
        except DBAPIError as exc:
            code = sqlstore.mysql_error_code(exc) if url.kind == "mysql" else None
            if code in _NO_WRITE_ACCESS:
                raise UserError(f"resultstore {url.display}: this user may not create the "
                                f"resultstore tables (MySQL error {code})",
                                hint="use a user with read-write access") from None
            raise
        return True
    schema.check_version(version, url.display)
    if version < SCHEMA_VERSION:  # pragma: no cover - only version 1 exists so far
        if readonly:
            raise UserError(f"resultstore {url.display} needs a schema upgrade",
                            hint="open it once with write access to migrate it")
        with engine.begin() as conn:
            schema.upgrade(conn)
    return False


def _open_sqlite(url: StoreURL, create: bool, readonly: bool) -> Store:
    path = url.path
    assert path is not None
    if path.is_dir():
        raise UserError(f"resultstore {url.display} is a directory, not a SQLite file",
                        hint="give a file path (sqlite:///results.db), or the directory "
                        "itself for a CSV resultstore")
    fresh = not path.exists() or path.stat().st_size == 0
    if fresh and (not create or readonly):
        raise UserError(f"resultstore {url.display} does not exist",
                        hint="check the path; 'fastpath result merge' creates stores")
    if fresh:
        _make_dir(path.parent, url)
    engine = sqlstore.sqlite_engine(url, readonly)
    try:
        sqlstore.probe(engine, url)
        created = _init_sql(engine, url, create, readonly)
    except BaseException:
        engine.dispose()
        if fresh and path.exists():
            path.unlink()
        raise
    return Store(url, engine, readonly, created=created)


def _open_mysql(url: StoreURL, create: bool, readonly: bool) -> Store:
    engine = sqlstore.mysql_engine(url, readonly)
    made_database = False
    try:
        try:
            sqlstore.probe(engine, url)
        except UserError:
            # a missing database may be created for a destination
            if not create or readonly:
                raise
            engine.dispose()
            probe_engine = sqlstore.mysql_engine(url, readonly, database=None)
            try:
                sqlstore.probe(probe_engine, url)
            finally:
                probe_engine.dispose()
            sqlstore.create_mysql_database(url)
            made_database = True
            engine = sqlstore.mysql_engine(url, readonly)
            sqlstore.probe(engine, url)
        created = _init_sql(engine, url, create, readonly)
    except BaseException:
        engine.dispose()
        if made_database:
            sqlstore.drop_mysql_database(url)
        raise
    store = Store(url, engine, readonly, created=created)
    store.made_database = made_database
    return store


def open_store(url: str | StoreURL, *, create: bool = False, readonly: bool = False,
               stream_results: bool = False) -> Store:
    """Open the resultstore at ``url`` (see :mod:`fastpath.resultstore.url`).

    ``create`` creates a missing store (directory, SQLite file, MySQL tables or even the
    database); ``readonly`` opens it for reading only (works with read-only files and
    read-only MySQL users).  Bad URLs and unusable stores raise :class:`UserError`.
    ``stream_results`` (read-only CSV stores): leave result.csv unread and set
    ``store.streamed_results``; the reader streams it (merge does, in bounded memory).
    """
    parsed = url if isinstance(url, StoreURL) else parse_url(url)
    if parsed.kind == "csv":
        return _open_csv(parsed, create, readonly, stream_results and readonly)
    opener = {"sqlite": _open_sqlite, "mysql": _open_mysql}[parsed.kind]
    return opener(parsed, create, readonly)


def store_exists(url: str | StoreURL) -> bool:
    """True when ``url`` names an existing resultstore (a bad URL raises UserError)."""
    parsed = url if isinstance(url, StoreURL) else parse_url(url)
    if parsed.kind == "csv":
        assert parsed.path is not None
        return parsed.path.is_dir() and csvstore.looks_like_store(parsed.path)
    if parsed.kind == "sqlite":
        assert parsed.path is not None
        if not parsed.path.exists() or parsed.path.stat().st_size == 0:
            return False
    try:
        with open_store(parsed, readonly=True):
            return True
    except UserError as exc:
        if "does not exist" in exc.message:
            return False
        raise


def destroy(store: Store) -> None:
    """Remove a store that this process just created (used to undo a failed merge)."""
    store.close()
    url = store.url
    if url.kind == "csv" and url.path is not None:
        if store.dir_existed:
            for table in TABLES:
                csvstore.file_for(url.path, table).unlink(missing_ok=True)
        else:
            shutil.rmtree(url.path, ignore_errors=True)
    elif url.kind == "sqlite" and url.path is not None:
        Path(url.path).unlink(missing_ok=True)
    elif url.kind == "mysql":
        if store.made_database:
            sqlstore.drop_mysql_database(url)
        else:
            engine = sqlstore.mysql_engine(url, readonly=False)
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
                    for table in reversed(TABLES):
                        conn.exec_driver_sql(f"DROP TABLE IF EXISTS `{table.name}`")
                    conn.exec_driver_sql("DROP TABLE IF EXISTS `alembic_version`")
            finally:
                engine.dispose()
