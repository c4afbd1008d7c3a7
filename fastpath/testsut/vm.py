"""QEMU VM SUT: a Debian 12 guest booting from its own GRUB, reachable over SSH on 127.0.0.1.

One VM instance lives in a state directory holding a qcow2 overlay on the cached base image
(:mod:`fastpath.testsut.vm_image`), the serial console log, and the pids of a small
*supervisor* and of the current QEMU.  QEMU runs with ``-no-reboot``: when the guest reboots
(or powers off) QEMU exits and the supervisor starts a fresh QEMU on the same overlay — a
cold power-cycle, which keeps every boot near the cold-boot time under TCG (a warm reset
made the next boot 2-6x slower).  :func:`powercycle` kills the current QEMU so the
supervisor restarts it: that is the ``sut.powercycle`` command for a kernel that hangs.

Networking is QEMU user-mode with one ``hostfwd=tcp:127.0.0.1:PORT-:22``.  The accelerator
is KVM only when a probe proves it works (nested KVM here fails with ``failed to set MSR
0x10a`` or hangs), else ``-accel tcg -cpu max``; ``FASTPATH_VM_ACCEL=kvm|tcg`` overrides.

CLI (used by the demo and by tests)::

    python -m fastpath.testsut.vm build [--preload TAG ...]
    python -m fastpath.testsut.vm start [--dir DIR] [--port N] [--preload TAG ...] [--no-wait]
    python -m fastpath.testsut.vm ssh-info [--dir DIR]   # JSON: connection + powercycle
    python -m fastpath.testsut.vm powercycle [--dir DIR]
    python -m fastpath.testsut.vm stop [--dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fastpath.errors import InfraError
from fastpath.execute.sshready import ssh_banner
from fastpath.testsut import vm_image

DEFAULT_MEMORY_MB = 2048
DEFAULT_SMP = 2
BOOT_TIMEOUT_S = 900.0


def default_dir() -> Path:
    return vm_image.vm_cache_dir() / "instances" / "default"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------
# accelerator detection

_ACCEL: str | None = None


def _accel_args(accel_name: str) -> list[str]:
    if accel_name == "kvm":
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg", "-cpu", "max"]


def _post_seconds(accel_name: str, limit: float = 10.0) -> float | None:
    """Seconds SeaBIOS takes to finish its power-on self test (no disks: it ends with
    "No bootable device") under ``accel_name``; None when it does not get there in time."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "bios.log"
        cmd = ["qemu-system-x86_64", *_accel_args(accel_name), "-m", "64", "-nodefaults",
               "-display", "none", "-no-reboot", "-chardev", f"file,id=dbg,path={log}",
               "-device", "isa-debugcon,iobase=0x402,chardev=dbg"]
        start = time.monotonic()
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            return None
        took = None
        while time.monotonic() - start < limit:
            if log.is_file() and b"No bootable device" in log.read_bytes():
                took = time.monotonic() - start
                break
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        return took


