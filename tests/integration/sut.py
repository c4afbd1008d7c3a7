"""Loopback SUT fixtures (pytest plugin registered in tests/conftest.py).

Real sshd + dockerd on 127.0.0.1, started here and stopped at the end of the session:

- ``controller_docker``: DOCKER_HOST of the controller daemon (scripts/controller-docker.sh),
  with the library images needed by these tests built (scripts/build-images.sh); the daemon
  is stopped again if these fixtures started it and nothing else uses it.
- ``loopback_sut``: one node, with a busybox test image imported and a scriptable test
  image (``TEST_IMAGE``) whose behaviour is chosen by the benchmark param ``mode``.
- ``loopback_sut2``: two nodes (two sshd ports, two dockerd) for multi-node benchmarks.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fastpath.paths import data_root
from fastpath.testsut.loopback import LoopbackSut

SCRIPTS = data_root() / "scripts"
BUSYBOX = "fastpath-test/busybox:1"
TEST_IMAGE = "fastpath-test/scripted:1"
LIBRARY_IMAGES = ("sysbench", "iperf3")

# The scripted container: one behaviour per `mode` param (see plans in the tests).
SCRIPT = r"""#!/bin/sh
Y=/fastpath-share/benchmark.yaml
OUT=/fastpath-share/results.csv
mode=$(sed -n 's/^ *mode: "\(.*\)"$/\1/p' "$Y" | head -n 1)
role=$(sed -n 's/^role: "\(.*\)"$/\1/p' "$Y")
echo "mode=$mode role=$role" > /fastpath-share/output/log.txt
H='name,unit,improvement,value,error'
case "$mode" in
  ok) printf '%s\nlatency,ms,smaller,1.5,0\nrate,ops/s,bigger,200,0\n' "$H" > "$OUT" ;;
  exit3) printf '%s\nlatency,ms,smaller,1.5,0\n' "$H" > "$OUT"; exit 3 ;;
  error7) printf '%s\nlatency,ms,smaller,,7\n' "$H" > "$OUT" ;;
  missing) : ;;
  badheader) printf 'name,unit,value\nlatency,ms,1\n' > "$OUT" ;;
  badvalue) printf '%s\nlatency,ms,smaller,fast,0\n' "$H" > "$OUT" ;;
  badimprovement) printf '%s\nlatency,ms,lower,1,0\n' "$H" > "$OUT" ;;
  nan) printf '%s\nlatency,ms,smaller,nan,0\n' "$H" > "$OUT" ;;
  timeout) sleep 600 ;;
  oom) head -c 400000000 /dev/zero | tail > /dev/null ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
"""


def _import_scripted(sut: LoopbackSut, tmp: Path) -> None:
    root = tmp / "scripted-rootfs"
    sut_busybox_tar = tmp / "scripted.tar"
    # Reuse the busybox rootfs of the SUT's image plus our script.
    for i in range(len(sut.nodes)):
        cid = sut.docker(i, "create", BUSYBOX).stdout.strip()
        root.mkdir(exist_ok=True)
        exported = tmp / "bb.tar"
        sut.docker(i, "export", "-o", str(exported), cid)
        sut.docker(i, "rm", cid)
        subprocess.run(["tar", "-C", str(root), "-xf", str(exported)], check=True)
        (root / "bin" / "fastpath-test").write_text(SCRIPT)
        (root / "bin" / "fastpath-test").chmod(0o755)
        subprocess.run(["tar", "-C", str(root), "-cf", str(sut_busybox_tar), "."], check=True)
        sut.docker(i, "import", "--change", 'CMD ["/bin/fastpath-test"]', "--change",
                   "ENV PATH=/bin", str(sut_busybox_tar), TEST_IMAGE)


@pytest.fixture(scope="session")
def controller_docker():
    ctl = str(SCRIPTS / "controller-docker.sh")
    was_running = subprocess.run([ctl, "status"], capture_output=True).returncode == 0
    build = subprocess.run([str(SCRIPTS / "build-images.sh"), *LIBRARY_IMAGES],
                           capture_output=True, text=True, timeout=3600)
    assert build.returncode == 0, build.stdout + build.stderr
    line = subprocess.run([ctl, "env"], capture_output=True, text=True, check=True).stdout
    host = line.strip().split("=", 1)[1] if line.strip() else os.environ.get("DOCKER_HOST", "")
    old = os.environ.get("DOCKER_HOST")
    if host:  # the fastpath_docker role copies images from the controller's DOCKER_HOST
        os.environ["DOCKER_HOST"] = host
    yield host
    if old is None:
        os.environ.pop("DOCKER_HOST", None)
    else:
        os.environ["DOCKER_HOST"] = old
    if not was_running:
        env = dict(os.environ, DOCKER_HOST=host) if host else dict(os.environ)
        busy = subprocess.run(["docker", "ps", "-q"], env=env, capture_output=True, text=True)
        if not busy.stdout.strip():
            subprocess.run([ctl, "stop"], timeout=120)


@pytest.fixture(scope="session")
def loopback_sut(tmp_path_factory):
    sut = LoopbackSut(nodes_wanted=1).start()
    try:
        sut.import_busybox(BUSYBOX)
        _import_scripted(sut, tmp_path_factory.mktemp("scripted"))
        yield sut
    finally:
        sut.stop()


@pytest.fixture(scope="session")
def loopback_sut2(tmp_path_factory):
    sut = LoopbackSut(nodes_wanted=2).start()
    try:
        sut.import_busybox(BUSYBOX)
        _import_scripted(sut, tmp_path_factory.mktemp("scripted2"))
        yield sut
    finally:
        sut.stop()


def bench(name: str, image: str = TEST_IMAGE, *, warmups: int = 0, repeats: int = 1,
          timeout: str = "60s", roles=None, rolemap=None, suite: str = "fptest",
          **params: str) -> dict:
    """A normalised plan benchmark object."""
    roles = list(roles or ["executor"])
    return {"suite": suite, "name": name, "type": "test", "image": image,
            "params": {k: str(v) for k, v in params.items()}, "warmups": warmups,
            "repeats": repeats, "sessions": 1, "timeout": timeout, "roles": roles,
            "rolemap": dict(rolemap or {r: 0 for r in roles})}


def plan_for(sut: LoopbackSut, benchmarks: list[dict], setup_roles=()) -> dict:
    """A normalised plan for ``sut`` (as fastpath.plan.load_plan returns)."""
    return {"defaults": {"benchmark": {"repeats": 3, "sessions": 1, "warmups": 1,
                                       "timeout": "1h"}},
            "sut": sut.plan_sut(), "setup": {"roles": list(setup_roles)},
            "swprofiles": [{"name": "base", "pkgtype": "RAW", "kernel": "/boot/vmlinuz",
                            "modules": None, "cmdline": [], "sysctl": [], "bootscript": [],
                            "gitsha": None}],
            "benchmarks": benchmarks}
