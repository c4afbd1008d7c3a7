"""Unit tests of fastpath.kernel and the SUT-side helpers of the kernel roles (no SUT)."""

from __future__ import annotations

import gzip
import importlib.util
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from fastpath import kernel, paths
from fastpath.errors import InfraError
from fastpath.execute import sshready
from fastpath.records import ErrorCode


def _load(rel: str, name: str):
    spec = importlib.util.spec_from_file_location(name, paths.data_root() / rel)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bootloader():
    return _load("roles/fastpath_bootloader/files/fastpath_bootloader.py", "fp_bootloader")


@pytest.fixture(scope="module")
def sysctl_helper():
    return _load("roles/fastpath_sysctl/files/fastpath_sysctl.py", "fp_sysctl")


# -- kernel release detection -----------------------------------------------------------


def _bzimage(version: str) -> bytes:
    data = bytearray(0x4000)
    data[0x202:0x206] = b"HdrS"
    off = 0x1000
    data[0x20E:0x210] = (off - 0x200).to_bytes(2, "little")
    text = f"{version} (builder@host) #1 SMP PREEMPT_DYNAMIC Debian".encode() + b"\0"
    data[off:off + len(text)] = text
    return bytes(data)


def test_release_from_x86_bzimage_header(tmp_path):
    img = tmp_path / "vmlinuz"
    img.write_bytes(_bzimage("6.1.0-57-amd64"))
    assert kernel.kernel_release("RAW", img) == "6.1.0-57-amd64"


def test_release_from_compressed_arm64_image(tmp_path):
    img = tmp_path / "Image.gz"
    img.write_bytes(gzip.compress(b"\0" * 4096 + b"Linux version 6.12.0-rc3-fp (u@h) (gcc) #7"
                                  + b"\0" * 100))
    assert kernel.kernel_release("RAW", img) == "6.12.0-rc3-fp"


def test_modules_tarball_names_the_release(tmp_path):
    img = tmp_path / "Image"
    img.write_bytes(b"\0" * 1000)  # no version string at all
    tb = tmp_path / "modules.tar.xz"
    with tarfile.open(tb, "w:xz") as tf:
        for name in ("lib", "lib/modules", "lib/modules/6.9.0-custom+",
                     "lib/modules/6.9.0-custom+/kernel"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tf.addfile(info)
        data = b"ko"
        info = tarfile.TarInfo("lib/modules/6.9.0-custom+/kernel/foo.ko")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    assert kernel.kernel_release("RAW", img, tb) == "6.9.0-custom+"


def test_unknown_release_is_an_install_error(tmp_path):
    img = tmp_path / "Image"
    img.write_bytes(b"not a kernel")
    with pytest.raises(kernel.KernelInstallFailed) as info:
        kernel.kernel_release("RAW", img)
    assert info.value.code == ErrorCode.KERNEL_INSTALL_FAILED
    assert "modules tarball" in (info.value.hint or "")


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is part of Debian")
def test_release_from_deb(tmp_path):
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "boot").mkdir()
    (root / "boot" / "vmlinuz-6.5.0-9-test").write_bytes(b"x")
    (root / "DEBIAN" / "control").write_text(
        "Package: linux-image-6.5.0-9-test\nVersion: 1\nArchitecture: amd64\n"
        "Maintainer: t <t@t>\nDescription: test\n")
    deb = tmp_path / "k.deb"
    subprocess.run(["dpkg-deb", "-b", "--root-owner-group", str(root), str(deb)], check=True,
                   capture_output=True)
    assert kernel.kernel_release("DEB", deb) == "6.5.0-9-test"


# -- cmdline verification and errors ----------------------------------------------------


def test_cmdline_missing_is_exact_per_option():
    proc = "BOOT_IMAGE=/boot/vmlinuz-6.1 root=UUID=x ro console=ttyS0 thp_anon=64K:never;2M:advise"
    assert kernel.cmdline_missing(["thp_anon=64K:never;2M:advise", "ro"], proc) == []
    assert kernel.cmdline_missing(["console=tty", "quiet"], proc) == ["console=tty", "quiet"]
    assert kernel.cmdline_missing(['foo="a b"'], 'x foo="a  b" y') == []


