"""Kernel deployment on one SUT node: deploy a swprofile's kernel, reboot into it, verify, restore.

Use-case functions (the plan executor calls them in this order per swprofile)::

    dk = deploy_profile(node_conn, swprofile, run_dir)           # once per swprofile
    for each session:
        boot = reboot_and_verify(node_conn, dk, swprofile, run_dir,
                                 powercycle=plan["sut"]["powercycle"], timeout_s=900)
        post_boot(node_conn, swprofile, run_dir)                 # sysctl revert+verify, bootscript
        ... fingerprint, benchmarks ...
    restore(node_conn, run_dir, powercycle=...)                   # after the last swprofile

``node_conn`` is a plan connection dict ``{"method": "SSH", "params": {"host", "user",
"port", "keyfile"}}``; ``swprofile`` a normalised plan swprofile (``name``, ``pkgtype``,
``kernel``, ``modules``, ``cmdline``, ``sysctl``, ``bootscript``); ``run_dir`` the run
directory (ansible-runner private data dir; ``known_hosts`` and ``commands.sh`` live there,
and every boot is appended to ``<run_dir>/boots.jsonl``).

SUT work runs through the playbooks ``deploy_kernel.yml``, ``post_boot.yml`` and
``restore.yml`` (roles ``fastpath_bootloader``, ``fastpath_kernel``, ``fastpath_sysctl``,
``fastpath_bootscript``) via :func:`fastpath.execute.run_playbook`.  The reboot itself is
driven from Python for the lowest latency and for power-cycling: record boot_id, fire the
reboot asynchronously, close the SSH ControlMaster, poll the port for the SSH banner (never
full logins: they jam a slow guest's sshd), then ONE real login that reads boot_id,
``uname -r`` and ``/proc/cmdline``.  A boot is complete when boot_id is a valid UUID
different from before.

The test kernel is booted ONCE (``grub-reboot``); the SUT's known-good default stays grub's
saved entry, so a kernel that does not come up falls back on the next reset.  When the SUT
does not come back within ``timeout_s`` the ``powercycle`` shell command (plan
``sut.powercycle``) is run on the controller and fastpath waits for the default kernel.

Errors: every per-swprofile failure is a :class:`KernelError` carrying ``code`` (a
:class:`fastpath.records.ErrorCode`): :class:`KernelInstallFailed` (KERNEL_INSTALL_FAILED),
:class:`KernelBootFailed` (BOOT_FAILED: the profile kernel did not boot, the SUT is back
on its default), :class:`KernelMismatch` (KERNEL_MISMATCH), :class:`CmdlineMismatch`
(CMDLINE_MISMATCH), :class:`SysctlMismatch` (SYSCTL_MISMATCH), :class:`BootscriptFailed`
(BOOTSCRIPT_FAILED).  The executor records an ERROR for that swprofile and goes on.  A
plain :class:`fastpath.errors.InfraError` (SUT unreachable, no power-cycle command, the
SUT not back even after a power-cycle) means the plan cannot go on.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import re
import shutil
import subprocess
import tarfile
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastpath import paths
from fastpath.errors import InfraError, UserError
from fastpath.execute import PlaybookOutcome, run_playbook, sshready
from fastpath.execute import ssh as fssh
from fastpath.records import ErrorCode
from fastpath.render import render_inventory

BOOT_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RELEASE_RE = re.compile(r"^[A-Za-z0-9._+~-]+$")
POWERCYCLE_CMD_TIMEOUT_S = 300
RECOVERY_TIMEOUT_S = 900  # wait for the default kernel after a power-cycle


# ---------------------------------------------------------------------------------------
# errors


class KernelError(InfraError):
    """A failure that belongs to one swprofile (record an ERROR, go on with the next)."""

    code: ErrorCode = ErrorCode.KERNEL_INSTALL_FAILED

    def __init__(self, message: str, *, sut: str = "", release: str = "",
                 where: str | None = None, hint: str | None = None,
                 boot: BootResult | None = None, details: Any = None):
        super().__init__(message, where=where, hint=hint)
        self.sut = sut
        self.release = release
        self.boot = boot
        self.details = details

    @property
    def reason(self) -> str:
        return self.message


class KernelInstallFailed(KernelError):
    code = ErrorCode.KERNEL_INSTALL_FAILED


class KernelBootFailed(KernelError):
    """The profile's kernel did not boot; the SUT is back on its known-good default."""

    code = ErrorCode.BOOT_FAILED


