"""Every single-role suite of the built-in library through the real session runner on a
loopback SUT (the two-role iperf3 runs across two nodes in test_loopback_multinode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastpath.paths import builtin_library
from fastpath.plan import load_fragment
from fastpath.session import run_session
from tests.integration.sut import plan_for
from tests.integration.test_benchmark_images import short_params
from tests.integration.test_loopback_session import store_rows

pytestmark = pytest.mark.integration

FRAGMENTS = ["sysbench/memory", "stress-ng/cpu", "hackbench/process-pipe", "fio/randread",
             "redis/set-get"]


def test_library_suites_through_the_session_runner(loopback_sut, controller_docker,
                                                   tmp_path: Path) -> None:
    benches = []
    for frag in FRAGMENTS:
        b = load_fragment(builtin_library() / f"{frag}.yaml")
        b["params"].update(short_params(b))
        b.update(warmups=0, repeats=2, timeout="5m")
        benches.append(b)
    plan = plan_for(loopback_sut, benches)
    db = tmp_path / "r.db"
    out = run_session(plan, plan["swprofiles"][0], 1, tmp_path / "run", f"sqlite:///{db}")
    results, errors = store_rows(db)
    assert errors == [], (tmp_path / "run" / "fastpath.log").read_text()[-3000:]
    by_bench: dict[str, list] = {}
    for suite, name, rc, unit, improvement, value, _uuid, role in results:
        by_bench.setdefault(f"{suite}/{name}", []).append((rc, unit, improvement, value))
        assert value > 0 and unit and improvement in ("bigger", "smaller") and role == "executor"
    assert sorted(by_bench) == sorted(FRAGMENTS)
    # each resultclass has exactly the 2 kept repeats
    for rows in by_bench.values():
        counts: dict[str, int] = {}
        for rc, *_ in rows:
            counts[rc] = counts.get(rc, 0) + 1
        assert set(counts.values()) == {2}
    fio = dict(((rc, imp) for rc, _u, imp, _v in by_bench["fio/randread"]))
    assert fio["read_iops"] == "bigger" and fio["read_clat_p99"] == "smaller"
    assert out.errors == 0