def test_error_codes_are_distinct_and_kernel_errors_are_infra_errors():
    classes = [kernel.KernelInstallFailed, kernel.KernelBootFailed, kernel.KernelMismatch,
               kernel.CmdlineMismatch, kernel.SysctlMismatch, kernel.BootscriptFailed]
    assert [c.code for c in classes] == [
        ErrorCode.KERNEL_INSTALL_FAILED, ErrorCode.BOOT_FAILED, ErrorCode.KERNEL_MISMATCH,
        ErrorCode.CMDLINE_MISMATCH, ErrorCode.SYSCTL_MISMATCH, ErrorCode.BOOTSCRIPT_FAILED]
    err = kernel.KernelBootFailed("k did not boot", sut="u@h:1", release="6.1")
    assert isinstance(err, InfraError) and err.reason == "k did not boot"


def test_reboot_of_unreachable_sut_names_it(tmp_path):
    conn = {"method": "SSH", "params": {"host": "127.0.0.1", "port": 9, "user": "nobody",
                                        "keyfile": None}}
    with pytest.raises(InfraError) as info:
        kernel.reboot(conn, tmp_path, timeout_s=1)
    assert "nobody@127.0.0.1:9" in info.value.message


def test_ssh_banner_detection(tmp_path):
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve():
        c, _ = srv.accept()
        c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
        c.close()

    t = threading.Thread(target=serve)
    t.start()
    assert sshready.ssh_banner("127.0.0.1", port)
    t.join()
    srv.close()
    assert not sshready.ssh_banner("127.0.0.1", port, timeout=0.5)


def test_wait_ssh_banner_opens_fresh_connections_while_old_ones_hang():
    """A first connection that never gets an answer (as in a NAT's SYN back-off) does not
    hide an sshd that a later connection reaches."""
    import socket
    import threading
    import time

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    accepted = []

    def serve():
        first, _ = srv.accept()  # never answered: a hung connection
        accepted.append(first)
        c, _ = srv.accept()
        accepted.append(c)
        c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")

    t = threading.Thread(target=serve)
    t.start()
    start = time.monotonic()
    assert sshready.wait_ssh_banner("127.0.0.1", port, start + 30, interval=0.2)
    t.join()
    assert len(accepted) == 2
    for c in accepted:
        c.close()
    srv.close()
    # nothing listens: False at the deadline, not before, and no exception
    start = time.monotonic()
    assert not sshready.wait_ssh_banner("127.0.0.1", port, start + 0.6, interval=0.2)
    assert time.monotonic() - start >= 0.6
    # a name that does not resolve is "not there yet", not an error
    assert not sshready.wait_ssh_banner("no-such-host.invalid", 22, time.monotonic() + 0.3)


# -- SUT-side helpers -------------------------------------------------------------------

GRUB_CFG = """\
if [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="${saved_entry}"
fi
function savedefault {
  if [ -z "${boot_once}" ]; then
    saved_entry="${chosen}"
    save_env saved_entry
  fi
}
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-U' {
\tlinux\t/boot/vmlinuz-6.1.0-57-cloud-amd64 root=UUID=U ro
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-U' {
\tmenuentry 'Linux 6.1.0-57-cloud' $menuentry_id_option 'gnulinux-6.1.0-57-cloud-amd64-advanced-U' {
\t\tlinux\t/boot/vmlinuz-6.1.0-57-cloud-amd64 root=UUID=U ro
\t}
\tmenuentry 'Linux 6.1.0-50' $menuentry_id_option 'gnulinux-6.1.0-50-amd64-advanced-U' {
\t\tlinux\t/boot/vmlinuz-6.1.0-50-amd64 root=UUID=U ro
\t}
\tmenuentry 'Linux 6.1.0-50 (recovery)' $menuentry_id_option 'gnulinux-6.1.0-50-amd64-recovery-U' {
\t\tlinux\t/boot/vmlinuz-6.1.0-50-amd64 root=UUID=U ro single
\t}
}
menuentry 'fastpath test kernel 6.1.0-57-cloud-amd64' --id 'fastpath-6.1.0-57-cloud-amd64' {
\tlinux /boot/vmlinuz-6.1.0-57-cloud-amd64 root=UUID=U ro 'fastpath.test=deb'
}
"""