class KernelMismatch(KernelError):
    code = ErrorCode.KERNEL_MISMATCH


class CmdlineMismatch(KernelError):
    code = ErrorCode.CMDLINE_MISMATCH


class SysctlMismatch(KernelError):
    code = ErrorCode.SYSCTL_MISMATCH


class BootscriptFailed(KernelError):
    code = ErrorCode.BOOTSCRIPT_FAILED


# ---------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class DeployedKernel:
    """A kernel installed on the SUT and armed for one boot."""

    release: str  # uname -r it will boot
    pkgtype: str  # RAW | DEB
    profile: str | None
    kernel: str  # controller path of the image / .deb actually installed
    modules: str | None
    cmdline: tuple[str, ...]
    sysctl: tuple[str, ...]
    original: str  # the SUT's known-good default kernel (uname -r)
    deploy_seconds: float = 0.0


@dataclass(frozen=True)
class BootResult:
    boot_id_before: str
    boot_id: str  # = session_uuid of this boot
    release: str  # uname -r after the boot
    cmdline: str  # /proc/cmdline after the boot
    reboot_at: float  # epoch seconds when the reboot was fired
    ready_at: float  # epoch seconds when fastpath saw the SUT ready (login worked)
    powercycled: bool = False
    rearmed: bool = False
    banner_at: float = 0.0  # epoch seconds of the new sshd's banner that led to the login

    @property
    def seconds(self) -> float:
        return self.ready_at - self.reboot_at


@dataclass
class SutKernelStatus:
    running: str
    original: str
    test_kernels: list[str] = field(default_factory=list)
    saved_entry: str | None = None
    next_entry: str | None = None
    default_release: str | None = None  # what grub boots when nothing is pending
    entries: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# helpers


def _params(node_conn: dict) -> dict:
    if str(node_conn.get("method", "SSH")).upper() != "SSH":
        raise UserError(f"connection method {node_conn.get('method')} is not supported")
    p = dict(node_conn.get("params") or {})
    if not p.get("host"):
        raise UserError("connection.params.host is required")
    return p


def sut_label(node_conn: dict) -> str:
    p = _params(node_conn)
    user = f"{p['user']}@" if p.get("user") else ""
    port = f":{p['port']}" if p.get("port") else ""
    return f"{user}{p['host']}{port}"


def _target(node_conn: dict, run_dir: Path) -> fssh.SshTarget:
    p = _params(node_conn)
    return fssh.SshTarget(
        host=str(p["host"]), port=int(p["port"]) if p.get("port") else None,
        user=p.get("user") or None, keyfile=p.get("keyfile") or None,
        extra_args=("-o", f"UserKnownHostsFile={Path(run_dir).resolve() / 'known_hosts'}",
                    "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR"),
    )


def _inventory(node_conn: dict, run_dir: Path) -> dict:
    return render_inventory([{"name": None, "connection": node_conn}],
                            known_hosts=Path(run_dir).resolve() / "known_hosts")


def _playbook(name: str, node_conn: dict, run_dir: Path, extravars: dict, *, ident: str,
              tags: list[str] | None = None, timeout: int | None = None) -> PlaybookOutcome:
    return run_playbook(name, inventory=_inventory(node_conn, run_dir), extravars=extravars,
                        run_dir=Path(run_dir), ident=ident, tags=tags, timeout=timeout)


def _facts(outcome: PlaybookOutcome) -> dict:
    for facts in outcome.facts.values():
        return facts
    return {}


def _ensure_reachable(outcome: PlaybookOutcome, node_conn: dict, what: str) -> None:
    if outcome.unreachable:
        msg = "; ".join(outcome.unreachable.values())
        raise InfraError(f"SUT {sut_label(node_conn)} is unreachable during {what}: {msg}",
                         where=str(outcome.artifact_dir),
                         hint=f"re-run by hand with: {outcome.command}")


