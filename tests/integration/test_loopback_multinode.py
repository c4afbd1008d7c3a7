"""Multi-role benchmarks on a two-node loopback SUT: one container per role on its node."""

from __future__ import annotations

import sqlite3

import pytest
import yaml

from fastpath.session import run_session
from tests.integration.sut import bench, plan_for

pytestmark = pytest.mark.integration


def test_iperf3_client_server_across_two_nodes(loopback_sut2, controller_docker, tmp_path):
    iperf = bench("tcp", "fastpath/iperf3:1.0", suite="iperf3", warmups=1, repeats=2,
                  timeout="2m", roles=["server", "client"], rolemap={"server": 0, "client": 1},
                  protocol="tcp", time="1", parallel="1", port="5201")
    plan = plan_for(loopback_sut2, [iperf])
    db = tmp_path / "r.db"
    progress = []
    out = run_session(plan, plan["swprofiles"][0], 1, tmp_path / "run", f"sqlite:///{db}",
                      on_progress=progress.append)
    assert [p.iteration for p in progress] == ["w1", "r1", "r2"] and all(p.ok for p in progress)
    assert len(out.sut.nodes) == 2
    # the image reached both nodes (copied from the controller)
    assert all(loopback_sut2.has_image(i, "fastpath/iperf3:1.0") for i in (0, 1))

    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT rc.name, rc.unit, r.value, ro.name, r.session_uuid FROM result r "
        "JOIN resultclass rc ON rc.id = r.resultclass_id JOIN role ro ON ro.id = r.role_id"
    ).fetchall()
    rmdesc = con.execute(
        "SELECT ro.name, n.name FROM rmdesc d JOIN role ro ON ro.id = d.role_id "
        "JOIN node n ON n.id = d.node_id ORDER BY ro.name").fetchall()
    errors = con.execute("SELECT error FROM error").fetchall()
    con.close()
    assert errors == []
    assert rows and {r[3] for r in rows} == {"client"}  # the server reports no results
    assert all(r[2] > 0 for r in rows) and {r[4] for r in rows} == {out.boot_id}
    assert rmdesc == [("client", "node1"), ("server", "node0")]

    # each role ran on its own node with the rolemap and every node's address
    fetched = tmp_path / "run" / "artifacts" / "results" / "base-s1" / "b0-iperf3-tcp"
    docs = {role: yaml.safe_load((fetched / "2" / role / "share" / "benchmark.yaml").read_text())
            for role in ("server", "client")}
    assert docs["client"]["role"] == "client" and docs["server"]["role"] == "server"
    assert docs["client"]["rolemap"] == {"server": 0, "client": 1}
    assert [n["index"] for n in docs["client"]["nodes"]] == [0, 1]
    assert {n["address"] for n in docs["client"]["nodes"]} == {"127.0.0.1"}
    # lockstep: one module task per iteration on both nodes
    stdout = next((tmp_path / "run" / "artifacts" / "ansible").glob("*/stdout")).read_text()
    assert stdout.count("Run on every node the iteration") == 3


def test_roles_on_one_node_of_two_run_there_only(loopback_sut2, tmp_path):
    two = bench("pair", roles=["a", "b"], rolemap={"a": 1, "b": 1}, repeats=2, mode="ok")
    plan = plan_for(loopback_sut2, [two])
    out = run_session(plan, plan["swprofiles"][0], 1, tmp_path / "run",
                      f"sqlite:///{tmp_path / 'r.db'}")
    assert out.errors == 0 and out.results == 2 * 2 * 2  # 2 repeats x 2 roles x 2 classes
    fetched = tmp_path / "run" / "artifacts" / "results" / "base-s1" / "b0-fptest-pair"
    assert sorted(p.name for p in fetched.glob("*.tar.gz")) == ["node1.tar.gz"]