def test_grub_menu_parsing_and_pinning(bootloader):
    entries = bootloader.menu_entries(GRUB_CFG)
    assert [e["path"] for e in entries] == [
        "gnulinux-simple-U",
        "gnulinux-advanced-U>gnulinux-6.1.0-57-cloud-amd64-advanced-U",
        "gnulinux-advanced-U>gnulinux-6.1.0-50-amd64-advanced-U",
        "gnulinux-advanced-U>gnulinux-6.1.0-50-amd64-recovery-U",
        "fastpath-6.1.0-57-cloud-amd64",
    ]
    # the pin names the known-good kernel's own entry, never the 'simple' top entry that
    # follows the newest (here: the test) kernel
    pin = bootloader.entry_for_release(entries, "6.1.0-50-amd64")
    assert pin["path"] == "gnulinux-advanced-U>gnulinux-6.1.0-50-amd64-advanced-U"
    env = {"saved_entry": pin["path"]}
    assert bootloader.resolve_default(entries, env, GRUB_CFG) == "6.1.0-50-amd64"
    # without a saved entry grub would boot entry 0: the newest kernel (the test .deb)
    assert bootloader.resolve_default(entries, {}, GRUB_CFG) == "6.1.0-57-cloud-amd64"
    with pytest.raises(bootloader.Fail):
        bootloader.entry_for_release(entries, "5.10.0-1-amd64")


def test_grub_quoting_keeps_options_literal(bootloader):
    assert bootloader.grub_quote("thp_anon=64K:never;2M:advise") == "'thp_anon=64K:never;2M:advise'"
    assert bootloader.grub_quote("a'b") == "'a'\\''b'"


def test_sysctl_helper_parsing(sysctl_helper):
    assert sysctl_helper.parse(["vm.swappiness=10", " kernel.pid_max = 65536 "]) == [
        ("vm.swappiness", "10"), ("kernel.pid_max", "65536")]
    assert sysctl_helper.proc_path("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
    assert sysctl_helper.proc_path("net/ipv4/conf/eth0.100/rp_filter") == \
        "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"
    for bad in (["novalue"], ["../../etc=1"], ["=1"]):
        with pytest.raises(ValueError):
            sysctl_helper.parse(bad)


def test_kernel_helper_script_is_valid_bash():
    script = paths.data_root() / "roles/fastpath_kernel/files/fastpath-kernel.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    r = subprocess.run(["bash", str(script), "bogus"], capture_output=True, text=True)
    assert r.returncode == 1 and '"error"' in r.stdout


def test_vm_qemu_command_uses_cold_restart_and_loopback_only(tmp_path):
    from fastpath.testsut import vm

    cmd = vm.qemu_command(tmp_path / "o.qcow2", 2222, tmp_path / "s.log", memory_mb=2048,
                          smp=2, accel_name="tcg")
    joined = " ".join(cmd)
    assert "-no-reboot" in cmd and "-accel tcg -cpu max" in joined
    assert "hostfwd=tcp:127.0.0.1:2222-:22" in joined


def test_vm_image_recipe_key_changes_with_preloaded_images():
    from fastpath.testsut import vm_image

    a = vm_image.recipe_key("http://m/debian", [])
    b = vm_image.recipe_key("http://m/debian", ["fastpath/sysbench:1.0=sha256:1"])
    c = vm_image.recipe_key("http://other/debian", [])
    assert len({a, b, c}) == 3 and a == vm_image.recipe_key("http://m/debian", [])


def test_debian_mirror_comes_from_the_host_apt():
    from fastpath.testsut import vm_image

    text = ""
    for f in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        if f.is_file():
            text += f.read_text()
    assert vm_image.debian_mirror() in text
