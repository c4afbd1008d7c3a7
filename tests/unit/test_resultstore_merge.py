"""``result merge``: any backend to any backend, idempotent, selective, all-or-nothing."""

from __future__ import annotations

import pytest

from fastpath.cli.main import main
from fastpath.errors import UserError
from fastpath.resultstore import ingest, open_store
from fastpath.resultstore.dump import canonical_text
from fastpath.resultstore.merge import Selection, merge
from tests.integration.test_resultstore_factory import batch, demo_batches, swprofile


def dump(url):
    with open_store(url, readonly=True) as store, store.connect() as conn:
        return canonical_text(conn)


def snapshot(path):
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir())}
    return path.read_bytes() if path.exists() else None


@pytest.fixture
def src(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    url = str(tmp_path / "src")
    ingest(url, demo_batches())
    return url


@pytest.mark.parametrize("dest_kind", ["csv", "sqlite"])
def test_merge_creates_and_is_idempotent(tmp_path, src, dest_kind):
    dest = (str(tmp_path / "dest") if dest_kind == "csv"
            else f"sqlite:///{tmp_path / 'dest.db'}")
    report = merge([src], dest)
    assert report.created and report.results_added == 72 and report.errors_added == 2
    first = dump(dest)
    assert first == dump(src)
    with pytest.raises(UserError, match="already exists"):
        merge([src], dest)
    again = merge([src], dest, append=True)
    assert not again.created and again.results_added == 0 and again.errors_added == 0
    assert again.results_read == 72
    assert dump(dest) == first


def test_merge_several_sources_keeps_results_once(tmp_path, src):
    other = f"sqlite:///{tmp_path / 'other.db'}"
    extra = batch(swp=swprofile("extra"), values={("elapsed", "seconds", "smaller"): [1.0, 2.0]})
    ingest(other, [*demo_batches()[:2], extra])  # overlaps with src
    dest = f"sqlite:///{tmp_path / 'd.db'}"
    report = merge([src, other], dest)
    assert report.results_added == 74 and report.results_read == 72 + 9 + 3 + 2
    with open_store(dest, readonly=True) as store, store.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from swprofile").scalar_one() == 4


def test_selective_merge(tmp_path, src):
    dest = f"sqlite:///{tmp_path / 'sel.db'}"
    report = merge([src], dest, selection=Selection(suts=["sut-b"], swprofiles=["with-*"],
                                                    benchmarks=["mmtests/*"]))
    assert report.results_added == 9 and report.errors_added == 0
    with open_store(dest, readonly=True) as store, store.connect() as conn:
        names = conn.exec_driver_sql("select name from sut").scalars().all()
        assert names == ["sut-b"]
        assert conn.exec_driver_sql("select name from swprofile").scalars().all() == [
            "with-mthp"]
        assert conn.exec_driver_sql("select count(*) from node").scalar_one() == 2
        assert conn.exec_driver_sql("select count(*) from benchmark").scalar_one() == 1
        assert conn.exec_driver_sql("select count(*) from rolemap").scalar_one() == 1
    by_id = merge([src], f"sqlite:///{tmp_path / 'byid.db'}", selection=Selection(suts=["1"]))
    assert by_id.results_added == 36 and by_id.errors_added == 1


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("dest_kind", ["csv", "sqlite"])
def test_failed_merge_leaves_destination_exactly_as_before(tmp_path, src, existing, dest_kind):
    path = tmp_path / ("dest" if dest_kind == "csv" else "dest.db")
    dest = str(path) if dest_kind == "csv" else f"sqlite:///{path}"
    if existing:
        ingest(dest, [batch(swp=swprofile("old"), values={("x", "s", "bigger"): [1.0, 2.0]})])
    before = snapshot(path)

    def boom(done):
        if done >= 20:
            raise RuntimeError("injected failure")

    with pytest.raises(RuntimeError, match="injected"):
        merge([src], dest, append=True, _fail_after=boom)
    assert snapshot(path) == before
    if not existing:
        assert not path.exists()


def test_merge_into_itself_is_refused(tmp_path, src, capsys):
    code = main(["result", "merge", src, f"csv://{src}", "--append"])
    assert code == 2
    assert "into itself" in capsys.readouterr().err
    db = f"sqlite:///{tmp_path / 'x.db'}"
    merge([src], db)
    assert main(["result", "merge", db, f"sqlite:///{tmp_path}/../{tmp_path.name}/x.db",
                 "--append"]) == 2


def test_merge_cli(tmp_path, src, capsys):
    dest = str(tmp_path / "out")
    assert main(["result", "merge", src, dest]) == 0
    assert "created; 72 result(s) and 2 error(s) added" in capsys.readouterr().out
    assert main(["result", "merge", src, dest]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--append" in err
    assert main(["result", "merge", src, dest, "--append"]) == 0
    assert "updated; 0 result(s) and 0 error(s) added" in capsys.readouterr().out
    assert main(["result", "merge", src]) == 2
    assert main(["result", "merge", src, str(tmp_path / "o2"), "--swprofile", "nothing*"]) == 2
    err = capsys.readouterr().err
    assert "no swprofile matches 'nothing*'" in err and "baseline" in err
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize("src_kind", ["csv", "sqlite"])
def test_attached_and_streamed_copies_agree(tmp_path, src, src_kind):
    source = src
    if src_kind == "sqlite":
        source = f"sqlite:///{tmp_path / 'src.db'}"
        merge([src], source)
    dumps = []
    for fast in (True, False):
        dest = f"sqlite:///{tmp_path / f'd-{fast}.db'}"
        ingest(dest, [batch(swp=swprofile("pre-existing"), values={("x", "s", "bigger"): [1.0]})])
        rep = merge([source], dest, append=True, fast=fast,
                    selection=Selection(swprofiles=["baseline", "no-*"]))
        assert (rep.results_read, rep.results_added, rep.errors_added) == (48, 48, 2)
        again = merge([source], dest, append=True, fast=fast)
        assert (again.results_read, again.results_added) == (72, 24)
        dumps.append(dump(dest))
    assert dumps[0] == dumps[1]


@pytest.mark.parametrize("fast", [True, False])
def test_failure_in_either_copy_path_rolls_back(tmp_path, src, fast, monkeypatch):
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    dest_path = tmp_path / "keep.db"
    dest = f"sqlite:///{dest_path}"
    ingest(dest, [batch(swp=swprofile("old"), values={("x", "s", "bigger"): [1.0, 2.0]})])
    before = dest_path.read_bytes()

    def boom(done):
        raise RuntimeError("injected failure")

    with pytest.raises(RuntimeError):
        merge([src], dest, append=True, fast=fast, _fail_after=boom)
    assert dest_path.read_bytes() == before
    assert list(scratch.iterdir()) == []  # the CSV snapshot file is gone too


@pytest.mark.parametrize("dest", ["afile/store", "sqlite:///{tmp}/afile/x.db", "sqlite:///{tmp}"])
def test_destination_that_cannot_be_created_is_a_user_error(tmp_path, src, capsys, dest):
    (tmp_path / "afile").write_text("not a directory\n")
    dest = dest.format(tmp=tmp_path) if "{tmp}" in dest else str(tmp_path / dest)
    assert main(["result", "merge", src, dest]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert ("cannot create directory" in err) or ("is a directory, not a SQLite file" in err)
    assert (tmp_path / "afile").read_text() == "not a directory\n"
