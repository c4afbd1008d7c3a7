"""Build every benchmark image offline and run each container directly on the controller
Docker daemon, the way the SUT runner does (``--network host``, ``/fastpath-share``).

Each run uses the library fragment with short params, so it takes a few seconds, and the
results must be plausible: positive, right units, right improvement direction.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from fastpath.paths import data_root
from fastpath.plan import load_fragment

pytestmark = pytest.mark.integration

ROOT = data_root()
SCRIPTS = ROOT / "scripts"
HEADER = ["name", "unit", "improvement", "value", "error"]


@pytest.fixture(scope="module")
def docker_env():
    """Controller dockerd (started here if none runs; stopped again afterwards) + images."""
    ctl = str(SCRIPTS / "controller-docker.sh")
    was_running = subprocess.run([ctl, "status"], capture_output=True).returncode == 0
    build = subprocess.run([str(SCRIPTS / "build-images.sh")], capture_output=True, text=True,
                           timeout=1800)
    assert build.returncode == 0, build.stdout + build.stderr
    line = subprocess.run([ctl, "env"], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ)
    if line.strip():
        env["DOCKER_HOST"] = line.strip().split("=", 1)[1]
    yield env
    if not was_running:  # we started it: stop it, unless someone else is running containers
        busy = subprocess.run(["docker", "ps", "-q"], env=env, capture_output=True, text=True)
        if not busy.stdout.strip():
            subprocess.run([ctl, "stop"], check=True, timeout=120)


def benchmark_doc(fragment: str, role: str | None = None, **params: str) -> dict:
    """What the runner writes: the normalised fragment + role + nodes."""
    bench = load_fragment(ROOT / "benchmarks" / fragment)
    bench["params"].update(params)
    bench["role"] = role or bench["roles"][0]
    bench["nodes"] = [{"index": 0, "name": "loopback", "address": "127.0.0.1"}]
    return bench


def start(env: dict, share: Path, doc: dict) -> subprocess.Popen:
    share.mkdir(parents=True, exist_ok=True)
    (share / "benchmark.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return subprocess.Popen(
        ["docker", "run", "--rm", "--init", "--network", "host", "-v", f"{share}:/fastpath-share",
         doc["image"]], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, share: Path) -> tuple[int, list[list[str]], str]:
    out, _ = proc.communicate(timeout=300)
    rows = list(csv.reader((share / "results.csv").read_text().splitlines()))
    log = (share / "output" / "exec.log").read_text()
    assert rows[0] == HEADER, out
    return proc.returncode, rows[1:], log


def run(env, share, doc):
    return finish(start(env, share, doc), share)


def results(rows) -> dict[str, tuple[float, str, str]]:
    out = {}
    for name, unit, improvement, value, error in rows:
        assert error == "0", rows
        out[name] = (float(value), unit, improvement)
    return out


def assert_plausible(got, expected: dict[str, tuple[str, str]]) -> None:
    assert set(got) == set(expected), got
    for name, (unit, improvement) in expected.items():
        value, u, imp = got[name]
        assert (u, imp) == (unit, improvement), name
        assert value > 0, (name, value)


SYSBENCH = {
    "cpu": {"events_per_second": ("events/s", "bigger"), "latency_avg": ("ms", "smaller"),
            "latency_p95": ("ms", "smaller")},
    "threads": {"events_per_second": ("events/s", "bigger"), "latency_avg": ("ms", "smaller"),
                "latency_p95": ("ms", "smaller")},
    "memory": {"throughput": ("MiB/s", "bigger"), "ops_per_second": ("ops/s", "bigger")},
    "mutex": {"total_time": ("s", "smaller"), "latency_avg": ("ms", "smaller")},
}


@pytest.mark.parametrize("test", list(SYSBENCH))
def test_sysbench(docker_env, tmp_path, test):
    params = {"time": "1"} if test != "mutex" else {"mutex_locks": "2000"}
    rc, rows, log = run(docker_env, tmp_path, benchmark_doc(f"sysbench/{test}.yaml", **params))
    assert rc == 0, log
    got = results(rows)
    assert_plausible(got, SYSBENCH[test])
    assert (tmp_path / "output" / "sysbench.log").is_file()


def test_sysbench_single_thread_variant(docker_env, tmp_path):
    rc, rows, log = run(docker_env, tmp_path, benchmark_doc("sysbench/cpu-1thread.yaml", time="1"))
    assert rc == 0 and "--threads=1" in log


def test_stress_ng(docker_env, tmp_path):
    doc = benchmark_doc("stress-ng/cpu.yaml", stressors="cpu,matrix", instances="1", time="1")
    rc, rows, log = run(docker_env, tmp_path, doc)
    assert rc == 0, log
    assert_plausible(results(rows), {"cpu_bogo_ops_per_second": ("bogo-ops/s", "bigger"),
                                     "matrix_bogo_ops_per_second": ("bogo-ops/s", "bigger")})


@pytest.mark.parametrize("fragment", ["process-socket", "thread-pipe"])
def test_hackbench(docker_env, tmp_path, fragment):
    doc = benchmark_doc(f"hackbench/{fragment}.yaml", groups="2", loops="200")
    rc, rows, log = run(docker_env, tmp_path, doc)
    assert rc == 0, log
    got = results(rows)
    assert_plausible(got, {"time": ("s", "smaller")})
    assert got["time"][0] < 60


def test_fio_randrw(docker_env, tmp_path):
    doc = benchmark_doc("fio/randrw.yaml", runtime="1", size="16M")
    rc, rows, log = run(docker_env, tmp_path, doc)
    assert rc == 0, log
    expected = {}
    for d in ("read", "write"):
        expected |= {f"{d}_iops": ("IOPS", "bigger"), f"{d}_bandwidth": ("KiB/s", "bigger"),
                     f"{d}_clat_p50": ("us", "smaller"), f"{d}_clat_p99": ("us", "smaller")}
    got = results(rows)
    assert_plausible(got, expected)
    # 4 KiB blocks: bandwidth (KiB/s) is about 4 x IOPS
    assert got["read_bandwidth"][0] == pytest.approx(4 * got["read_iops"][0], rel=0.05)


def test_redis(docker_env, tmp_path):
    doc = benchmark_doc("redis/set-get.yaml", requests="20000", clients="10")
    rc, rows, log = run(docker_env, tmp_path, doc)
    assert rc == 0, log
    expected = {}
    for t in ("set", "get"):
        expected |= {f"{t}_rps": ("requests/s", "bigger"), f"{t}_latency_p50": ("ms", "smaller"),
                     f"{t}_latency_p99": ("ms", "smaller")}
    assert_plausible(results(rows), expected)
    assert "redis-server stopped" in log


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("fragment", ["tcp", "udp"])
def test_iperf3_two_roles(docker_env, tmp_path, fragment):
    port = str(_free_port())
    client_doc = benchmark_doc(f"iperf3/{fragment}.yaml", role="client", time="1", port=port,
                               connect_timeout="60")
    server_doc = dict(client_doc, role="server")
    # The client starts first: it must keep retrying until the server listens.
    client = start(docker_env, tmp_path / "client", client_doc)
    time.sleep(1.5)
    server = start(docker_env, tmp_path / "server", server_doc)
    s_rc, s_rows, s_log = finish(server, tmp_path / "server")
    c_rc, c_rows, c_log = finish(client, tmp_path / "client")
    assert (s_rc, s_rows) == (0, []), s_log  # header-only: no results, no error
    assert c_rc == 0, c_log
    got = results(c_rows)
    if fragment == "tcp":
        assert_plausible(got, {"throughput": ("Gbit/s", "bigger")})
    else:
        assert set(got) == {"throughput", "jitter", "loss"}
        assert got["throughput"][1:] == ("Gbit/s", "bigger") and got["throughput"][0] > 0
        assert got["jitter"][1:] == ("ms", "smaller") and got["jitter"][0] >= 0
        assert got["loss"][1:] == ("%", "smaller") and 0 <= got["loss"][0] <= 100


COVERED = {"sysbench/cpu", "sysbench/threads", "sysbench/memory", "sysbench/mutex",
           "sysbench/cpu-1thread", "stress-ng/cpu", "hackbench/process-socket",
           "hackbench/thread-pipe", "fio/randrw", "redis/set-get", "iperf3/tcp", "iperf3/udp"}
ALL = sorted(p.relative_to(ROOT / "benchmarks").with_suffix("").as_posix()
             for p in (ROOT / "benchmarks").rglob("*.yaml"))


def short_params(bench: dict) -> dict[str, str]:
    """Overrides that make any library fragment finish in about a second."""
    suite, params = bench["suite"], bench["params"]
    if suite == "sysbench":
        return {"mutex_locks": "2000"} if params.get("test") == "mutex" else {"time": "1"}
    return {"stress-ng": {"time": "1", "instances": "1"},
            "hackbench": {"groups": "2", "loops": "100"},
            "fio": {"runtime": "1", "size": "16M"},
            "redis": {"requests": "5000"},
            "iperf3": {"time": "1", "port": str(_free_port())}}[suite]


@pytest.mark.parametrize("fragment", [f for f in ALL if f not in COVERED])
def test_every_other_fragment_runs(docker_env, tmp_path, fragment):
    bench = load_fragment(ROOT / "benchmarks" / f"{fragment}.yaml")
    overrides = short_params(bench)
    procs = []
    for i, role in enumerate(reversed(bench["roles"])):  # client before server
        if i:
            time.sleep(1)
        doc = benchmark_doc(f"{fragment}.yaml", role=role, **overrides)
        procs.append((role, start(docker_env, tmp_path / role, doc)))
    rows_by_role = {}
    for role, proc in procs:
        rc, rows, log = finish(proc, tmp_path / role)
        assert rc == 0, log
        rows_by_role[role] = rows
    rows = [r for role_rows in rows_by_role.values() for r in role_rows]
    assert rows, rows_by_role
    for name, unit, improvement, value, error in rows:
        assert error == "0" and unit and improvement in ("bigger", "smaller"), rows
        lower_bound_zero = name in ("loss", "jitter")
        assert float(value) >= 0 if lower_bound_zero else float(value) > 0, (name, value)


def test_error_rows(docker_env, tmp_path):
    # unknown param -> INVALID_PARAMS (3), with the message in exec.log
    rc, rows, log = run(docker_env, tmp_path / "a", benchmark_doc("sysbench/cpu.yaml", thread="2"))
    assert rc == 3 and rows == [["error", "", "", "", "3"]]
    assert "unknown param 'thread'" in log and "did you mean 'threads'" in log
    # the tool fails -> TOOL_FAILED (4)
    rc, rows, log = run(docker_env, tmp_path / "b",
                        benchmark_doc("fio/randread.yaml", runtime="1", directory="/proc"))
    assert rc == 4 and rows == [["error", "", "", "", "4"]], log
    assert "fio exited with status 1" in log
    # a client whose server never comes -> PEER_UNREACHABLE (6)
    doc = benchmark_doc("iperf3/tcp.yaml", role="client", time="1", port=str(_free_port()),
                        connect_timeout="2")
    rc, rows, log = run(docker_env, tmp_path / "c", doc)
    assert rc == 6 and rows == [["error", "", "", "", "6"]]
    assert "not reachable after 2s" in log
    # benchmark.yaml of another suite -> INVALID_BENCHMARK (2)
    doc = benchmark_doc("hackbench/process-socket.yaml")
    doc["image"] = "fastpath/redis:1.0"
    rc, rows, log = run(docker_env, tmp_path / "d", doc)
    assert rc == 2 and rows == [["error", "", "", "", "2"]]


def test_build_is_cached(docker_env):
    """A second build changes nothing (each image's inputs hash is unchanged)."""
    build = subprocess.run([str(SCRIPTS / "build-images.sh")], capture_output=True, text=True,
                           timeout=600)
    assert build.returncode == 0, build.stderr
    assert "building" not in build.stdout and build.stdout.count("up to date") == 6
    images = {load_fragment(ROOT / "benchmarks" / f"{f}.yaml")["image"] for f in ALL}
    for image in sorted(images):  # every image the library references exists
        inspect = subprocess.run(["docker", "image", "inspect", image], env=docker_env,
                                 capture_output=True)
        assert inspect.returncode == 0, image
