"""The MySQL backend against a real private MariaDB (tests/integration/mariadb.py)."""

from __future__ import annotations

import json

import pytest

from fastpath.cli.main import main
from fastpath.errors import UserError
from fastpath.resultstore import ingest, open_store
from fastpath.resultstore.dump import canonical_text
from fastpath.resultstore.merge import merge
from tests.integration.mariadb import _free_port
from tests.integration.test_resultstore_factory import batch, demo_batches, swprofile

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FASTPATH_DEFAULT_RESULTSTORE", raising=False)


def dump(url):
    with open_store(url, readonly=True) as store, store.connect() as conn:
        return canonical_text(conn)


def run(capsys, *args):
    code = main(["result", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_and_dedup(mariadb_server, mysql_db, tmp_path):
    url = mariadb_server.url(mysql_db)
    ingest(url, demo_batches())
    ingest(url, demo_batches())
    ingest(url, [batch(values={("\U0001f680 lat\u00e9ncy", "\u00b5s", "smaller"):
                               [5e-324, 0.1 + 0.2, -1.7976931348623157e308]})])
    with open_store(url, readonly=True) as store, store.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from result").scalar_one() == 75
        assert conn.exec_driver_sql("select count(*) from error").scalar_one() == 2
        rc = conn.exec_driver_sql("select name from resultclass where unit = '\u00b5s'"
                                  ).scalar_one()
        assert rc == "\U0001f680 lat\u00e9ncy"
        values = conn.exec_driver_sql("select value from result order by id desc limit 3"
                                      ).scalars().all()
        assert sorted(map(repr, values)) == sorted(
            map(repr, [5e-324, 0.1 + 0.2, -1.7976931348623157e308]))
        mode = conn.exec_driver_sql("select @@session.sql_mode").scalar_one()
        assert "STRICT_ALL_TABLES" in mode
    csv_copy = str(tmp_path / "copy")
    merge([url], csv_copy)
    assert dump(csv_copy) == dump(url)


def test_read_only_user_for_list_show_and_as_merge_source(mariadb_server, mysql_db, tmp_path,
                                                          capsys):
    ingest(mariadb_server.url(mysql_db), demo_batches())
    ro = mariadb_server.url(mysql_db, readonly=True)
    code, out, err = run(capsys, "list", ro, "--object", "swprofile", "--format", "json")
    assert code == 0, err
    assert [r["name"] for r in json.loads(out)] == ["baseline", "with-mthp", "no-mitig"]
    code, out, err = run(capsys, "show", ro, "--sut", "sut-a", "--swprofile", "baseline",
                         "--swprofile", "no-mitig", "--format", "ascii", "--relative")
    assert code == 0, err
    assert "Results for SUT sut-a:" in out and "(R) 10.00%" in out and "1 error(s)" in out
    code, out, err = run(capsys, "merge", ro, str(tmp_path / "out"))
    assert code == 0, err
    code, out, err = run(capsys, "merge", str(tmp_path / "out"), ro, "--append")
    assert code == 2
    assert "may not write" in err and mariadb_server.ro_password not in err


def test_read_only_user_cannot_create(mariadb_server, mysql_db, tmp_path, capsys):
    ingest(str(tmp_path / "src"), demo_batches()[:1])
    ro = mariadb_server.url(mysql_db, readonly=True)
    code, _, err = run(capsys, "list", ro, "--object", "sut")
    assert code == 2 and "does not exist (no fastpath tables)" in err
    code, _, err = run(capsys, "merge", str(tmp_path / "src"), ro)
    assert code == 2 and "may not create" in err and mariadb_server.ro_password not in err
    code, _, err = run(capsys, "merge", str(tmp_path / "src"),
                       mariadb_server.url("fp_never_created", readonly=True))
    assert code == 2 and "cannot be created" in err


@pytest.mark.parametrize("make_url, message", [
    (lambda s, db: s.url(db, password="wrong-password"), "access denied: wrong user name"),
    (lambda s, db: f"mysql://{s.rw_user}:{s.rw_password}@127.0.0.1:{_free_port()}/{db}",
     "cannot connect to the MySQL server"),
    (lambda s, db: s.url("fp_missing_db"), "the database does not exist"),
])
def test_connection_problems_are_one_sentence(mariadb_server, mysql_db, capsys, make_url,
                                              message):
    url = make_url(mariadb_server, mysql_db)
    for args in (["list", url, "--object", "sut"], ["show", url]):
        code, out, err = run(capsys, *args)
        assert code == 2
        assert message in err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert mariadb_server.rw_password not in err and "wrong-password" not in err
        assert "***" in err


def test_merge_into_new_database_creates_it_and_failure_drops_it(mariadb_server, tmp_path):
    src = str(tmp_path / "src")
    ingest(src, demo_batches())
    url = mariadb_server.url("fp_created_by_merge")
    try:
        def boom(done):
            raise RuntimeError("injected failure")

        with pytest.raises(RuntimeError):
            merge([src], url, _fail_after=boom)
        with pytest.raises(UserError, match="the database does not exist"):
            open_store(url, readonly=True)
        report = merge([src], url)
        assert report.created and report.results_added == 72
        assert dump(url) == dump(src)
    finally:
        mariadb_server.drop_database("fp_created_by_merge")


def test_failed_merge_leaves_mysql_destination_unchanged(mariadb_server, mysql_db, tmp_path):
    url = mariadb_server.url(mysql_db)
    ingest(url, [batch(swp=swprofile("old"), values={("x", "s", "bigger"): [1.0, 2.0]})])
    before = dump(url)
    src = str(tmp_path / "src")
    ingest(src, demo_batches())

    def boom(done):
        if done >= 30:
            raise RuntimeError("injected failure")

    with pytest.raises(RuntimeError):
        merge([src], url, append=True, _fail_after=boom)
    assert dump(url) == before
    report = merge([src], url, append=True)
    assert report.results_added == 72
    assert merge([src], url, append=True).results_added == 0


def test_mysql_to_mysql_and_self_merge(mariadb_server, mysql_db, capsys):
    a = mariadb_server.url(mysql_db)
    ingest(a, demo_batches())
    mariadb_server.create_database(f"{mysql_db}_b")
    try:
        b = mariadb_server.url(f"{mysql_db}_b")
        code, out, err = run(capsys, "merge", a, b, "--append", "--swprofile", "with-mthp")
        assert code == 0, err
        assert "24 result(s)" in out
        code, _, err = run(capsys, "merge", mariadb_server.url(mysql_db, readonly=True), a,
                           "--append")
        assert code == 2 and "into itself" in err
    finally:
        mariadb_server.drop_database(f"{mysql_db}_b")


def test_awkward_strings_survive_a_merge_into_mysql(mariadb_server, mysql_db, tmp_path):
    src = f"sqlite:///{tmp_path / 's.db'}"
    nasty = "s'1\\\";%s%%--\u2603"
    ingest(src, [batch(values={("x", "s", "bigger"): [1.5, 2.5]}, session=nasty)])
    url = mariadb_server.url(mysql_db)
    assert merge([src], url, append=True).results_added == 2
    with open_store(url, readonly=True) as store, store.connect() as conn:
        assert conn.exec_driver_sql("select distinct session_uuid from result").scalar_one() == (
            nasty)
    assert dump(url) == dump(src)
