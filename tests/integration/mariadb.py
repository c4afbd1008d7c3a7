"""A private MariaDB server for the tests (pytest plugin, registered in ``tests/conftest.py``).

The session fixture ``mariadb_server`` initialises a throw-away datadir with
``mariadb-install-db``, starts ``mariadbd`` on its own unix socket and on a free TCP port on
127.0.0.1, creates a read-write user and a read-only user (grant tables stay enabled), and
stops the server at the end of the session.  ``mysql_db`` gives each test a fresh, empty
database and the URLs to reach it with either user.

Nothing here depends on a system MariaDB service: the Debian package ``mariadb-server``
(``scripts/apt-packages.txt``) only has to be installed.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

RW_USER, RW_PASSWORD = "fp_rw", "rw-Secret_1"
RO_USER, RO_PASSWORD = "fp_ro", "ro-Secret_2"
_START_TIMEOUT = 90.0


def _find(binary: str) -> str:
    for candidate in (shutil.which(binary), f"/usr/sbin/{binary}", f"/usr/bin/{binary}"):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError(
        f"{binary} not found: install the Debian package mariadb-server "
        "(scripts/setup-host.sh does it)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MariaDB:
    host: str
    port: int
    socket_path: str
    rw_user: str = RW_USER
    rw_password: str = RW_PASSWORD
    ro_user: str = RO_USER
    ro_password: str = RO_PASSWORD

    def admin(self):
        """A PyMySQL connection as the server's root user over the private socket."""
        import pymysql

        return pymysql.connect(unix_socket=self.socket_path, user="root", autocommit=True)

    def execute(self, *statements: str) -> None:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
        finally:
            conn.close()

    def url(self, database: str, *, readonly: bool = False, password: str | None = None) -> str:
        user = self.ro_user if readonly else self.rw_user
        pw = password if password is not None else (
            self.ro_password if readonly else self.rw_password
        )
        return f"mysql://{user}:{pw}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        self.execute(
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _start(workdir: Path) -> tuple[subprocess.Popen, MariaDB]:
    datadir = workdir / "data"
    sock = workdir / "mysqld.sock"
    log = workdir / "error.log"
    as_root = os.geteuid() == 0
    user_args = ["--user=root"] if as_root else []
    init = subprocess.run(
        [
            _find("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
            *user_args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if init.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed:\n{init.stdout}\n{init.stderr}")
    last_error = ""
    for _attempt in range(3):
        port = _free_port()
        proc = subprocess.Popen(
            [
                _find("mariadbd"),
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={sock}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={workdir / 'mysqld.pid'}",
                f"--log-error={log}",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=128M",
                "--innodb-flush-log-at-trx-commit=2",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_bin",
                *user_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        server = MariaDB(host="127.0.0.1", port=port, socket_path=str(sock))
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                server.admin().close()
                return proc, server
            except Exception as exc:  # not up yet
                last_error = str(exc)
                time.sleep(0.2)
        _stop(proc)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        last_error = f"{last_error}\n{tail}"
    raise RuntimeError(f"mariadbd did not start: {last_error}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDB]:
    """A running private MariaDB with a read-write and a read-only user."""
    workdir = Path(tempfile.mkdtemp(prefix="fp-mariadb-"))
    proc, server = _start(workdir)
    try:
        server.execute(
            "DELETE FROM mysql.global_priv WHERE User = ''",
            "FLUSH PRIVILEGES",
            f"CREATE USER '{RW_USER}'@'%' IDENTIFIED BY '{RW_PASSWORD}'",
            f"GRANT ALL PRIVILEGES ON *.* TO '{RW_USER}'@'%'",
            f"CREATE USER '{RO_USER}'@'%' IDENTIFIED BY '{RO_PASSWORD}'",
            f"GRANT SELECT ON *.* TO '{RO_USER}'@'%'",
            "FLUSH PRIVILEGES",
        )
        yield server
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


_counter = itertools.count(1)


@pytest.fixture
def mysql_db(mariadb_server: MariaDB) -> Iterator[str]:
    """The name of a fresh, empty utf8mb4 database (dropped afterwards)."""
    name = f"fp_test_{os.getpid()}_{next(_counter)}"
    mariadb_server.create_database(name)
    try:
        yield name
    finally:
        mariadb_server.drop_database(name)
