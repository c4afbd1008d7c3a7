"""fastpath.kernel on the real VM SUT: real kernels, real grub, real reboots.

The tests run in file order against ONE VM (each one starts where the previous left it):
a truncated, corrupt Image that GRUB cannot load -> power-cycle -> default kernel and
KernelBootFailed;
a DEB kernel with its own cmdline and sysctls (its reboot also shows that a SUT not back
in time without a power-cycle command is an InfraError); a RAW Image + modules tarball;
restore -> the original kernel is grub's default again.  Several sessions per profile,
resume and results are covered by test_plan_exec.py on the same VM.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from fastpath import kernel
from fastpath.records import ErrorCode

pytestmark = pytest.mark.e2e

BOOT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kernel-run")


@pytest.fixture(scope="module")
def original(vm_sut, run_dir) -> str:
    st = kernel.status(vm_sut.connection(), run_dir)
    assert st.test_kernels == []
    assert st.default_release == st.running
    return st.running


def _live(vm_sut, command: str) -> str:
    r = vm_sut.ssh(command)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def _wait_boot_change(vm_sut, old_boot: str) -> str:
    for _ in range(60):
        vm_sut.wait_for_ssh()
        r = vm_sut.ssh("cat /proc/sys/kernel/random/boot_id")
        if r.returncode == 0 and r.stdout.strip() != old_boot:
            return r.stdout.strip()
        time.sleep(2)
    raise AssertionError("the SUT did not reboot")


def test_kernel_that_does_not_boot_falls_back_via_powercycle(vm_sut, test_kernels, run_dir,
                                                             original, tmp_path):
    from fastpath.testsut.vm_image import hanging_kernel

    # A truncated Image whose boot flag is also cleared: GRUB refuses it and retries the
    # one-shot entry for ever, so only a power-cycle brings the SUT back (on its default).
    # (A merely truncated Image crashes and resets the guest by itself: test_plan_exec.)
    broken = hanging_kernel(test_kernels.raw_image, tmp_path / "vmlinuz-broken")
    prof = {"name": "broken", "pkgtype": "RAW", "kernel": str(broken), "modules": None,
            "cmdline": ["fastpath_e2e=broken"], "sysctl": ["vm.swappiness=3"],
            "bootscript": []}
    conn = vm_sut.connection()
    dk = kernel.deploy_profile(conn, prof, run_dir)
    assert dk.release == test_kernels.raw_release
    assert dk.original == original
    boots_before = vm_sut.boots()
    old_boot = _live(vm_sut, "cat /proc/sys/kernel/random/boot_id")
    with pytest.raises(kernel.KernelBootFailed) as info:
        kernel.reboot_and_verify(conn, dk, prof, run_dir,
                                 powercycle=vm_sut.powercycle_command(), timeout_s=90)
    exc = info.value
    assert exc.code == ErrorCode.BOOT_FAILED
    assert test_kernels.raw_release in exc.message and kernel.sut_label(conn) in exc.message
    assert exc.boot is not None and exc.boot.powercycled
    assert exc.boot.release == original
    assert vm_sut.boots() == boots_before + 2  # the reboot itself + the power-cycle
    assert _live(vm_sut, "uname -r") == original
    assert _live(vm_sut, "cat /proc/sys/kernel/random/boot_id") != old_boot
    # the profile's sysctl persistence does not linger on the default kernel
    assert _live(vm_sut, "ls /etc/sysctl.d/").find("99-fastpath") == -1


def test_deb_kernel_boots_with_cmdline_and_sysctls(vm_sut, test_kernels, run_dir, original):
    prof = {"name": "cloud-deb", "pkgtype": "DEB", "kernel": test_kernels.deb_cloud,
            "modules": None, "cmdline": ["fastpath_e2e=deb", "mitigations=off"],
            "sysctl": ["vm.swappiness=13", "kernel.pid_max = 65536"],
            "bootscript": ["echo bootscript on $(uname -r)", "touch /run/fastpath-e2e-bs"]}
    conn = vm_sut.connection()
    sut = kernel.sut_label(conn)
    dk = kernel.deploy_profile(conn, prof, run_dir)
    assert (dk.release, dk.pkgtype) == (test_kernels.cloud_release, "DEB")
    st = kernel.status(conn, run_dir)
    # installing a higher-versioned .deb must not change grub's default
    assert st.default_release == original
    assert st.next_entry == f"fastpath-{dk.release}"
    old_boot = _live(vm_sut, "cat /proc/sys/kernel/random/boot_id")

    # No boot completes within 5 s under TCG: without a power-cycle command fastpath stops
    # with an InfraError (not a per-profile KernelError) naming the SUT and the kernel.
    with pytest.raises(kernel.InfraError) as info:
        kernel.reboot(conn, run_dir, powercycle=None, timeout_s=5, what=f"kernel {dk.release}")
    assert not isinstance(info.value, kernel.KernelError)
    assert sut in info.value.message and dk.release in info.value.message
    assert "power-cycle" in info.value.message
    new_boot = _wait_boot_change(vm_sut, old_boot)  # the (real) reboot ends on its own
    assert BOOT_ID.match(new_boot) and new_boot != old_boot
    assert _live(vm_sut, "uname -r") == test_kernels.cloud_release
    cmdline = _live(vm_sut, "cat /proc/cmdline")
    assert kernel.cmdline_missing(dk.cmdline, cmdline) == []
    assert "fastpath_e2e=deb" in cmdline.split() and "mitigations=off" in cmdline.split()

    after = kernel.post_boot(conn, prof, run_dir)
    assert [(c["key"], c["got"], c["ok"]) for c in after["sysctl"]] == [
        ("vm.swappiness", "13", True), ("kernel.pid_max", "65536", True)]
    assert _live(vm_sut, "cat /proc/sys/vm/swappiness") == "13"
    assert _live(vm_sut, "ls /etc/sysctl.d/").find("99-fastpath") == -1  # persistence gone
    assert after["bootscript"]["output"].startswith(f"bootscript on {dk.release}")
    assert _live(vm_sut, "test -f /run/fastpath-e2e-bs && echo ok") == "ok"

    # the one-shot entry was used up: the SUT's default is still the original kernel
    st = kernel.status(conn, run_dir)
    assert st.default_release == original and not st.next_entry

    # a sysctl that does not take and a failing bootscript are errors of their own
    bad = {**prof, "sysctl": ["vm.swappiness=77"], "bootscript": ["true", "exit 7"]}
    with pytest.raises(kernel.SysctlMismatch) as sm:
        kernel.post_boot(conn, bad, run_dir)
    assert sm.value.code == ErrorCode.SYSCTL_MISMATCH and "vm.swappiness" in sm.value.message
    with pytest.raises(kernel.BootscriptFailed) as bf:
        kernel.post_boot(conn, {**bad, "sysctl": []}, run_dir)
    assert bf.value.code == ErrorCode.BOOTSCRIPT_FAILED and "7" in bf.value.message


def test_raw_kernel_with_modules(vm_sut, test_kernels, run_dir, original):
    prof = {"name": "amd64-raw", "pkgtype": "RAW", "kernel": test_kernels.raw_image,
            "modules": test_kernels.raw_modules, "cmdline": ["fastpath_e2e=raw"],
            "sysctl": ["vm.swappiness=31"], "bootscript": []}
    conn = vm_sut.connection()
    dk = kernel.deploy_profile(conn, prof, run_dir)
    assert (dk.release, dk.pkgtype) == (test_kernels.raw_release, "RAW")
    boot = kernel.reboot_and_verify(conn, dk, prof, run_dir,
                                    powercycle=vm_sut.powercycle_command())
    assert BOOT_ID.match(boot.boot_id) and boot.boot_id != boot.boot_id_before
    assert not boot.powercycled and not boot.rearmed
    assert boot.release == test_kernels.raw_release == _live(vm_sut, "uname -r")
    assert "fastpath_e2e=raw" in _live(vm_sut, "cat /proc/cmdline").split()
    kernel.post_boot(conn, prof, run_dir)
    assert _live(vm_sut, "cat /proc/sys/vm/swappiness") == "31"
    # the RAW kernel's modules (from the tarball, depmod'ed on the SUT) load
    assert _live(vm_sut, f"ls /lib/modules/{dk.release}/modules.dep")
    assert _live(vm_sut, "sudo modprobe dummy && lsmod | grep -c ^dummy") == "1"
    # a cmdline option that is not there is a mismatch, never a silent success
    assert kernel.cmdline_missing(["fastpath_e2e=raw", "nosuchopt=1"],
                                  _live(vm_sut, "cat /proc/cmdline")) == ["nosuchopt=1"]
    # a next session needs the one-shot boot armed again (reboot_and_verify re-arms)
    st = kernel.status(conn, run_dir)
    assert not st.next_entry and st.default_release == original


def test_restore_leaves_the_original_kernel_as_default(vm_sut, test_kernels, run_dir,
                                                       original):
    conn = vm_sut.connection()
    assert _live(vm_sut, "uname -r") == test_kernels.raw_release
    st = kernel.restore(conn, run_dir, powercycle=vm_sut.powercycle_command())
    assert st.running == original == _live(vm_sut, "uname -r")
    assert st.default_release == original
    assert st.test_kernels == [] and not st.next_entry
    assert not any(e.startswith("fastpath-") for e in st.entries)
    listing = _live(vm_sut, "ls /boot /lib/modules")
    assert test_kernels.raw_release not in listing
    assert test_kernels.cloud_release not in listing
    assert _live(vm_sut, "dpkg-query -W -f='${Status}' "
                         f"linux-image-{test_kernels.cloud_release} 2>&1 || true").find(
        "ok installed") == -1
    assert _live(vm_sut, "ls /etc/grub.d/ /etc/default/grub.d/ 2>/dev/null").find(
        "fastpath") == -1
