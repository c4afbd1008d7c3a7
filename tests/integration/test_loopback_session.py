"""Session runner on real loopback SUTs: results, every ERROR code, progress, resume."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fastpath.records import ErrorCode
from fastpath.session import run_session
from tests.integration.sut import bench, plan_for

pytestmark = pytest.mark.integration


def store_rows(db):
    con = sqlite3.connect(db)
    try:
        results = con.execute(
            "SELECT b.suite, b.name, rc.name, rc.unit, rc.improvement, r.value, "
            "r.session_uuid, ro.name FROM result r JOIN resultclass rc ON rc.id = r.resultclass_id "
            "JOIN benchmark b ON b.id = rc.benchmark_id JOIN role ro ON ro.id = r.role_id"
        ).fetchall()
        errors = con.execute(
            "SELECT b.name, e.error, e.session_uuid, ro.name FROM error e "
            "JOIN benchmark b ON b.id = e.benchmark_id JOIN role ro ON ro.id = e.role_id"
        ).fetchall()
    finally:
        con.close()
    return results, errors


def test_sysbench_session_copies_image_ingests_and_reports_progress(
        loopback_sut, controller_docker, tmp_path):
    sysbench = bench("cpu", "fastpath/sysbench:1.0", warmups=1, repeats=2, suite="sysbench",
                     test="cpu", threads="1", time="1", cpu_max_prime="2000")
    scripted = bench("ok", warmups=1, repeats=2, mode="ok")
    plan = plan_for(loopback_sut, [sysbench, scripted])
    # The SUT is shared by the session's tests: an earlier one may have copied the image.
    loopback_sut.docker(0, "image", "rm", "-f", "fastpath/sysbench:1.0", check=False)
    assert not loopback_sut.has_image(0, "fastpath/sysbench:1.0")
    db = tmp_path / "r.db"
    progress, done = [], []
    out = run_session(plan, plan["swprofiles"][0], 1, tmp_path / "run", f"sqlite:///{db}",
                      on_progress=progress.append, on_item_done=done.append)

    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert out.boot_id == boot_id
    assert "fastpath/sysbench:1.0" in out.copied_images  # not on the SUT: copied
    assert loopback_sut.has_image(0, "fastpath/sysbench:1.0")
    log = (tmp_path / "run" / "fastpath.log").read_text()
    assert "fastpath/sysbench:1.0 was copied from the controller" in log

    # one progress event per run, warm-ups included, in order per benchmark
    assert [p.key for p in progress] == [
        "base/1/0/w1", "base/1/0/r1", "base/1/0/r2", "base/1/1/w1", "base/1/1/r1", "base/1/1/r2"]
    assert all(p.ok for p in progress)
    assert done == [p.key for p in progress]

    results, errors = store_rows(db)
    assert errors == []
    sb = [r for r in results if r[0] == "sysbench"]
    assert len(sb) >= 2 and {r[6] for r in results} == {boot_id}
    assert all(r[5] > 0 and r[7] == "executor" for r in sb)
    ok = sorted((r[2], r[3], r[4], r[5]) for r in results if r[1] == "ok")
    assert ok == [("latency", "ms", "smaller", 1.5)] * 2 + [("rate", "ops/s", "bigger", 200.0)] * 2
    assert out.results == len(results)

    # the iteration artifacts are on the controller: benchmark.yaml in, results + logs out
    fetched = tmp_path / "run" / "artifacts" / "results" / "base-s1" / "b1-fptest-ok"
    share = fetched / "2" / "executor" / "share"
    assert "mode=ok role=executor" in (share / "output" / "log.txt").read_text()
    assert (share / "results.csv").read_text().startswith("name,unit")
    assert 'role: "executor"' in (share / "benchmark.yaml").read_text()
    assert json.loads((fetched / "2" / "executor" / "status.json").read_text())["exit_code"] == 0
    # and the fingerprint of the session
    fp = json.loads((tmp_path / "run" / "artifacts" / "fingerprints" / "base-s1" /
                     "node0.json").read_text())
    assert fp["boot_id"] == boot_id
    # the operator's reproducer
    commands = (tmp_path / "run" / "commands.sh").read_text()
    steps = [ln for ln in commands.splitlines() if ln.startswith("ANSIBLE_CONFIG=")]
    assert len(steps) == 1 and "ansible-playbook" in steps[0] and "session.yml" in steps[0]


CASES = [
    ("exit3", ErrorCode.CONTAINER_EXIT),
    ("error7", 7),
    ("missing", ErrorCode.RESULTS_MISSING),
    ("badheader", ErrorCode.RESULTS_MALFORMED),
    ("badvalue", ErrorCode.RESULTS_MALFORMED),
    ("badimprovement", ErrorCode.RESULTS_MALFORMED),
    ("nan", ErrorCode.VALUE_NOT_FINITE),
]


def test_every_failure_is_an_error_row_and_the_session_goes_on(loopback_sut, tmp_path):
    benches = [bench(mode, mode=mode) for mode, _ in CASES]
    benches.append(bench("timeout", timeout="2s", mode="timeout"))
    benches.append(bench("noimage", "fastpath-test/does-not-exist:9", mode="ok"))
    benches.append(bench("ok", mode="ok"))
    plan = plan_for(loopback_sut, benches)
    db = tmp_path / "r.db"
    out = run_session(plan, plan["swprofiles"][0], 1, tmp_path / "run", f"sqlite:///{db}")
    results, errors = store_rows(db)
    got = {name: code for name, code, _uuid, _role in errors}
    want = {mode: int(code) for mode, code in CASES}
    want["timeout"] = int(ErrorCode.TIMEOUT)
    want["noimage"] = int(ErrorCode.IMAGE_UNAVAILABLE)
    assert got == want
    assert len(errors) == len(want)  # exactly one error per failed run
    assert {r[1] for r in results} == {"ok"}  # the last benchmark still ran
    log = (tmp_path / "run" / "fastpath.log").read_text()
    assert "ERROR 104 (TIMEOUT)" in log and "ERROR 7 (container's own code)" in log
    assert "ERROR 106 (IMAGE_UNAVAILABLE)" in log and "does-not-exist" in log
    assert out.errors == len(want)
    # nothing was left running on the SUT
    assert loopback_sut.docker(0, "ps", "-aq").stdout.strip() == ""


def test_skip_resumes_without_duplicates(loopback_sut, tmp_path):
    plan = plan_for(loopback_sut, [bench("ok", warmups=1, repeats=3, mode="ok")])
    db = tmp_path / "r.db"
    first = run_session(plan, plan["swprofiles"][0], 1, tmp_path / "run", f"sqlite:///{db}",
                        skip={"base/1/0/r3"})
    assert first.done == ["base/1/0/w1", "base/1/0/r1", "base/1/0/r2"]
    progress = []
    second = run_session(plan, plan["swprofiles"][0], 1, tmp_path / "run", f"sqlite:///{db}",
                         skip=set(first.done), on_progress=progress.append)
    assert second.done == ["base/1/0/r3"] and [p.iteration for p in progress] == ["r3"]
    results, _ = store_rows(db)
    assert len(results) == 3 * 2  # 3 kept repeats x 2 result classes, no duplicates


def test_sessions_filter_benchmarks(loopback_sut, tmp_path):
    once = bench("once", mode="ok")
    twice = dict(bench("twice", mode="ok"), sessions=2)
    plan = plan_for(loopback_sut, [once, twice])
    out = run_session(plan, plan["swprofiles"][0], 2, tmp_path / "run",
                      f"sqlite:///{tmp_path / 'r.db'}")
    assert out.done == ["base/2/1/r1"]


def test_prepare_fingerprints_every_node(loopback_sut2, tmp_path):
    from fastpath.session import prepare

    plan = plan_for(loopback_sut2, [])
    outcome, fps = prepare(plan, plan["swprofiles"][0], tmp_path, images=[], label="p")
    assert outcome.ok and len(fps) == 2
    assert fps[0]["boot_id"] == fps[1]["boot_id"]  # both loopback nodes are this machine
    assert (tmp_path / "artifacts" / "fingerprints" / "p" / "node1.json").is_file()
