"""`fastpath plan exec` end to end on the VM SUT with real kernels (issue: the main job).

One plan, three swprofiles, run by the real CLI in a subprocess:
  cloud-deb  the Debian cloud-amd64 kernel as a DEB, cmdline fastpath_e2e=deb, a sysctl
  broken     a truncated Image (RAW) that cannot boot: its runs become BOOT_FAILED errors
  amd64-raw  the Debian amd64 kernel as a RAW Image + modules tarball, its own cmdline/sysctl
with sysbench cpu, 1 warm-up + 2 repeats, 2 sessions.  The first execution is killed
(SIGKILL of the driver's process group) after its first stored result and then resumed with
the same command; the store must hold every result exactly once.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastpath.plan.dump import dump_yaml

pytestmark = pytest.mark.e2e

FASTPATH = str(Path(sys.executable).parent / "fastpath")


def _rows(store: Path, table: str) -> list[dict[str, str]]:
    with open(store / f"{table}.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _state(run: Path) -> dict:
    try:
        return json.loads((run / "state.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


@pytest.fixture(scope="module")
def executed(vm_sut, test_kernels, tmp_path_factory) -> dict:
    from fastpath.testsut.vm_image import truncated_kernel

    work = tmp_path_factory.mktemp("plan-exec")
    broken = truncated_kernel(test_kernels.raw_image, work / "vmlinuz-broken")
    plan = {
        "sut": {"name": "e2e-vm", "connection": vm_sut.connection(),
                "powercycle": vm_sut.powercycle_command()},
        "swprofiles": [
            {"name": "cloud-deb", "kernel": test_kernels.deb_cloud,
             "cmdline": ["fastpath_e2e=deb"], "sysctl": ["vm.swappiness=13"]},
            {"name": "broken", "kernel": str(broken), "modules": test_kernels.raw_modules,
             "cmdline": ["fastpath_e2e=broken"]},
            {"name": "amd64-raw", "kernel": test_kernels.raw_image,
             "modules": test_kernels.raw_modules, "cmdline": ["fastpath_e2e=raw"],
             "sysctl": ["vm.swappiness=31", "kernel.sched_autogroup_enabled=0"]},
        ],
        "benchmarks": [{"include": "sysbench/cpu.yaml", "params": {"time": "3"}}],
        "defaults": {"benchmark": {"warmups": 1, "repeats": 2, "sessions": 2,
                                   "timeout": "10m"}},
    }
    plan_file = work / "e2e.yaml"
    plan_file.write_text(dump_yaml(plan))
    out = work / "results"
    run = out / "run"
    cmd = [FASTPATH, "plan", "exec", "--output", str(out), str(plan_file)]
    log1 = open(work / "exec1.log", "wb")  # noqa: SIM115
    first = subprocess.Popen(cmd, stdout=log1, stderr=subprocess.STDOUT,
                             start_new_session=True)
    # kill it once the first kept repeat is stored (warm-up w1 is done before r1)
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline and first.poll() is None:
        if any(k.endswith("/r1") for k in _state(run).get("done", [])):
            break
        time.sleep(1)
    assert first.poll() is None, (work / "exec1.log").read_text()[-3000:]
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    log1.close()
    killed_state = _state(run)
    stored_before = len(_rows(out, "result"))
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    return {"work": work, "out": out, "run": run, "plan": plan, "killed": killed_state,
            "stored_before": stored_before, "second": second}


def test_resumed_run_completes(executed) -> None:
    second = executed["second"]
    assert second.returncode == 0, second.stderr[-4000:]
    assert "Resuming" in second.stderr
    killed_done = set(executed["killed"]["done"])
    assert any(k.endswith("/r1") for k in killed_done)
    assert executed["stored_before"] >= 1
    final = _state(executed["run"])
    # 3 profiles x 1 benchmark x 2 sessions x (1 + 2) runs
    assert len(final["done"]) == 18
    assert killed_done <= set(final["done"])
    assert final["restored"] is True
    assert "18/18" in second.stderr or "100%" in second.stderr


def test_results_exactly_once_with_new_boot_ids(executed) -> None:
    out = executed["out"]
    profiles = {r["id"]: r for r in _rows(out, "swprofile")}
    results = _rows(out, "result")
    classes = {r["id"]: r["name"] for r in _rows(out, "resultclass")}
    by_profile: dict[str, list[dict[str, str]]] = {}
    for r in results:
        by_profile.setdefault(profiles[r["swprofile_id"]]["name"], []).append(r)
    assert set(by_profile) == {"cloud-deb", "amd64-raw"}
    for name, rows in by_profile.items():
        per_class: dict[str, int] = {}
        for r in rows:
            per_class[classes[r["resultclass_id"]]] = per_class.get(classes[r["resultclass_id"]],
                                                                    0) + 1
            assert float(r["value"]) > 0
        # 2 sessions x 2 repeats, each exactly once
        assert set(per_class.values()) == {4}, (name, per_class)
    sessions = {p: {r["session_uuid"] for r in rows} for p, rows in by_profile.items()}
    # every session is its own boot (the killed session's remainder ran in a new boot)
    assert all(len(s) >= 2 for s in sessions.values())
    assert not (sessions["cloud-deb"] & sessions["amd64-raw"])


def test_swprofile_metadata(executed, test_kernels) -> None:
    rows = {r["name"]: r for r in _rows(executed["out"], "swprofile")}
    deb, raw = rows["cloud-deb"], rows["amd64-raw"]
    assert deb["kernel_name"] == test_kernels.cloud_release
    assert raw["kernel_name"] == test_kernels.raw_release
    assert deb["cmdline"] == "fastpath_e2e=deb"
    assert deb["sysctl"] == "vm.swappiness=13"
    assert raw["sysctl"] == "kernel.sched_autogroup_enabled=0\nvm.swappiness=31"
    for row in (deb, raw):
        assert len(row["kernel_cmdline_full_hash"]) == 64
        assert len(row["kernel_kconfig_full_hash"]) == 64
        assert "Debian GNU/Linux 12" in row["userspace_name"]
    assert deb["kernel_cmdline_full_hash"] != raw["kernel_cmdline_full_hash"]


def test_booted_kernel_cmdline_and_sysctl_each_session(executed, test_kernels) -> None:
    profiles = _state(executed["run"])["profiles"]
    expected = {"cloud-deb": (test_kernels.cloud_release, "fastpath_e2e=deb",
                              {"vm.swappiness": "13"}),
                "amd64-raw": (test_kernels.raw_release, "fastpath_e2e=raw",
                              {"vm.swappiness": "31", "kernel.sched_autogroup_enabled": "0"})}
    boot_ids = []
    for name, (release, option, sysctls) in expected.items():
        boots = profiles[name]["boots"]
        assert set(boots) == {"1", "2"}
        for records in boots.values():
            for rec in records:
                assert rec["release"] == release
                assert option in rec["cmdline"].split()
                live = {c["key"]: str(c["got"]) for c in rec["sysctl"]}
                assert live == sysctls
                boot_ids.append(rec["boot_id"])
    assert len(boot_ids) == len(set(boot_ids)) >= 4


def test_broken_kernel_recorded_as_errors_and_next_profile_ran(executed) -> None:
    from fastpath.records import ErrorCode

    out = executed["out"]
    profiles = {r["id"]: r["name"] for r in _rows(out, "swprofile")}
    errors = [e for e in _rows(out, "error") if profiles[e["swprofile_id"]] == "broken"]
    assert errors and {int(e["error"]) for e in errors} == {int(ErrorCode.BOOT_FAILED)}
    assert "broken" in _state(executed["run"])["profiles"]
    log = (executed["run"] / "fastpath.log").read_text()
    assert "did not boot" in log


def test_result_show_compares_profiles(executed) -> None:
    proc = subprocess.run([FASTPATH, "result", "show", str(executed["out"]), "--swprofile",
                           "cloud-deb", "--swprofile", "amd64-raw", "--relative"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "cloud-deb" in proc.stdout and "amd64-raw" in proc.stdout
    assert "sysbench/cpu" in proc.stdout


def test_original_kernel_restored(executed, vm_sut) -> None:
    from fastpath import kernel

    status = kernel.status(vm_sut.connection(), executed["work"] / "status")
    assert status.running == vm_sut.info["guest_kernel"]
    assert status.test_kernels == []
    assert status.default_release == vm_sut.info["guest_kernel"]
