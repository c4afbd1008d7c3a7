"""Ingest into SQLite and CSV stores: content dedup, hashes, validation, one transaction."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from fastpath.errors import UserError
from fastpath.records import ResultRow
from fastpath.resultstore import hashing, ingest, open_store, query
from fastpath.resultstore.dump import canonical_text
from fastpath.resultstore.models import (
    DATA_TABLES,
    Benchmark,
    Node,
    Result,
    RmDesc,
    Sut,
    SwProfile,
)
from tests.integration.test_resultstore_factory import (
    batch,
    benchmark,
    demo_batches,
    sut,
    swprofile,
)


@pytest.fixture(params=["csv", "sqlite"])
def url(request, tmp_path):
    return str(tmp_path / "rs") if request.param == "csv" else f"sqlite:///{tmp_path / 'rs.db'}"


def counts(url):
    with open_store(url, readonly=True) as store, store.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in DATA_TABLES}


def test_ingest_twice_never_duplicates(url):
    ingest(url, demo_batches())
    first = counts(url)
    assert first["result"] == 72 and first["error"] == 2
    assert first["sut"] == 2 and first["node"] == 3 and first["swprofile"] == 3
    assert first["benchmark"] == 2 and first["resultclass"] == 3 and first["sutclass"] == 1
    ingest(url, demo_batches())
    with open_store(url) as store:
        for b in demo_batches():
            store.ingest(b)
    assert counts(url) == first


def test_stored_columns_follow_the_guide(url):
    ingest(url, demo_batches())
    with open_store(url, readonly=True) as store, store.connect() as conn:
        swp = conn.execute(select(SwProfile.__table__).where(SwProfile.name == "baseline")).one()
        assert swp.cmdline == "mitigations=off\nquiet"  # sorted, newline separated
        assert swp.sysctl == "kernel.numa_balancing=0\nvm.swappiness=10"
        assert swp.bootscript == "echo 1 > /proc/sys/vm/drop_caches\necho ok, \"quoted\""
        assert swp.kernel_git_sha is None
        bench = conn.execute(select(Benchmark.__table__).where(Benchmark.name == "kernbench")
                             ).one()
        assert bench.params_hash == hashing.params_hash({"iterations": "3", "ver": "1.10"})
        assert bench.roles_hash == hashing.roles_hash(["executor"])
        assert len(bench.params_hash) == 64
        s = conn.execute(select(Sut.__table__).where(Sut.name == "sut-b")).one()
        assert s.sutclass_id is None
        nodes = conn.execute(select(Node.__table__).where(Node.sut_id == s.id)).all()
        assert [n.name for n in nodes] == ["n0", "n1"]
        ts = conn.execute(select(Result.timestamp).order_by(Result.id)).scalars().first()
        assert ts == datetime(2026, 11, 30, 12, 0, 0, 123456)


def test_timestamps_are_stored_as_utc(url):
    cet = timezone(timedelta(hours=1))
    b = batch(values={("x", "s", "smaller"): [1.0]},
              start=datetime(2026, 1, 1, 13, 0, 0, 5, tzinfo=cet))
    ingest(url, [b])
    with open_store(url, readonly=True) as store, store.connect() as conn:
        assert conn.execute(select(Result.timestamp)).scalar_one() == datetime(
            2026, 1, 1, 12, 0, 0, 5)


def test_multi_node_rolemap(url):
    two = sut("pair", nodes=2)
    bench = benchmark("net", "netperf", roles=("server", "client"))
    b = batch(two, bench=bench, rolemap={"server": 0, "client": 1},
              values={("throughput", "Mb/s", "bigger"): [940.5, 941.25]})
    b.results[0] = replace(b.results[0], role="server")
    b.results[1] = replace(b.results[1], role="client")
    ingest(url, [b])
    with open_store(url, readonly=True) as store, store.connect() as conn:
        descs = conn.execute(select(RmDesc.__table__)).all()
        assert len(descs) == 2
        assert len({d.node_id for d in descs}) == 2
        assert len(set(conn.execute(select(Result.role_id)).scalars())) == 2


@pytest.mark.parametrize("change, message", [
    (lambda b: replace(b, rolemap={"nobody": 0}), "unknown role 'nobody'"),
    (lambda b: replace(b, rolemap={"executor": 5}), r"has 1 node\(s\)"),
    (lambda b: replace(b, results=[replace(b.results[0], value=math.nan)]), "non-finite"),
    (lambda b: replace(b, results=[replace(b.results[0], value=math.inf)]), "non-finite"),
    (lambda b: replace(b, results=[replace(b.results[0], value="fast")]), "non-numeric"),
    (lambda b: replace(b, results=[replace(b.results[0], improvement="up")]), "improvement"),
    (lambda b: replace(b, results=[replace(b.results[0], role="ghost")]), "unknown role"),
])
def test_bad_batches_write_nothing(url, change, message):
    ingest(url, demo_batches()[:1])
    before = counts(url)
    good = batch(swp=swprofile("fresh"), values={("x", "s", "smaller"): [1.0, 2.0]})
    with pytest.raises(UserError, match=message), open_store(url) as store:
        store.ingest_many([good, change(good)])
    assert counts(url) == before  # the good batch of the same transaction is not kept


def test_empty_strings_in_nullable_columns_are_null(url):
    b = batch(sut(""), swprofile("x"), values={("x", "s", "smaller"): [1.0]})
    b = replace(b, swprofile=replace(b.swprofile, kernel_git_sha=""))
    ingest(url, [b])
    with open_store(url, readonly=True) as store, store.connect() as conn:
        assert conn.execute(select(Sut.name)).scalar_one() is None
        assert conn.execute(select(SwProfile.kernel_git_sha)).scalar_one() is None
        assert query.suts(conn)[0].label == "#1"


def test_same_name_different_content_is_a_new_object(url):
    ingest(url, [batch(values={("x", "s", "smaller"): [1.0]})])
    other = swprofile("baseline", kernel="6.2.0")
    ingest(url, [batch(swp=other, values={("x", "s", "smaller"): [1.0]})])
    assert counts(url)["swprofile"] == 2


def test_float_values_round_trip_exactly(url):
    values = [0.1 + 0.2, 1e-300, -2.5e300, 5e-324, 1 / 3, 2.0**53 + 1, -0.0]
    ingest(url, [batch(values={("x", "s", "smaller"): values})])
    with open_store(url, readonly=True) as store, store.connect() as conn:
        got = list(conn.execute(select(Result.value).order_by(Result.id)).scalars())
    # -0.0 is stored as 0.0 (SQLite cannot keep the sign of zero; all backends agree)
    assert [repr(v) for v in got] == [repr(float(v) + 0.0) for v in values]


def test_query_samples_streams_groups(url):
    ingest(url, demo_batches())
    with open_store(url, readonly=True) as store, store.connect() as conn:
        sets = list(query.samples(conn, [1, 2], [1, 2, 3], with_sessions=True))
        assert len(sets) == 2 * 3 * 3
        first = sets[0]
        assert (first.sut_id, first.swprofile_id) == (1, 1)
        assert len(first.values) == 6 and first.sessions == ["s00-a"] * 6
        assert query.error_counts(conn, [1, 2], [1, 2, 3]) == {(1, 3, 2): 1, (2, 3, 2): 1}
        assert query.error_codes(conn, 1, 3, 2) == {104: 1}


def test_hashes_do_not_depend_on_store(tmp_path):
    a, b = str(tmp_path / "a"), f"sqlite:///{tmp_path / 'b.db'}"
    ingest(a, demo_batches())
    ingest(b, list(reversed(demo_batches())))
    keys = {}
    for url in (a, b):
        with open_store(url, readonly=True) as store, store.connect() as conn:
            keys[url] = sorted(conn.execute(select(Sut.key_hash, Sut.nodes_hash)).all())
    assert keys[a] == keys[b]


def test_canonical_dump_is_independent_of_backend(tmp_path):
    a, b = str(tmp_path / "a"), f"sqlite:///{tmp_path / 'b.db'}"
    ingest(a, demo_batches())
    ingest(b, demo_batches())
    texts = []
    for url in (a, b):
        with open_store(url, readonly=True) as store, store.connect() as conn:
            texts.append(canonical_text(conn))
    assert texts[0] == texts[1]


def test_tz_naive_results_rows_are_kept_as_given(url):
    row = ResultRow("x", "s", "bigger", 1.5, datetime(2026, 5, 1, 0, 0), "u")
    b = batch(values={})
    b.results.append(row)
    ingest(url, [b])
    with open_store(url, readonly=True) as store, store.connect() as conn:
        assert conn.execute(select(Result.timestamp)).scalar_one() == datetime(2026, 5, 1)
    assert UTC  # imported for readers: timestamps are UTC


def test_public_api_is_not_shadowed_by_submodules():
    import importlib

    import fastpath.resultstore as rs

    for name in ("csvstore", "dump", "hashing", "merge", "models", "query", "report", "schema",
                 "sqlstore", "store", "url", "writer"):
        importlib.import_module(f"fastpath.resultstore.{name}")
    assert callable(rs.ingest) and callable(rs.open_store)
    assert rs.ingest.__module__ == "fastpath.resultstore"


@pytest.mark.parametrize("values", [
    [389.8, 389.6, 390.1, 389.8, 389.83, 389.800000001],
    [1e9, 1e9 + 1, 1e9 + 2, 1e9 + 1],  # one-pass sums fail here: recomputed exactly
    [0.1, 0.1, 0.1],
    [-3.2, -2.9, -3.5, -3.1],
    [7.0],
    [-1.0, 1.0],
])
def test_database_moments_match_the_pure_summary(url, values):
    from fastpath.stats import summarize
    from fastpath.stats.summary import summarize_moments

    ingest(url, [batch(values={("x", "s", "smaller"): values}),
                 batch(swp=swprofile("far"),
                       values={("x", "s", "smaller"): [v * 1.5 + 1e6 for v in values]})])
    with open_store(url, readonly=True) as store, store.connect() as conn:
        rcs = query.resultclasses(conn)
        got = {m.swprofile_id: m for m in query.moments(conn, [1], [1, 2], rcs)}
    for swp_id, xs in ((1, values), (2, [v * 1.5 + 1e6 for v in values])):
        m = got[swp_id]
        a = summarize_moments(m.count, m.min, m.max, m.shift, m.sum_dev, m.sum_sq_dev).as_dict()
        b = summarize(xs).as_dict()
        for key, exp in b.items():
            if exp is None or isinstance(exp, int):
                assert a[key] == exp, key
            else:
                assert a[key] == pytest.approx(exp, rel=1e-9, abs=1e-9), key
        if len(set(xs)) == 1:
            assert a == b