def _log_boot(run_dir: Path, record: dict) -> None:
    with (Path(run_dir) / "boots.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def _local_file(src: str, run_dir: Path) -> Path:
    """A kernel/modules source as a controller file (URLs are downloaded once per run)."""
    parsed = urllib.parse.urlparse(str(src))
    if parsed.scheme in ("", "file"):
        path = Path(parsed.path if parsed.scheme == "file" else src)
        if not path.is_file():
            raise UserError(f"kernel file {path} does not exist",
                            hint="swprofile kernel/modules must name an existing file or a URL")
        return path.resolve()
    if parsed.scheme not in ("http", "https"):
        raise UserError(f"unsupported URL scheme in {src}", hint="use a path, http(s) or file URL")
    name = Path(parsed.path).name or "kernel"
    digest = hashlib.sha256(str(src).encode()).hexdigest()[:12]
    dest = Path(run_dir) / "kernels" / digest / name
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")
        try:
            with urllib.request.urlopen(str(src), timeout=60) as r, tmp.open("wb") as f:
                shutil.copyfileobj(r, f, 1 << 20)
        except OSError as exc:
            raise InfraError(f"cannot download {src}: {exc}") from exc
        tmp.replace(dest)
    return dest


# ---------------------------------------------------------------------------------------
# kernel release detection (controller side)


def _release_from_deb(deb: Path) -> str:
    try:
        listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise KernelInstallFailed(f"{deb} is not a readable Debian package: {exc}") from exc
    rels = re.findall(r"\s\./boot/vmlinu[xz]-(\S+)$", listing, re.M)
    if not rels:
        raise KernelInstallFailed(f"{deb} has no /boot/vmlinuz-<release>: not a kernel package")
    return rels[0]


def _release_from_modules(tarball: Path) -> str | None:
    pat = re.compile(r"^(?:\./)?(?:usr/)?(?:lib/)?(?:modules/)?([^/]+)/(?:kernel|modules\.)")
    try:
        with tarfile.open(tarball) as tf:
            for n, member in enumerate(tf):
                m = pat.match(member.name)
                if m and RELEASE_RE.match(m.group(1)) and m.group(1) not in ("lib", "usr"):
                    return m.group(1)
                if n > 5000:
                    break
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError) as exc:
        raise KernelInstallFailed(f"cannot read modules tarball {tarball}: {exc}") from exc
    return None


def _release_from_image(image: Path) -> str | None:
    data = image.read_bytes()
    # x86 bzImage: setup header "HdrS" at 0x202, kernel_version pointer at 0x20E.
    if len(data) > 0x210 and data[0x202:0x206] == b"HdrS":
        off = int.from_bytes(data[0x20E:0x210], "little") + 0x200
        if 0x200 < off < min(len(data), 0x10000):
            text = data[off:off + 256].split(b"\0", 1)[0].decode("ascii", "replace")
            rel = text.split(" ", 1)[0]
            if RELEASE_RE.match(rel):
                return rel
    for opener in (gzip.decompress, lzma.decompress):
        try:
            data = opener(data)
            break
        except (OSError, lzma.LZMAError, EOFError):
            continue
    m = re.search(rb"Linux version (\d[A-Za-z0-9._+~-]*) \(", data)
    return m.group(1).decode() if m else None


def kernel_release(pkgtype: str, kernel: Path, modules: Path | None = None) -> str:
    """The ``uname -r`` a kernel package / image (+ modules tarball) will report."""
    if pkgtype == "DEB":
        return _release_from_deb(kernel)
    rel = _release_from_modules(modules) if modules else None
    rel = rel or _release_from_image(kernel)
    if not rel:
        raise KernelInstallFailed(
            f"cannot tell the kernel release of {kernel}",
            hint="give a modules tarball (lib/modules/<release>/...) or an image with a "
                 "version string")
    return rel


# ---------------------------------------------------------------------------------------
# deploy


def _deploy_vars(pkgtype: str, kernel: Path, modules: Path | None, release: str,
                 swprofile: dict) -> dict:
    return {
        "fastpath_kernel_pkgtype": pkgtype,
        "fastpath_kernel_src": str(kernel),
        "fastpath_kernel_modules_src": str(modules) if modules else "",
        "fastpath_kernel_release": release,
        "fastpath_bootloader_cmdline": [str(c) for c in swprofile.get("cmdline") or []],
        "fastpath_sysctl_settings": [str(s) for s in swprofile.get("sysctl") or []],
    }


