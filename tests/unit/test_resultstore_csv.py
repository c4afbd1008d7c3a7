"""The CSV directory format: RFC 4180 files, exact values, and clear errors (file:line)."""

from __future__ import annotations

import csv
import os

import pytest

from fastpath.cli.main import main
from fastpath.resultstore import ingest, open_store
from fastpath.resultstore.models import TABLES
from tests.integration.test_resultstore_factory import batch, demo_batches


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    d = tmp_path / "rs"
    ingest(str(d), demo_batches())
    return d


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_one_file_per_table_rfc4180(store_dir):
    assert sorted(p.name for p in store_dir.iterdir()) == sorted(f"{t.name}.csv" for t in TABLES)
    raw = (store_dir / "param.csv").read_bytes()
    assert raw.startswith(b"id,name,value,benchmark_id\r\n")
    assert b'"chromium, ""headless""\nx"' in raw  # quoted, doubled quotes, embedded newline
    with open(store_dir / "result.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 72 and rows[0]["timestamp"] == "2026-11-30 12:00:00.123456"
    meta = (store_dir / "fastpath_meta.csv").read_text()
    assert "schema_version,1" in meta


def test_unicode_round_trip(tmp_path):
    d = tmp_path / "u"
    ingest(str(d), [batch(values={("lat\u00e9ncy \u2603", "\u00b5s", "smaller"): [1.0, 2.0]})])
    assert "lat\u00e9ncy \u2603" in (d / "resultclass.csv").read_text(encoding="utf-8")
    with open_store(str(d), readonly=True) as store, store.connect() as conn:
        assert conn.exec_driver_sql("select name, unit from resultclass").one() == (
            "lat\u00e9ncy \u2603", "\u00b5s")


def _edit(path, old, new, count=1):
    with open(path, encoding="utf-8", newline="") as fh:
        text = fh.read()
    assert old in text
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text.replace(old, new, count))


def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


@pytest.mark.parametrize("mutate, message", [
    (lambda d: (d / "resultclass.csv").unlink(), "missing the file resultclass.csv"),
    (lambda d: _edit(d / "result.csv", "session_uuid,value", "session_uuid,val"),
     "result.csv:1: missing column(s) value"),
    (lambda d: _edit(d / "result.csv", ",389.6\r\n", ",fast\r\n"),
     "result.csv:3: column 'value': 'fast' is not a number"),
    (lambda d: _edit(d / "result.csv", ",389.6\r\n", ",nan\r\n"),
     "result.csv:3: column 'value': 'nan' is not a finite number"),
    (lambda d: _edit(d / "result.csv", ",389.6\r\n", ",-inf\r\n"),
     "result.csv:3: column 'value': '-inf' is not a finite number"),
    (lambda d: _edit(d / "result.csv", "\r\n3,", "\r\nthree,"),
     "result.csv:4: column 'id': 'three' is not an integer"),
    (lambda d: _edit(d / "result.csv", "2026-11-30 12:00:01", "yesterday"),
     "result.csv:3: column 'timestamp': 'yesterday.123456' is not a timestamp"),
    (lambda d: _edit(d / "resultclass.csv", "smaller", "lower"),
     "column 'improvement': 'lower' is not one of bigger, smaller"),
    (lambda d: _edit(d / "result.csv", "\r\n3,", "\r\n3,1,"),
     "result.csv:4: expected 9 fields, found 10"),
    (lambda d: _edit(d / "param.csv", '"chromium', 'chromium'),
     "param.csv"),
    (lambda d: _edit(d / "result.csv", "\r\n3,", "\r\n2,"), "inconsistent data"),
    (lambda d: _edit(d / "fastpath_meta.csv", "schema_version,1", "schema_version,99"),
     "written by a newer fastpath (schema version 99"),
])
def test_bad_csv_store_is_exit_2_and_untouched(store_dir, capsys, mutate, message):
    mutate(store_dir)
    before = _snapshot(store_dir)
    for args in (["list", str(store_dir), "--object", "sut"],
                 ["show", str(store_dir), "--sut", "sut-a", "--swprofile", "baseline"]):
        code, out, err = run(capsys, "result", *args)
        assert code == 2, err
        assert message in err
        assert "Traceback" not in err and err.startswith("error: ") and err.count("\n") == 1
    code, _out, err = run(capsys, "result", "merge", str(store_dir),
                          str(store_dir.parent / "copy"))
    assert code == 2 and message in err
    assert not (store_dir.parent / "copy").exists()
    assert _snapshot(store_dir) == before


def test_hand_edited_value_is_read_exactly(store_dir):
    _edit(store_dir / "result.csv", ",389.6\r\n", ",389.60000000000002\r\n")
    with open_store(str(store_dir), readonly=True) as store, store.connect() as conn:
        values = [v for (v,) in conn.exec_driver_sql("select value from result where id = 2")]
    assert values == [389.60000000000002]


def test_writes_leave_no_temporary_files(store_dir):
    ingest(str(store_dir), [batch(values={("new", "s", "bigger"): [1.0]})])
    assert not [p for p in store_dir.iterdir() if p.name.startswith(".")]
    assert "new" in (store_dir / "resultclass.csv").read_text()


def test_only_changed_tables_are_rewritten(store_dir):
    before = {p.name: os.stat(p).st_ino for p in store_dir.iterdir()}
    ingest(str(store_dir), [batch(values={("elapsed", "seconds", "smaller"): [7.0]},
                                  session="again")])
    after = {p.name: os.stat(p).st_ino for p in store_dir.iterdir()}
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"result.csv"}


def test_appending_ingest_equals_a_full_rewrite(tmp_path):
    from fastpath.resultstore import csvstore
    from fastpath.resultstore.models import TABLES as ALL

    d = tmp_path / "inc"
    for b in demo_batches():  # one transaction per batch: files grow by appends
        ingest(str(d), [b])
    full = tmp_path / "full"
    with open_store(str(d), readonly=True) as store, store.connect() as conn:
        csvstore.dump_tables(full, conn, list(ALL))
    assert {p.name: p.read_bytes() for p in d.iterdir()} == {
        p.name: p.read_bytes() for p in full.iterdir()}


def test_hand_edited_file_is_rewritten_not_appended(store_dir):
    path = store_dir / "result.csv"
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(data.rstrip(b"\r\n"))  # no final line break
    ingest(str(store_dir), [batch(values={("elapsed", "seconds", "smaller"): [7.0]},
                                  session="again")])
    with open(path, "rb") as fh:
        new = fh.read()
    assert new.startswith(data) and new.endswith(b",again,7.0\r\n")
