"""Resultstore URLs: ``csv:///dir`` (or a bare directory), ``sqlite:///file.db``,
``mysql://user:password@host:port/db``.  Passwords never appear in messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from fastpath.errors import UserError
from fastpath.redact import redact_url

ACCEPTED = (
    "csv:///<directory> (or a bare directory path), sqlite:///<dbfile> "
    "(sqlite:////<absolute path>), mysql://<user>:<password>@<host>:<port>/<dbname>"
)


@dataclass(frozen=True)
class StoreURL:
    kind: str  # "csv" | "sqlite" | "mysql"
    raw: str
    path: Path | None = None  # csv directory or sqlite file
    user: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None

    @property
    def display(self) -> str:
        """The URL as shown to users: the password is masked."""
        return redact(self.raw)

    def __str__(self) -> str:
        return self.display

    def same_place(self, other: StoreURL) -> bool:
        if self.kind != other.kind:
            return False
        if self.kind in ("csv", "sqlite"):
            assert self.path is not None and other.path is not None
            return self.path.resolve() == other.path.resolve()
        return (self.host, self.port, self.database) == (other.host, other.port, other.database)


redact = redact_url


def _bad(url: str, why: str) -> UserError:
    return UserError(f"invalid resultstore URL '{redact(url)}': {why}",
                     hint=f"accepted forms: {ACCEPTED}")


def parse_url(url: str) -> StoreURL:
    if not isinstance(url, str) or not url.strip():
        raise _bad(str(url), "it is empty")
    url = url.strip()
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", url, re.S)
    if match is None:
        return StoreURL("csv", url, path=Path(url).expanduser())
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme == "csv":
        if not rest:
            raise _bad(url, "no directory given")
        return StoreURL("csv", url, path=Path(rest).expanduser())
    if scheme == "sqlite":
        if not rest.startswith("/") or len(rest) < 2:
            raise _bad(url, "expected sqlite:///<dbfile>")
        path = rest[1:]
        if path == ":memory:":
            raise _bad(url, "an in-memory database cannot hold a resultstore")
        return StoreURL("sqlite", url, path=Path(path).expanduser())
    if scheme in ("mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql"):
        try:
            parts = urlsplit(url)
            port = parts.port or 3306
        except ValueError as exc:
            raise _bad(url, f"bad port ({exc})") from None
        database = parts.path.lstrip("/")
        if not parts.hostname:
            raise _bad(url, "no host given")
        if not database or "/" in database:
            raise _bad(url, "expected exactly one database name after the port")
        if not parts.username:
            raise _bad(url, "no user given")
        return StoreURL(
            "mysql", url, user=unquote(parts.username),
            password=unquote(parts.password) if parts.password is not None else None,
            host=parts.hostname, port=port, database=unquote(database),
        )
    raise _bad(url, f"unknown scheme '{scheme}'")
