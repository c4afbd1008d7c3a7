"""Merging from a CSV store streams result.csv (one process, or byte ranges staged by
worker processes): the same rows, the same order and the same errors on every path."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from fastpath import resultcsv
from fastpath.cli.main import main
from fastpath.resultstore import csvresults, ingest, open_store
from fastpath.resultstore.dump import canonical_text
from fastpath.resultstore.merge import Selection, merge
from tests.integration.test_resultstore_factory import T0, batch, demo_batches, swprofile


def dump(url):
    with open_store(url, readonly=True) as store, store.connect() as conn:
        return canonical_text(conn)


@pytest.fixture(params=["sequential", "parallel"])
def path_kind(request, monkeypatch):
    """Both copy paths, with blocks and byte ranges small enough to cut this store."""
    monkeypatch.setattr(resultcsv, "_CHUNK_BYTES", 700)
    if request.param == "parallel":
        monkeypatch.setattr(csvresults, "_PARALLEL_MIN_BYTES", 0)
        monkeypatch.setattr(csvresults, "_workers", lambda: 2)
    else:
        monkeypatch.setattr(csvresults, "_workers", lambda: 1)
    return request.param


@pytest.fixture
def csv_src(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    d = tmp_path / "src"
    rng = random.Random(7)
    extra = [batch(swp=swprofile(f"p{i}"), session=f"s{i}", start=T0 + timedelta(hours=i),
                   values={("ops", "ops/s", "bigger"):
                           [rng.uniform(-1e6, 1e6) for _ in range(40)] + [-0.0, 5e-324]})
             for i in range(4)]
    ingest(str(d), [*demo_batches(), *extra])
    return d


def _edit(path, old, new):
    text = path.read_bytes().decode()
    assert old in text, old
    path.write_bytes(text.replace(old, new, 1).encode())


def _row(path, n):
    """The text of data row ``n`` (1-based) of a result.csv written by fastpath."""
    return path.read_bytes().decode().split("\r\n")[n]


def test_every_path_copies_the_same_rows_in_order(tmp_path, csv_src, path_kind, monkeypatch):
    staged = []
    real = csvresults._copy_parallel

    def spy(*args):
        staged.append(real(*args))
        return staged[-1]

    monkeypatch.setattr(csvresults, "_copy_parallel", spy)
    dest = f"sqlite:///{tmp_path / 'd.db'}"
    report = merge([str(csv_src)], dest)
    assert staged == ([72 + 4 * 42] if path_kind == "parallel" else [])
    assert report.results_added == report.results_read == 72 + 4 * 42
    assert dump(dest) == dump(str(csv_src))
    again = merge([str(csv_src)], dest, append=True)  # idempotent
    assert again.results_added == 0 and again.results_read == 72 + 4 * 42


def test_selection_on_every_path(tmp_path, csv_src, path_kind):
    dest = f"sqlite:///{tmp_path / 'd.db'}"
    report = merge([str(csv_src)], dest, selection=Selection(swprofiles=["p1", "p3"]))
    assert report.results_added == 2 * 42
    with open_store(dest, readonly=True) as store, store.connect() as conn:
        names = conn.exec_driver_sql(
            "select distinct s.name from result r join swprofile s on s.id = r.swprofile_id"
            " order by s.name").scalars().all()
    assert names == ["p1", "p3"]


def test_hand_written_files_take_the_generic_parser(tmp_path, csv_src, path_kind):
    path = csv_src / "result.csv"
    text = path.read_bytes().decode()
    # LF line ends, a quoted session id with a comma, a non-canonical integer
    text = text.replace("\r\n", "\n")
    row = text.split("\n")[100]
    fields = row.split(",")
    fields[7] = '"sess, quoted"'
    fields[2] = "0" + fields[2]
    path.write_bytes(text.replace(row, ",".join(fields), 1).encode())
    dest = f"sqlite:///{tmp_path / 'd.db'}"
    assert merge([str(csv_src)], dest).results_added == 72 + 4 * 42
    with open_store(dest, readonly=True) as store, store.connect() as conn:
        assert conn.exec_driver_sql(
            "select count(*) from result where session_uuid = 'sess, quoted'").scalar_one() == 1


@pytest.mark.parametrize("row, mutate, message", [
    (150, lambda r: r.rsplit(",", 1)[0] + ",nan", "result.csv:151: column 'value': 'nan' is "
     "not a finite number"),
    (200, lambda r: r.replace(",", ",x", 1), "result.csv:201: column 'timestamp'"),
    (120, lambda r: ",".join(r.split(",")[:3] + ["999"] + r.split(",")[4:]),
     "result.csv:121: inconsistent data: column 'sut_id' refers to sut id 999"),
    (230, lambda r: "5," + r.split(",", 1)[1], "result.csv:231: inconsistent data: id 5 is "
     "repeated"),
    (90, lambda r: r + ",1", "result.csv:91: expected 9 fields, found 10"),
])
def test_bad_rows_are_reported_with_their_line_on_every_path(tmp_path, csv_src, path_kind,
                                                             capsys, row, mutate, message):
    path = csv_src / "result.csv"
    old = _row(path, row)
    _edit(path, "\r\n" + old + "\r\n", "\r\n" + mutate(old) + "\r\n")
    dest = tmp_path / "d.db"
    code = main(["result", "merge", str(csv_src), f"sqlite:///{dest}"])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert not dest.exists()


def test_failure_after_staging_leaves_an_existing_destination_untouched(tmp_path, csv_src,
                                                                          path_kind):
    dest = f"sqlite:///{tmp_path / 'd.db'}"
    merge([str(csv_src)], dest, selection=Selection(swprofiles=["p0"]))
    before = (tmp_path / "d.db").read_bytes()
    calls = []

    def fail(n):
        calls.append(n)
        if len(calls) == 2:
            raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        merge([str(csv_src)], dest, append=True, _fail_after=fail)
    assert (tmp_path / "d.db").read_bytes() == before


def test_many_csv_sources_share_the_attach_slots(tmp_path, csv_src, path_kind):
    import shutil

    sources = [str(csv_src)]
    for i in range(3):
        copy = tmp_path / f"copy{i}"
        shutil.copytree(csv_src, copy)
        sources.append(str(copy))
    sqlite_src = f"sqlite:///{tmp_path / 's.db'}"
    merge([str(csv_src)], sqlite_src)
    dest = f"sqlite:///{tmp_path / 'd.db'}"
    report = merge([*sources, sqlite_src], dest)
    assert report.results_read == 5 * (72 + 4 * 42)
    assert report.results_added == 72 + 4 * 42
    assert dump(dest) == dump(str(csv_src))
