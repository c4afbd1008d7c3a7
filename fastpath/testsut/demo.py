"""The main job's demo: a real plan on the project's own VM SUT with two real kernels.

``python -m fastpath.testsut.demo [--workdir DIR] [--keep-vm]`` (what ``make demo`` runs):

1. downloads (cached) two real Debian kernels of one version — ``cloud-amd64`` as a DEB and
   ``amd64`` as a RAW Image + modules tarball;
2. builds (cached) and boots the Debian 12 VM SUT, with the sysbench image preloaded;
3. writes ``DIR/demo.yaml``: two swprofiles (each with its own cmdline option and sysctl)
   and sysbench cpu + memory benchmarks;
4. runs ``fastpath plan exec --output DIR/results DIR/demo.yaml`` and then
   ``fastpath result show DIR/results --swprofile cloud-deb --swprofile amd64-raw --relative``;
5. stops the VM (unless ``--keep-vm``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from fastpath.plan.dump import dump_yaml

DEMO_IMAGES = ("fastpath/sysbench:1.0",)


def demo_plan(connection: dict, powercycle: str, kernels: object, *, repeats: int = 3,
              sessions: int = 1) -> dict:
    """The demo plan as a dict (also used by the end-to-end test)."""
    return {
        "sut": {"name": "fastpath-demo-vm", "connection": connection,
                "powercycle": powercycle},
        "swprofiles": [
            {"name": "cloud-deb", "kernel": kernels.deb_cloud,  # type: ignore[attr-defined]
             "cmdline": ["fastpath_demo=cloud"], "sysctl": ["vm.swappiness=13"]},
            {"name": "amd64-raw", "kernel": kernels.raw_image,  # type: ignore[attr-defined]
             "modules": kernels.raw_modules,  # type: ignore[attr-defined]
             "cmdline": ["fastpath_demo=raw"], "sysctl": ["vm.swappiness=31"]},
        ],
        "benchmarks": [
            {"include": "sysbench/cpu.yaml", "params": {"time": "5"}},
            {"include": "sysbench/memory.yaml", "params": {"time": "5"}},
        ],
        "defaults": {"benchmark": {"warmups": 1, "repeats": repeats, "sessions": sessions,
                                   "timeout": "10m"}},
    }


def _fastpath() -> str:
    exe = Path(sys.executable).parent / "fastpath"
    return str(exe) if exe.exists() else "fastpath"


def main(argv: list[str] | None = None) -> int:
    from fastpath.testsut import vm, vm_image

    ap = argparse.ArgumentParser(prog="python -m fastpath.testsut.demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("var/demo"))
    ap.add_argument("--keep-vm", action="store_true", help="leave the VM SUT running")
    ap.add_argument("--fresh", action="store_true",
                    help="discard the results of an earlier demo run first")
    args = ap.parse_args(argv)
    work = args.workdir.resolve()
    if args.fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)

    print("demo: fetching the test kernels (cached)", flush=True)
    kernels = vm_image.fetch_test_kernels()
    print(f"demo: kernels {kernels.cloud_release} (DEB) and {kernels.raw_release} (RAW)",
          flush=True)
    print("demo: building the VM SUT image (cached)", flush=True)
    image = vm_image.build_image(preload=list(DEMO_IMAGES))
    state = work / "vm"
    instance = vm.VmSut(state)
    if (state / "vm.json").is_file() and instance.running():
        print("demo: reusing the running VM SUT", flush=True)
    else:
        print("demo: booting the VM SUT (1-2 minutes under TCG)", flush=True)
        instance = vm.start(image, state)
    try:
        plan = demo_plan(instance.connection(), instance.powercycle_command(), kernels)
        plan_file = work / "demo.yaml"
        plan_file.write_text(dump_yaml(plan), encoding="utf-8")
        results = work / "results"
        fp = _fastpath()
        rc = subprocess.call([fp, "plan", "exec", "--output", str(results), str(plan_file)])
        if rc != 0:
            print(f"demo: plan exec failed (exit {rc}); logs in {results / 'run'}",
                  file=sys.stderr)
            return rc
        return subprocess.call([fp, "result", "show", str(results), "--swprofile",
                                "cloud-deb", "--swprofile", "amd64-raw", "--relative"])
    finally:
        if not args.keep_vm:
            instance.stop()


if __name__ == "__main__":
    sys.exit(main())
