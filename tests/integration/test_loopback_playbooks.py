"""Operators' view: the playbooks run by hand with ansible-playbook, and the reproducer."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fastpath import paths, render
from fastpath.execute import ansible_env, run_playbook
from fastpath.records import ErrorCode
from fastpath.results_csv import classify
from fastpath.session import run_session
from tests.integration.sut import TEST_IMAGE, bench, plan_for

pytestmark = pytest.mark.integration


def nodes_of(sut):
    return [{"name": n.name, "connection": sut.connection(n.index)} for n in sut.nodes]


def ansible_playbook(*args, env_extra=None):
    env = dict(os.environ, **ansible_env())
    env.update(env_extra or {})
    exe = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env,
                          timeout=600, cwd=paths.data_root())


def test_sample_inventory_and_playbooks_parse():
    inv = paths.data_root() / "inventories" / "sample" / "hosts.yml"
    for pb in sorted(paths.playbooks_dir().glob("*.yml")):
        r = ansible_playbook("--syntax-check", "-i", str(inv), str(pb))
        assert r.returncode == 0, (pb, r.stdout, r.stderr)


def test_run_benchmark_by_hand_copies_image_and_fetches(loopback_sut, controller_docker,
                                                        tmp_path):
    # an image only the controller has: the role must copy it (pull fails offline)
    image = f"fastpath-test/controller-only:{secrets.token_hex(3)}"
    env = dict(os.environ, DOCKER_HOST=controller_docker) if controller_docker else None
    subprocess.run(["docker", "tag", "fastpath/base:bookworm-1", image], check=True, env=env)
    try:
        inv = render.write_inventory(tmp_path, nodes_of(loopback_sut))
        b = bench("hand", image, warmups=0, repeats=2)
        (tmp_path / "bench.json").write_text(json.dumps({"fastpath_benchmark_spec": b}))
        r = ansible_playbook("-i", str(inv), "playbooks/run_benchmark.yml",
                             "-e", f"@{tmp_path / 'bench.json'}",
                             "-e", f"fastpath_benchmark_fetch_dir={tmp_path / 'res'}")
        assert r.returncode == 0, r.stdout[-3000:]
        assert f"Save on the controller the image {image}" in r.stdout
        assert f"Load into the SUT's Docker the image {image}" in r.stdout
        assert loopback_sut.has_image(0, image)
        for it in (1, 2):  # fetched and unpacked on the controller
            status = json.loads((tmp_path / "res" / str(it) / "executor" /
                                 "status.json").read_text())
            assert status["results_csv"] is False  # the base image is no benchmark
            assert (tmp_path / "res" / str(it) / "executor" / "share" /
                    "benchmark.yaml").is_file()
        # a second run finds the image: no copy
        r = ansible_playbook("-i", str(inv), "playbooks/run_benchmark.yml",
                             "-e", f"@{tmp_path / 'bench.json'}",
                             "-e", f"fastpath_benchmark_fetch_dir={tmp_path / 'res2'}")
        assert r.returncode == 0 and f"Docker the image {image}" not in r.stdout
    finally:
        subprocess.run(["docker", "rmi", image], env=env, capture_output=True)
        loopback_sut.docker(0, "rmi", image, check=False)


def test_unavailable_image_fails_a_hand_run_clearly(loopback_sut, tmp_path):
    inv = render.write_inventory(tmp_path, nodes_of(loopback_sut))
    b = bench("hand", "fastpath-test/nowhere:1")
    (tmp_path / "bench.json").write_text(json.dumps({"fastpath_benchmark_spec": b}))
    r = ansible_playbook("-i", str(inv), "playbooks/run_benchmark.yml",
                         "-e", f"@{tmp_path / 'bench.json'}")
    assert r.returncode != 0
    assert "fastpath-test/nowhere:1 not on node0, not pullable" in r.stdout


def test_oom_kill_is_detected(loopback_sut, tmp_path):
    inv = render.write_inventory(tmp_path, nodes_of(loopback_sut))
    b = bench("oom", mode="oom")
    ev = render.benchmark_extravars(b, nodes=nodes_of(loopback_sut), run_id="oomtest",
                                    iterations=[1], timeout_s=120, fetch_dir=tmp_path / "res",
                                    unpack=True)
    ev["fastpath_benchmark_docker_args"] = ["--memory", "32m", "--memory-swap", "32m"]
    out = run_playbook("run_benchmark", inventory=inv, extravars=ev, run_dir=tmp_path)
    assert out.ok, out.reason()
    idir = tmp_path / "res" / "1" / "executor"
    status = json.loads((idir / "status.json").read_text())
    assert status["oom_killed"] is True and status["exit_code"] == 137
    parsed = classify(status, idir / "share" / "results.csv", timestamp=datetime.now(UTC),
                      session_uuid="x", role="executor")
    assert parsed.error.code == ErrorCode.OOM_KILLED


def test_commands_sh_reruns_a_step(loopback_sut, tmp_path):
    plan = plan_for(loopback_sut, [bench("ok", mode="ok")])
    run_session(plan, plan["swprofiles"][0], 1, tmp_path / "run",
                f"sqlite:///{tmp_path / 'r.db'}")
    lines = [ln for ln in (tmp_path / "run" / "commands.sh").read_text().splitlines()
             if ln.startswith("ANSIBLE_CONFIG=")]
    assert len(lines) == 1 and "session.yml" in lines[0]
    bindir = Path(sys.executable).parent
    r = subprocess.run(lines[0], shell=True, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}"), cwd="/")
    assert r.returncode == 0, r.stdout[-2000:]
    assert "Run all iterations in one task" in r.stdout
    assert TEST_IMAGE  # the re-run used the same rendered inputs (image already present)
