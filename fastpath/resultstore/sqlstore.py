"""Engines for the SQL backends (SQLite file, MySQL/MariaDB through PyMySQL).

Connection problems are turned into one-sentence :class:`UserError` messages here (wrong
password, unreachable host, missing database...), never a traceback, and the password is
never printed.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from fastpath.errors import InfraError, UserError
from fastpath.resultstore.url import StoreURL

MYSQL_SQL_MODE = (
    "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION"
)
CONNECT_TIMEOUT = 10

# MySQL/MariaDB client and server error numbers -> what to tell the user
_MYSQL_ERRORS = {
    1044: ("access to the database is denied for this user", "grant the user access"),
    1045: ("access denied: wrong user name or password", "check the user and password"),
    1049: ("the database does not exist", "create it or fix the database name"),
    2003: ("cannot connect to the MySQL server (host unreachable or not listening)",
           "check the host name, the port and that the server runs"),
    2005: ("unknown MySQL server host", "check the host name"),
    2013: ("lost the connection to the MySQL server", "check the server and the network"),
}


def mysql_error_code(exc: BaseException) -> int | None:
    orig = getattr(exc, "orig", exc)
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def connect_error(url: StoreURL, exc: BaseException) -> UserError:
    code = mysql_error_code(exc)
    what, hint = _MYSQL_ERRORS.get(
        code or -1, (f"cannot open the database ({type(getattr(exc, 'orig', exc)).__name__}"
                     f" {code or ''})".replace(" )", ")"), "check the URL and the server")
    )
    return UserError(f"resultstore {url.display}: {what}", hint=hint)


def sqlite_engine(url: StoreURL, readonly: bool) -> Engine:
    assert url.path is not None
    path = url.path.resolve()
    if readonly:
        from urllib.parse import quote

        dsn = f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true"
    else:
        dsn = f"sqlite:///{path}"
    engine = create_engine(dsn)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # pragma: no cover - exercised via every test
        # let SQLAlchemy own the transaction boundaries (pysqlite's own BEGIN is lazy)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # pragma: no cover
        conn.exec_driver_sql("BEGIN")

    return engine


def mysql_engine(url: StoreURL, readonly: bool, database: str | None = "") -> Engine:
    dsn = URL.create(
        "mysql+pymysql",
        username=url.user,
        password=url.password,
        host=url.host,
        port=url.port,
        database=url.database if database == "" else database,
        query={"charset": "utf8mb4"},
    )
    engine = create_engine(
        dsn,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT, "local_infile": False},
    )

    @event.listens_for(engine, "connect")
    def _session(dbapi_conn, _record):  # pragma: no cover
        cur = dbapi_conn.cursor()
        cur.execute(f"SET SESSION sql_mode = '{MYSQL_SQL_MODE}'")
        cur.execute("SET SESSION time_zone = '+00:00'")
        if readonly:
            cur.execute("SET SESSION TRANSACTION READ ONLY")
        cur.close()

    return engine


def probe(engine: Engine, url: StoreURL) -> None:
    """Connect once so that a bad URL fails now with a clear message."""
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        if url.kind == "mysql":
            raise connect_error(url, exc) from None
        raise UserError(f"resultstore {url.display}: cannot open the database: {exc.orig}",
                        hint="check the path and that the file is a SQLite database") from None


def create_mysql_database(url: StoreURL) -> None:
    """CREATE DATABASE for a missing MySQL destination (needs the privilege)."""
    engine = mysql_engine(url, readonly=False, database=None)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE IF NOT EXISTS `{url.database}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            )
    except DBAPIError as exc:
        raise UserError(
            f"resultstore {url.display}: the database does not exist and cannot be created "
            f"({mysql_error_code(exc)})",
            hint="create it, or grant the user CREATE",
        ) from None
    finally:
        engine.dispose()


def drop_mysql_database(url: StoreURL) -> None:
    engine = mysql_engine(url, readonly=False, database=None)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{url.database}`")
    except DBAPIError as exc:  # pragma: no cover - best effort cleanup
        raise InfraError(f"cannot drop database {url.database}: {exc.orig}") from None
    finally:
        engine.dispose()
