"""Schema version, alembic migrations, read-only access."""

from __future__ import annotations

import os
import sqlite3

import pytest
from sqlalchemy import create_engine

from fastpath.cli.main import main
from fastpath.errors import UserError
from fastpath.resultstore import ingest, open_store
from fastpath.resultstore.models import SCHEMA_VERSION, Base
from fastpath.resultstore.schema import MIGRATIONS, head_revision, upgrade
from tests.integration.test_resultstore_factory import demo_batches


def test_migrations_build_exactly_the_models(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as conn:
        upgrade(conn)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        assert conn.exec_driver_sql("select version_num from alembic_version").scalar_one() == (
            head_revision() == "0001" and "0001")
    engine.dispose()


def test_migrations_ship_inside_the_package():
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "versions" / "0001_initial.py").is_file()
    assert "fastpath/resultstore/migrations" in str(MIGRATIONS).replace(os.sep, "/")


def test_schema_version_recorded(tmp_path):
    db = tmp_path / "v.db"
    ingest(f"sqlite:///{db}", demo_batches()[:1])
    con = sqlite3.connect(db)
    assert con.execute("select value from fastpath_meta where key='schema_version'"
                       ).fetchone() == (str(SCHEMA_VERSION),)
    con.close()


def test_newer_schema_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    db = tmp_path / "new.db"
    ingest(f"sqlite:///{db}", demo_batches()[:1])
    con = sqlite3.connect(db)
    con.execute("update fastpath_meta set value='7' where key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(UserError, match="newer fastpath"):
        open_store(f"sqlite:///{db}")
    assert main(["result", "list", f"sqlite:///{db}", "--object", "sut"]) == 2
    assert "schema version 7, this fastpath supports up to 1" in capsys.readouterr().err


def test_foreign_sqlite_file_is_refused(tmp_path):
    db = tmp_path / "other.db"
    con = sqlite3.connect(db)
    con.execute("create table stuff (x int)")
    con.commit()
    con.close()
    with pytest.raises(UserError, match="not fastpath's"):
        open_store(f"sqlite:///{db}", create=True)
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(UserError, match="cannot open the database|not a database"):
        open_store(f"sqlite:///{tmp_path / 'junk.db'}", readonly=True)


def test_read_only_sqlite_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    db = tmp_path / "ro.db"
    url = f"sqlite:///{db}"
    ingest(url, demo_batches())
    os.chmod(db, 0o444)
    os.chmod(tmp_path, 0o555)  # no journal can be created next to it either
    try:
        before = (db.read_bytes(), os.stat(db).st_mtime_ns)
        assert main(["result", "list", url, "--object", "benchmark"]) == 0
        assert main(["result", "show", url, "--sut", "sut-a", "--swprofile", "baseline",
                     "--swprofile", "with-mthp"]) == 0
        out = capsys.readouterr().out
        assert "Results for SUT sut-a:" in out
        assert main(["result", "merge", url, str(tmp_path.parent / f"{tmp_path.name}-copy")
                     ]) == 0
        assert (db.read_bytes(), os.stat(db).st_mtime_ns) == before
        with open_store(url, readonly=True) as store, pytest.raises(UserError,
                                                                    match="read-only"):
            store.ingest(demo_batches()[0])
        assert (db.read_bytes(), os.stat(db).st_mtime_ns) == before
    finally:
        os.chmod(tmp_path, 0o755)
        os.chmod(db, 0o644)


def test_read_only_csv_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    d = tmp_path / "ro"
    ingest(str(d), demo_batches())
    for p in d.iterdir():
        os.chmod(p, 0o444)
    os.chmod(d, 0o555)
    try:
        snap = {p.name: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in d.iterdir()}
        assert main(["result", "show", str(d), "--sut", "2", "--swprofile", "baseline"]) == 0
        assert "Results for SUT sut-b and SW Profile baseline:" in capsys.readouterr().out
        assert {p.name: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in d.iterdir()} == snap
    finally:
        os.chmod(d, 0o755)