def deploy_profile(node_conn: dict, swprofile: dict, run_dir: Path) -> DeployedKernel:
    """Install the swprofile's kernel next to the default one and arm ONE boot into it.

    Sets the test entry's cmdline first (so the installation's single update-grub writes
    it), installs the kernel, pins the known-good default as grub's saved entry,
    ``grub-reboot``s the test entry and persists the sysctls.  Does not reboot.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    name = swprofile.get("name")
    sut = sut_label(node_conn)
    kernel = _local_file(swprofile["kernel"], run_dir)
    modules = _local_file(swprofile["modules"], run_dir) if swprofile.get("modules") else None
    pkgtype = (swprofile.get("pkgtype")
               or ("DEB" if str(swprofile["kernel"]).endswith(".deb") else "RAW")).upper()
    if pkgtype == "DEB" and modules:
        raise UserError(f"swprofile {name}: modules are only allowed with pkgtype RAW")
    try:
        release = kernel_release(pkgtype, kernel, modules)
    except KernelInstallFailed as exc:
        exc.sut = sut
        raise
    started = time.monotonic()
    outcome = _playbook("deploy_kernel.yml", node_conn, run_dir,
                        _deploy_vars(pkgtype, kernel, modules, release, swprofile),
                        ident=f"deploy-{name or release}")
    _ensure_reachable(outcome, node_conn, f"the deployment of kernel {release}")
    if not outcome.ok:
        raise KernelInstallFailed(
            f"installing kernel {release} of swprofile {name} on SUT {sut} failed: "
            f"{outcome.reason()}", sut=sut, release=release, where=str(outcome.artifact_dir),
            hint=f"re-run by hand with: {outcome.command}")
    facts = _facts(outcome)
    boot = facts.get("fastpath_bootloader_result") or {}
    return DeployedKernel(
        release=release, pkgtype=pkgtype, profile=name, kernel=str(kernel),
        modules=str(modules) if modules else None,
        cmdline=tuple(str(c) for c in swprofile.get("cmdline") or []),
        sysctl=tuple(str(s) for s in swprofile.get("sysctl") or []),
        original=str(boot.get("original") or ""),
        deploy_seconds=time.monotonic() - started,
    )


# ---------------------------------------------------------------------------------------
# reboot


def _ssh(target: fssh.SshTarget, command: str, timeout: float = 60
         ) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([*fssh.ssh_base(target, connect_timeout=20), command],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess([], 255, "", f"ssh timed out after {timeout}s")


# Shell builtins only: every process started on a guest that is still booting costs
# (three external commands took 2-3 s of the first login under TCG).
_PROBE = ("read -r b </proc/sys/kernel/random/boot_id; read -r r </proc/sys/kernel/osrelease;"
          " read -r c </proc/cmdline; printf '%s\\n' \"$b\" \"$r\" \"$c\"")


def _parse_probe(r: subprocess.CompletedProcess[str]) -> tuple[str, str, str] | None:
    if r.returncode != 0:
        return None
    lines = [ln.strip() for ln in r.stdout.splitlines()]
    if len(lines) < 3 or not BOOT_ID_RE.match(lines[0]):
        return None
    return lines[0], lines[1], lines[2]


def _probe(target: fssh.SshTarget, timeout: float = 60) -> tuple[str, str, str] | None:
    return _parse_probe(_ssh(target, _PROBE, timeout=timeout))


def _wait_new_boot(target: fssh.SshTarget, old_boot_id: str, timeout_s: float
                   ) -> tuple[tuple[str, str, str], float, float] | None:
    """Poll the SSH banner, then log in once (over the connection that got the banner).

    Returns the new boot's probe, the time the login worked and the time of the banner.
    """
    host, port, direct = sshready.address(target)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock = sshready.wait_banner(host, port, deadline)
        if sock is not None:
            banner_at = time.time()
            timeout = min(120.0, max(10.0, deadline - time.monotonic()))
            got = None
            if direct:
                got = _parse_probe(sshready.run_over(sock, target, _PROBE, timeout=timeout))
            sshready.close_quietly(sock)
            if got is None:  # not over that connection: a new one
                fssh.close_master(target)
                got = _probe(target, timeout=timeout)
            if got is not None and got[0] != old_boot_id:
                return got, time.time(), banner_at
            # the old boot's sshd, or sshd not quite ready: drop the master, look again
            fssh.close_master(target)
            time.sleep(1.0)
    return None


def _fire_reboot(target: fssh.SshTarget) -> None:
    cmd = ("sudo -n systemd-run --no-block --on-active=1 /bin/systemctl reboot >/dev/null 2>&1"
           " || sudo -n sh -c 'nohup sh -c \"sleep 1; reboot\" >/dev/null 2>&1 &'")
    r = _ssh(target, cmd, timeout=60)
    if r.returncode not in (0, 255):
        raise InfraError(f"cannot reboot SUT {target.host}: {r.stderr.strip() or r.stdout}")


def _run_powercycle(command: str, sut: str) -> None:
    try:
        r = subprocess.run(command, shell=True, capture_output=True, text=True,
                           timeout=POWERCYCLE_CMD_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"power-cycle command for SUT {sut} did not finish within "
                         f"{POWERCYCLE_CMD_TIMEOUT_S}s: {command}") from exc
    if r.returncode != 0:
        raise InfraError(f"power-cycle command for SUT {sut} failed (rc {r.returncode}): "
                         f"{(r.stderr or r.stdout).strip()[-300:]}", where=command)


def _needs_rearm(target: fssh.SshTarget, expected: DeployedKernel) -> bool:
    check = "sudo -n grub-editenv - list; ls /etc/sysctl.d/99-fastpath.conf 2>/dev/null || true"
    r = _ssh(target, check)
    if r.returncode != 0:
        return True
    armed = f"next_entry=fastpath-{expected.release}" in r.stdout.split()
    persisted = "/etc/sysctl.d/99-fastpath.conf" in r.stdout
    return not armed or (bool(expected.sysctl) and not persisted)


def _rearm(node_conn: dict, expected: DeployedKernel, swprofile: dict, run_dir: Path) -> None:
    """Arm the one-shot boot and the sysctls again (second and later sessions)."""
    kernel = Path(expected.kernel)
    modules = Path(expected.modules) if expected.modules else None
    outcome = _playbook("deploy_kernel.yml", node_conn, run_dir,
                        _deploy_vars(expected.pkgtype, kernel, modules, expected.release,
                                     swprofile),
                        ident=f"rearm-{expected.profile or expected.release}", tags=["rearm"])
    _ensure_reachable(outcome, node_conn, f"re-arming kernel {expected.release}")
    if not outcome.ok:
        raise KernelInstallFailed(
            f"re-arming kernel {expected.release} on SUT {sut_label(node_conn)} failed: "
            f"{outcome.reason()}", sut=sut_label(node_conn), release=expected.release,
            where=str(outcome.artifact_dir), hint=f"re-run by hand with: {outcome.command}")


def reboot(node_conn: dict, run_dir: Path, *, powercycle: str | None = None,
           timeout_s: float = 900, what: str = "",
           recovery_timeout_s: float = RECOVERY_TIMEOUT_S) -> tuple[BootResult, bool]:
    """Reboot the node and wait for a new boot; power-cycle once if it does not come back.

    ``timeout_s`` bounds the wait for the reboot; after a power-cycle the (default) kernel
    gets ``max(timeout_s, recovery_timeout_s)``.  Returns the boot and whether a
    power-cycle was needed.  Raises :class:`InfraError` when the SUT is not back (and
    cannot be power-cycled).
    """
    run_dir = Path(run_dir)
    target = _target(node_conn, run_dir)
    sut = sut_label(node_conn)
    before = _probe(target)
    if before is None:
        raise InfraError(f"cannot read the boot_id of SUT {sut} before rebooting it",
                         hint="check that the SUT is up and reachable over SSH")
    reboot_at = time.time()
    _fire_reboot(target)
    fssh.close_master(target)
    time.sleep(2.0)  # let the old sshd go away before looking for the new one's banner
    got = _wait_new_boot(target, before[0], timeout_s)
    powercycled = False
    if got is None:
        if not powercycle:
            raise InfraError(
                f"SUT {sut} did not come back within {timeout_s:.0f}s after rebooting"
                f"{' into ' + what if what else ''}, and no power-cycle command is configured",
                hint="power-cycle it by hand (it boots its default kernel), then set "
                     "sut.powercycle in the plan so fastpath can do it")
        _log_boot(run_dir, {"event": "powercycle", "sut": sut, "what": what,
                            "time": time.time(), "command": powercycle})
        fssh.close_master(target)
        _run_powercycle(powercycle, sut)
        powercycled = True
        recovery = max(timeout_s, recovery_timeout_s)
        got = _wait_new_boot(target, before[0], recovery)
        if got is None:
            raise InfraError(
                f"SUT {sut} did not come back within {recovery:.0f}s even after a "
                f"power-cycle ({what or 'reboot'})", hint="check the SUT's console")
    (boot_id, release, cmdline), ready_at, banner_at = got
    result = BootResult(boot_id_before=before[0], boot_id=boot_id, release=release,
                        cmdline=cmdline, reboot_at=reboot_at, ready_at=ready_at,
                        powercycled=powercycled, banner_at=banner_at)
    _log_boot(run_dir, {"event": "boot", "sut": sut, "what": what, **asdict(result),
                        "seconds": round(result.seconds, 3)})
    return result, powercycled


def cmdline_missing(requested: list[str] | tuple[str, ...], proc_cmdline: str) -> list[str]:
    """Requested options that are not in /proc/cmdline (exact, whitespace-delimited)."""
    padded = f" {' '.join(proc_cmdline.split())} "
    return [o for o in requested if f" {' '.join(str(o).split())} " not in padded]


def reboot_and_verify(node_conn: dict, expected: DeployedKernel, swprofile: dict,
                      run_dir: Path, *, powercycle: str | None = None,
                      timeout_s: float = 900,
                      recovery_timeout_s: float = RECOVERY_TIMEOUT_S) -> BootResult:
    """Reboot into the deployed kernel (once) and verify kernel release and cmdline.

    Re-arms the one-shot boot and the sysctl persistence first when an earlier session
    used them up.  Raises :class:`KernelBootFailed` when the SUT came back on another
    kernel (e.g. its default after a power-cycle), :class:`KernelMismatch` /
    :class:`CmdlineMismatch` on a wrong kernel / missing cmdline option, and
    :class:`InfraError` when the SUT does not come back (and cannot be power-cycled).
    """
    run_dir = Path(run_dir)
    target = _target(node_conn, run_dir)
    sut = sut_label(node_conn)
    rearmed = False
    if _needs_rearm(target, expected):
        _rearm(node_conn, expected, swprofile, run_dir)
        rearmed = True
    result, powercycled = reboot(node_conn, run_dir, powercycle=powercycle,
                                 timeout_s=timeout_s, what=f"kernel {expected.release}",
                                 recovery_timeout_s=recovery_timeout_s)
    if rearmed:
        result = BootResult(**{**asdict(result), "rearmed": True})
    if result.release != expected.release:
        # Do not leave the profile's sysctls persisted on the default kernel.
        _ssh(target, "sudo -n rm -f /etc/sysctl.d/99-fastpath.conf")
        if powercycled or result.release == expected.original:
            how = ("did not come back and was power-cycled" if powercycled
                   else "came back on another kernel")
            raise KernelBootFailed(
                f"kernel {expected.release} of swprofile {expected.profile} did not boot on "
                f"SUT {sut}: the SUT {how}, now running {result.release}",
                sut=sut, release=expected.release, boot=result,
                hint="check the kernel (and its serial console output)")
        raise KernelMismatch(
            f"SUT {sut} booted kernel {result.release}, expected {expected.release} "
            f"(swprofile {expected.profile})", sut=sut, release=expected.release, boot=result)
    missing = cmdline_missing(expected.cmdline, result.cmdline)
    if missing:
        raise CmdlineMismatch(
            f"kernel {expected.release} on SUT {sut} booted without the cmdline option(s) "
            f"{' '.join(missing)}: /proc/cmdline is '{result.cmdline}'",
            sut=sut, release=expected.release, boot=result, details=missing)
    return result


# ---------------------------------------------------------------------------------------
# after boot


def post_boot(node_conn: dict, swprofile: dict, run_dir: Path) -> dict:
    """Remove the sysctl persistence, verify the live sysctls, run the bootscript.

    Returns ``{"sysctl": [{"key", "want", "got", "ok"}...], "bootscript": {"rc", "output"}}``.
    Raises :class:`SysctlMismatch` / :class:`BootscriptFailed`.
    """
    run_dir = Path(run_dir)
    sut = sut_label(node_conn)
    name = swprofile.get("name")
    extravars = {"fastpath_sysctl_settings": [str(s) for s in swprofile.get("sysctl") or []],
                 "fastpath_bootscript_commands": [str(c) for c in
                                                  swprofile.get("bootscript") or []]}
    outcome = _playbook("post_boot.yml", node_conn, run_dir, extravars,
                        ident=f"post-boot-{name or 'profile'}")
    _ensure_reachable(outcome, node_conn, "the post-boot configuration")
    facts = _facts(outcome)
    sysctl = facts.get("fastpath_sysctl_result") or {}
    script = facts.get("fastpath_bootscript_result") or {}
    if script:
        log = run_dir / "logs" / f"bootscript-{name or 'profile'}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as f:
            f.write(f"# rc {script.get('rc')}\n{script.get('output', '')}\n")
    if not outcome.ok:
        roles = {f.role for f in outcome.failed}
        reason = outcome.reason()
        if "fastpath_sysctl" in roles or sysctl.get("error"):
            raise SysctlMismatch(
                f"swprofile {name} on SUT {sut}: {sysctl.get('error') or reason}", sut=sut,
                where=str(outcome.artifact_dir), details=sysctl.get("checks"))
        if "fastpath_bootscript" in roles:
            raise BootscriptFailed(
                f"bootscript of swprofile {name} on SUT {sut} exited with {script.get('rc')}: "
                f"{str(script.get('output', ''))[-300:]}", sut=sut,
                where=str(outcome.artifact_dir), details=script)
        raise InfraError(f"post-boot step on SUT {sut} failed: {reason}",
                         where=str(outcome.artifact_dir),
                         hint=f"re-run by hand with: {outcome.command}")
    return {"sysctl": sysctl.get("checks", []), "bootscript": script}


# ---------------------------------------------------------------------------------------
# status and restore

_BOOTLOADER_HELPER = "roles/fastpath_bootloader/files/fastpath_bootloader.py"


def status(node_conn: dict, run_dir: Path) -> SutKernelStatus:
    """What the SUT runs, its known-good default and what grub boots next (read-only)."""
    target = _target(node_conn, Path(run_dir))
    helper = (paths.data_root() / _BOOTLOADER_HELPER).read_text()
    r = subprocess.run([*fssh.ssh_base(target, connect_timeout=20),
                        "sudo -n python3 - status"], input=helper, capture_output=True,
                       text=True, timeout=120)
    try:
        data = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise InfraError(f"cannot read the kernel status of SUT {sut_label(node_conn)}: "
                         f"{(r.stderr or r.stdout).strip()[-300:]}") from None
    if "error" in data:
        raise InfraError(f"kernel status of SUT {sut_label(node_conn)}: {data['error']}")
    return SutKernelStatus(
        running=data.get("running", ""), original=data.get("original", ""),
        test_kernels=list(data.get("test_kernels") or []), saved_entry=data.get("saved_entry"),
        next_entry=data.get("next_entry"), default_release=data.get("default_release"),
        entries=list(data.get("entries") or []))


def restore(node_conn: dict, run_dir: Path, *, powercycle: str | None = None,
            timeout_s: float = 900) -> SutKernelStatus:
    """Remove every test kernel fastpath installed; the original default stays grub's default.

    When the SUT runs a test kernel, the default is pinned and the SUT rebooted into it
    first.  Returns the final status (``default_release`` = the original kernel).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    sut = sut_label(node_conn)
    before = status(node_conn, run_dir)
    if before.original and before.running != before.original:
        outcome = _playbook("restore.yml", node_conn, run_dir, {}, ident="restore-pin",
                            tags=["pin"])
        _ensure_reachable(outcome, node_conn, "the restore")
        outcome.raise_for_status(f"pinning the default kernel of SUT {sut}")
        boot, _ = reboot(node_conn, run_dir, powercycle=powercycle, timeout_s=timeout_s,
                         what=f"the default kernel {before.original}")
        if boot.release != before.original:
            raise InfraError(f"SUT {sut} booted {boot.release} instead of its default kernel "
                             f"{before.original} during the restore")
    outcome = _playbook("restore.yml", node_conn, run_dir, {}, ident="restore")
    _ensure_reachable(outcome, node_conn, "the restore")
    outcome.raise_for_status(f"restoring the kernels of SUT {sut}")
    after = status(node_conn, run_dir)
    original = before.original
    if after.test_kernels or (original and after.default_release != original):
        raise InfraError(f"restore of SUT {sut} incomplete: test kernels {after.test_kernels}, "
                         f"grub default {after.default_release}, expected {original}")
    return after