def _kvm_works() -> bool:
    """KVM only when it really runs guests at hardware speed.

    /dev/kvm can exist and start a guest yet be useless: nested KVM here either fails at
    once (``failed to set MSR 0x10a``) or runs every exit so slowly that SeaBIOS needs
    1.3 s for what TCG does in 0.06 s, and a Linux guest then hangs after its initrd
    is loaded.  Working KVM finishes the BIOS self test no slower than TCG."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    kvm = _post_seconds("kvm")
    return kvm is not None and kvm_fast_enough(kvm, _post_seconds("tcg"))


def kvm_fast_enough(kvm_seconds: float, tcg_seconds: float | None) -> bool:
    """The rule: KVM's BIOS self test is no slower than TCG's (with some slack for noise)."""
    return tcg_seconds is None or kvm_seconds <= 1.5 * tcg_seconds + 0.1


def accel() -> str:
    """``kvm`` when KVM really works here, else ``tcg`` (cached per process;
    ``FASTPATH_VM_ACCEL=kvm|tcg`` overrides the detection)."""
    global _ACCEL
    forced = os.environ.get("FASTPATH_VM_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    if _ACCEL is None:
        _ACCEL = "kvm" if _kvm_works() else "tcg"
    return _ACCEL


def qemu_command(overlay: Path, port: int, serial_log: Path, *, memory_mb: int, smp: int,
                 accel_name: str) -> list[str]:
    return [
        "qemu-system-x86_64", "-name", "fastpath-sut", *_accel_args(accel_name), "-smp", str(smp),
        "-m", str(memory_mb), "-nodefaults", "-display", "none", "-vga", "none",
        "-no-reboot", "-rtc", "base=utc",
        "-drive", f"file={overlay},if=virtio,format=qcow2,cache=writeback",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", "virtio-net-pci,netdev=n0",
        "-object", "rng-random,filename=/dev/urandom,id=rng0",
        "-device", "virtio-rng-pci,rng=rng0",
        "-chardev", f"file,id=ser0,path={serial_log},append=on", "-serial", "chardev:ser0",
    ]


# ---------------------------------------------------------------------------------------
# supervisor (runs as its own process: python -m fastpath.testsut.vm supervise DIR)


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    try:  # a zombie (exited child nobody reaped yet) is gone too
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return None
    except (OSError, IndexError):
        pass
    return pid


def supervise(state: Path) -> int:
    """Run QEMU, and start it again each time it exits, until ``stop`` is requested."""
    cfg = json.loads((state / "vm.json").read_text())
    cmd = cfg["qemu"]
    stopping = False
    current: subprocess.Popen | None = None

    def on_term(signum, frame):  # noqa: ARG001
        nonlocal stopping
        stopping = True
        if current is not None and current.poll() is None:
            current.terminate()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    boots = state / "boots.log"
    n = 0
    quick_failures = 0
    while not stopping and not (state / "stop").exists():
        n += 1
        with open(state / "qemu.log", "ab") as qlog:
            current = subprocess.Popen(cmd, stdout=qlog, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        (state / "qemu.pid").write_text(f"{current.pid}\n")
        with open(boots, "a") as f:
            f.write(json.dumps({"start": n, "time": time.time(), "pid": current.pid}) + "\n")
        began = time.monotonic()
        rc = current.wait()
        with open(boots, "a") as f:
            f.write(json.dumps({"exit": n, "time": time.time(), "rc": rc}) + "\n")
        # QEMU that cannot even start (bad arguments, missing disk) would loop forever.
        quick_failures = quick_failures + 1 if time.monotonic() - began < 3 and rc > 0 else 0
        if quick_failures >= 5:
            print(f"QEMU failed {quick_failures} times in a row (rc {rc}); giving up", flush=True)
            break
        time.sleep(0.2)
    for name in ("qemu.pid", "supervisor.pid"):
        with contextlib.suppress(FileNotFoundError):
            (state / name).unlink()
    return 0


# ---------------------------------------------------------------------------------------
# the VM instance


@dataclass
class VmSut:
    """A running (or stopped) VM instance in ``state``."""

    state: Path

    @property
    def info(self) -> dict:
        return json.loads((self.state / "vm.json").read_text())

    @property
    def port(self) -> int:
        return int(self.info["port"])

    def connection(self) -> dict:
        i = self.info
        return {"method": "SSH", "params": {"host": "127.0.0.1", "user": i["user"],
                                            "port": int(i["port"]), "keyfile": i["keyfile"]}}

    def powercycle_command(self) -> str:
        return (f"{shlex.quote(sys.executable)} -m fastpath.testsut.vm powercycle "
                f"--dir {shlex.quote(str(self.state))}")

    def ssh_info(self) -> dict:
        i = self.info
        return {"connection": self.connection(), "powercycle": self.powercycle_command(),
                "guest_kernel": i["guest_kernel"], "accel": i["accel"],
                "serial_log": str(self.state / "serial.log")}

    def supervisor_pid(self) -> int | None:
        return _read_pid(self.state / "supervisor.pid")

    def qemu_pid(self) -> int | None:
        return _read_pid(self.state / "qemu.pid")

    def running(self) -> bool:
        return self.supervisor_pid() is not None

    def boots(self) -> int:
        """How many QEMU processes the supervisor has started (power-cycles + 1)."""
        try:
            lines = (self.state / "boots.log").read_text().splitlines()
        except OSError:
            return 0
        return sum(1 for line in lines if '"start"' in line)

    def powercycle(self, timeout: float = 60) -> None:
        """Cut the power: stop the current QEMU; the supervisor starts a fresh one."""
        if not self.running():
            raise InfraError(f"VM in {self.state} is not running; cannot power-cycle it")
        before = self.boots()
        pid = self.qemu_pid()
        if pid is not None:
            # SIGTERM lets QEMU flush its qcow2 metadata (a real power cut would lose the
            # guest's page cache, which it does here too); SIGKILL if it does not exit.
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _read_pid(self.state / "qemu.pid") == pid:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self.boots() <= before:
            if time.monotonic() > deadline:
                raise InfraError(f"VM supervisor in {self.state} did not restart QEMU")
            time.sleep(0.1)

    def stop(self, timeout: float = 30) -> None:
        (self.state / "stop").touch()
        pid = self.supervisor_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _read_pid(self.state / "supervisor.pid") is not None:
                if time.monotonic() > deadline:
                    qpid = self.qemu_pid()
                    for p in (qpid, pid):
                        if p is not None:
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(p, signal.SIGKILL)
                    break
                time.sleep(0.1)
        with contextlib.suppress(FileNotFoundError):
            (self.state / "supervisor.pid").unlink()

    def wait_for_ssh(self, timeout: float = BOOT_TIMEOUT_S) -> float:
        """Wait until a real SSH login works; returns the seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        i = self.info
        while time.monotonic() < deadline:
            if not self.running():
                raise InfraError(f"VM in {self.state} stopped while waiting for SSH",
                                 where=str(self.state / "qemu.log"))
            if ssh_banner("127.0.0.1", self.port, read_timeout=3.0):
                r = subprocess.run(
                    ["ssh", *ssh_options(i["keyfile"]), "-p", str(self.port),
                     f"{i['user']}@127.0.0.1", "true"],
                    capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                )
                if r.returncode == 0:
                    return time.monotonic() - started
            time.sleep(1.0)
        raise InfraError(f"VM SUT on port {self.port} did not answer SSH within {timeout:.0f}s",
                         where=str(self.state / "serial.log"))

    def ssh(self, command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        i = self.info
        return subprocess.run(
            ["ssh", *ssh_options(i["keyfile"]), "-p", str(self.port), f"{i['user']}@127.0.0.1",
             command], capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )


def ssh_options(keyfile: str) -> list[str]:
    return ["-i", keyfile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20"]




def start(image: vm_image.VmImage, state: Path | None = None, *, port: int | None = None,
          memory_mb: int = DEFAULT_MEMORY_MB, smp: int = DEFAULT_SMP, wait: bool = True,
          boot_timeout: float = BOOT_TIMEOUT_S) -> VmSut:
    """Boot a fresh instance of ``image`` (new overlay) under the supervisor."""
    state = Path(state or default_dir())
    existing = VmSut(state)
    if (state / "vm.json").is_file() and existing.running():
        raise InfraError(f"a VM is already running in {state}",
                         hint=f"stop it first: python -m fastpath.testsut.vm stop --dir {state}")
    state.mkdir(parents=True, exist_ok=True)
    for name in ("overlay.qcow2", "stop", "boots.log", "serial.log", "qemu.log", "qemu.pid"):
        with contextlib.suppress(FileNotFoundError):
            (state / name).unlink()
    overlay = state / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", image.path, "-F", "qcow2",
                    str(overlay)], check=True, capture_output=True)
    port = port or free_port()
    accel_name = accel()
    cfg = {
        "port": port, "user": image.user, "keyfile": image.keyfile, "image": image.path,
        "image_key": image.key, "guest_kernel": image.guest_kernel, "accel": accel_name,
        "qemu": qemu_command(overlay, port, state / "serial.log", memory_mb=memory_mb,
                             smp=smp, accel_name=accel_name),
    }
    (state / "vm.json").write_text(json.dumps(cfg, indent=2))
    with open(state / "supervisor.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fastpath.testsut.vm", "supervise", str(state)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (state / "supervisor.pid").write_text(f"{proc.pid}\n")
    vm = VmSut(state)
    if wait:
        try:
            vm.wait_for_ssh(boot_timeout)
        except BaseException:
            vm.stop()
            raise
    return vm


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fastpath.testsut.vm", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or find cached) the VM image; print it as JSON")
    b.add_argument("--preload", action="append", default=[], metavar="TAG")
    b.add_argument("--force", action="store_true")
    s = sub.add_parser("start", help="boot a VM instance; print its ssh-info JSON")
    s.add_argument("--dir", type=Path, default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--preload", action="append", default=[], metavar="TAG")
    s.add_argument("--memory", type=int, default=DEFAULT_MEMORY_MB)
    s.add_argument("--smp", type=int, default=DEFAULT_SMP)
    s.add_argument("--no-wait", action="store_true")
    for name in ("stop", "powercycle", "ssh-info"):
        p = sub.add_parser(name)
        p.add_argument("--dir", type=Path, default=None)
    sv = sub.add_parser("supervise", help=argparse.SUPPRESS)
    sv.add_argument("state", type=Path)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "supervise":
            return supervise(args.state)
        if args.cmd == "build":
            img = vm_image.build_image(args.preload, force=args.force,
                                       log=lambda m: print(m, file=sys.stderr))
            print(img.to_json())
            return 0
        if args.cmd == "start":
            img = vm_image.build_image(args.preload, log=lambda m: print(m, file=sys.stderr))
            vm = start(img, args.dir, port=args.port, memory_mb=args.memory, smp=args.smp,
                       wait=not args.no_wait)
            print(json.dumps(vm.ssh_info(), indent=2))
            return 0
        vm = VmSut(Path(args.dir or default_dir()))
        if not (vm.state / "vm.json").is_file():
            raise InfraError(f"no VM instance in {vm.state}")
        if args.cmd == "stop":
            vm.stop()
        elif args.cmd == "powercycle":
            vm.powercycle()
        elif args.cmd == "ssh-info":
            print(json.dumps(vm.ssh_info(), indent=2))
        return 0
    except InfraError as exc:
        print(f"fastpath.testsut.vm: {exc.render()}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
