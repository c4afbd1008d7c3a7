"""Session overhead on a loopback SUT: 20 iterations of a trivial container vs the floor.

    .venv/bin/python bench/bench_session.py [--iterations 20]   (needs root: starts sshd/dockerd)

Floor: 20 × ``ssh -o ControlMaster=auto ... docker run --rm IMAGE true`` over a warm
connection.  Measured in the same run:
  session   fastpath.session.run_session: ONE playbook (fingerprint + docker check + one
            benchmark of N iterations in one remote task) + fetch + ingest into SQLite
  playbook  the wall time of that session's ansible-playbook run alone
  naive     one Ansible loop item (= task) per ``docker run`` (the slow way, for context)
Prints each wall time and its ratio to the floor (the mean of a floor before and after).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastpath import render
from fastpath.execute import run_playbook
from fastpath.session import run_session
from fastpath.testsut.loopback import LoopbackSut

IMAGE = "fastpath-bench/true:1"


def floor(sut: LoopbackSut, n: int, cp: Path) -> float:
    base = [*sut.ssh_args(0)[:-1], "-o", "ControlMaster=auto", "-o", f"ControlPath={cp}",
            "-o", "ControlPersist=60", sut.ssh_args(0)[-1]]
    subprocess.run([*base, "true"], check=True)  # warm the master
    t = time.monotonic()
    for _ in range(n):
        subprocess.run([*base, f"docker run --rm {IMAGE} true"], check=True,
                       stdout=subprocess.DEVNULL)
    return time.monotonic() - t


NAIVE = """---
- name: One task per docker run
  hosts: fastpath_sut
  gather_facts: false
  tasks:
    - name: Run the container
      ansible.builtin.command: docker run --rm {image} true
      loop: "{{{{ range({n}) | list }}}}"
      changed_when: true
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=20)
    args = ap.parse_args()
    n = args.iterations
    logging.getLogger("fastpath").setLevel(logging.ERROR)  # the run log has the details
    with tempfile.TemporaryDirectory(prefix="fp-bench-") as tmp, LoopbackSut() as sut:
        tmpd = Path(tmp)
        sut.import_busybox("fastpath-bench/busybox:1")
        cid = sut.docker(0, "create", "fastpath-bench/busybox:1").stdout.strip()
        sut.docker(0, "export", "-o", str(tmpd / "bb.tar"), cid)
        sut.docker(0, "rm", cid)
        sut.docker(0, "import", "--change", 'CMD ["/bin/true"]', str(tmpd / "bb.tar"), IMAGE)

        f1 = floor(sut, n, tmpd / "cp")
        plan = {"sut": sut.plan_sut(), "setup": {"roles": []},
                "swprofiles": [{"name": "bench", "cmdline": [], "sysctl": [],
                                "bootscript": [], "gitsha": None}],
                "benchmarks": [{"suite": "bench", "name": "true", "type": "x", "image": IMAGE,
                                "params": {}, "warmups": 0, "repeats": n, "sessions": 1,
                                "timeout": "1m", "roles": ["executor"],
                                "rolemap": {"executor": 0}}]}
        seen = []
        t = time.monotonic()
        run_session(plan, plan["swprofiles"][0], 1, tmpd / "run", f"sqlite:///{tmpd}/r.db",
                    on_progress=lambda p: seen.append(time.monotonic() - t))
        session = time.monotonic() - t
        keep = Path("/tmp/fastpath-bench-last-run")
        subprocess.run(["rm", "-rf", str(keep)])
        subprocess.run(["cp", "-a", str(tmpd / "run"), str(keep)])
        steps = [json.loads(x) for x in (tmpd / "run" / "steps.jsonl").read_text().splitlines()]
        ends = {s["ident"]: s["seconds"] for s in steps if s["event"] == "end"}
        playbook = next(v for k, v in ends.items() if k.split("-", 1)[1].startswith("session-"))

        (tmpd / "naive.yml").write_text(NAIVE.format(image=IMAGE, n=n))
        inv = render.write_inventory(tmpd / "naive", [{"name": None,
                                                       "connection": sut.connection(0)}])
        t = time.monotonic()
        out = run_playbook(tmpd / "naive.yml", inventory=inv, run_dir=tmpd / "naive")
        naive = time.monotonic() - t
        assert out.ok, out.reason()
        f2 = floor(sut, n, tmpd / "cp")

    fl = (f1 + f2) / 2
    print(f"iterations: {n}   progress events: {len(seen)} "
          f"(first at {seen[0]:.2f}s, last at {seen[-1]:.2f}s of the session)")
    print(f"floor     {fl:7.2f} s  (before {f1:.2f}, after {f2:.2f}; "
          f"{fl / n * 1000:.0f} ms per docker run)")
    for name, value in (("session", session), ("  playbook", playbook), ("naive", naive)):
        print(f"{name:10s}{value:7.2f} s  ratio {value / fl:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
