"""Reboot turnaround overhead of fastpath on the VM SUT.

    python bench/bench_reboot.py [--reboots 3] [--dir VM_STATE_DIR]

For each reboot (``fastpath.kernel.reboot``: boot_id, async reboot, SSH-banner polling,
one login over the connection that got the banner) it compares the moment fastpath
reports the SUT ready with the moment the
guest's sshd actually came up, read from the guest's own journal ("Server listening").
The guest clock is mapped onto the controller's by measuring its offset over a warm SSH
connection after each boot.  overhead = ready - sshd_up (goal <= 2 s); the floor of the
whole turnaround is sshd_up - reboot fired, printed alongside (ratio = turnaround/floor).
Uses a running VM instance (--dir) or boots a fresh one from the cached image.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fastpath import kernel
from fastpath.execute import ssh as fssh
from fastpath.testsut import vm, vm_image


def guest_offset(target: fssh.SshTarget) -> float:
    """guest clock - controller clock (seconds), from the best of 5 warm round trips."""
    best = None
    for _ in range(5):
        t0 = time.time()
        r = fssh.run(target, "date +%s.%N", timeout=30)
        t1 = time.time()
        if r.returncode != 0:
            continue
        rtt = t1 - t0
        off = float(r.stdout.strip()) - (t0 + t1) / 2
        if best is None or rtt < best[0]:
            best = (rtt, off)
    if best is None:
        raise SystemExit("cannot read the guest clock")
    return best[1]


def sshd_up(target: fssh.SshTarget) -> float:
    r = fssh.run(target, "sudo -n journalctl -b -o short-unix --no-pager -u ssh.service "
                         "| grep -m1 'Server listening'", timeout=60)
    if r.returncode != 0 or not r.stdout.strip():
        raise SystemExit(f"no sshd start in the guest journal: {r.stderr}")
    return float(r.stdout.split()[0])


def login_seconds(target: fssh.SshTarget) -> float:
    """Duration of one new SSH login running ``true`` (no ControlMaster): the floor of
    any "is it ready" check."""
    args = ["ssh", "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR"]
    if target.port:
        args += ["-p", str(target.port)]
    if target.user:
        args += ["-l", target.user]
    if target.keyfile:
        args += ["-i", target.keyfile, "-o", "IdentitiesOnly=yes"]
    t0 = time.monotonic()
    r = subprocess.run([*args, target.host, "true"], capture_output=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit(f"login failed: {r.stderr!r}")
    return time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reboots", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="state dir of a running VM")
    args = ap.parse_args(argv)
    started_here = None
    if args.dir and vm.VmSut(args.dir).running():
        inst = vm.VmSut(args.dir)
    else:
        image = vm_image.build_image()
        started_here = vm.start(image, Path(tempfile.mkdtemp(prefix="bench-reboot-")))
        inst = started_here
    try:
        conn = inst.connection()
        run_dir = Path(tempfile.mkdtemp(prefix="bench-reboot-run-"))
        target = kernel._target(conn, run_dir)
        rows = []
        for i in range(1, args.reboots + 1):
            boot, _ = kernel.reboot(conn, run_dir, timeout_s=900, what="bench")
            off = guest_offset(target)
            up = sshd_up(target) - off  # on the controller's clock
            overhead = boot.ready_at - up
            floor = up - boot.reboot_at
            login = login_seconds(target)
            rows.append((overhead, boot.seconds, floor, login, boot.banner_at - up))
            print(f"reboot {i}: turnaround {boot.seconds:6.1f}s  sshd up after {floor:6.1f}s  "
                  f"overhead {overhead:5.2f}s = banner seen {boot.banner_at - up:+5.2f}s + "
                  f"first login {boot.ready_at - boot.banner_at:5.2f}s "
                  f"(one new login now {login:4.2f}s)  "
                  f"ratio {boot.seconds / floor:.3f}  (guest clock offset {off:+.2f}s)",
                  flush=True)
        ov = [r[0] for r in rows]
        print(f"overhead (ready - guest sshd up): median {statistics.median(ov):.2f}s, "
              f"min {min(ov):.2f}s, max {max(ov):.2f}s over {len(ov)} reboots; goal <= 2 s")
        det = [r[0] - r[3] for r in rows]
        print(f"of which detection (overhead - one login): median {statistics.median(det):.2f}s")
        print(f"banner seen after sshd up: median {statistics.median(r[4] for r in rows):.2f}s")
        print(f"turnaround / floor: median "
              f"{statistics.median(r[1] / r[2] for r in rows):.3f}")
    finally:
        if started_here is not None:
            started_here.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
