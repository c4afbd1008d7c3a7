"""Loopback SUTs: N sshd instances on 127.0.0.1 plus one dockerd per node.

Each node is a private ``sshd`` (own config, host key and port, key-only auth, listening on
127.0.0.1 only) and a private ``dockerd`` (own socket, data root and exec root, no bridge and
no iptables: benchmark containers use ``--network host``).  The SUT user (default
``fpuser``) is a member of the ``docker`` and ``sudo`` groups with passwordless sudo, as the
guide's §1.2.2 requires; its SSH sessions on node *i* see ``DOCKER_HOST`` pointing at node
*i*'s daemon (sshd ``SetEnv``).  The key pair is generated per SUT.

Needs root (it starts daemons and creates the user once).  ``stop()`` ends only the
processes this object started (and their children), then removes its work directory.

CLI (for the demo)::

    python -m fastpath.testsut.loopback start [--nodes 2] [--state FILE] [--image IMG ...]
    python -m fastpath.testsut.loopback stop  [--state FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_USER = "fpuser"
DEFAULT_STATE = Path("/tmp/fastpath-loopback.json")


class LoopbackError(RuntimeError):
    pass


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    try:
        return subprocess.run(cmd, **kw)
    except subprocess.CalledProcessError as exc:
        raise LoopbackError(f"{' '.join(cmd)} failed: {exc.stderr or exc.stdout}") from exc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """All descendants of ``pid`` (by walking /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for c in parents.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _terminate(pid: int, timeout: float = 20.0, *, tree: bool = True) -> None:
    """SIGTERM ``pid`` (and, when asked, its descendants), SIGKILL after ``timeout``."""
    victims = [pid, *(_children(pid) if tree else [])]
    for p in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in victims):
        for p in victims:  # reap our own children so they do not linger as zombies
            with contextlib.suppress(ChildProcessError):
                os.waitpid(p, os.WNOHANG)
        time.sleep(0.1)
    for p in victims:
        if _alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(p, os.WNOHANG)


def _unmount_under(root: str) -> None:
    """Lazily unmount what a stopped dockerd left mounted below ``root`` (netns, overlays)."""
    if not root:
        return
    prefix = root.rstrip("/") + "/"
    try:
        with open("/proc/self/mounts", encoding="utf-8") as fh:
            points = [line.split()[1] for line in fh]
    except OSError:
        return
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def ensure_user(user: str = DEFAULT_USER, *, sudo: bool = True, docker: bool = True) -> None:
    """Create/adjust the SUT user: bash shell, groups docker + sudo, passwordless sudo.

    ``sudo=False`` / ``docker=False`` make a user that lacks that requirement (for tests
    of the requirement checks).
    """
    for group in ("docker", "sudo"):
        if subprocess.run(["getent", "group", group], capture_output=True).returncode != 0:
            _run(["groupadd", "--system", group])
    if subprocess.run(["id", user], capture_output=True).returncode != 0:
        _run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", user])
    for g, want in (("docker", docker), ("sudo", sudo)):
        if want:
            _run(["usermod", "--append", "--groups", g, user])
        else:
            subprocess.run(["gpasswd", "--delete", user, g], capture_output=True)
    # '*' = no password but not locked: sshd refuses locked accounts even for keys.
    _run(["usermod", "--password", "*", user])
    sudoers = Path(f"/etc/sudoers.d/{user}")
    if not sudo:
        sudoers.unlink(missing_ok=True)
        return
    line = f"{user} ALL=(ALL) NOPASSWD: ALL\n"
    if not sudoers.exists() or sudoers.read_text() != line:
        tmp = sudoers.with_name(f".{user}.tmp")
        tmp.write_text(line)
        os.chmod(tmp, 0o440)
        _run(["visudo", "-cf", str(tmp)])
        os.replace(tmp, sudoers)


@dataclass
class LoopbackNode:
    index: int
    name: str
    port: int
    docker_host: str  # unix:///run/...sock
    sshd_pid: int = 0
    dockerd_pid: int = 0
    data_root: str = ""
    exec_root: str = ""


@dataclass
class LoopbackSut:
    """A loopback SUT with ``nodes`` nodes; use as a context manager or start()/stop()."""

    nodes_wanted: int = 1
    user: str = DEFAULT_USER
    passwordless_sudo: bool = True
    docker_group: bool = True
    workdir: Path | None = None
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    nodes: list[LoopbackNode] = field(default_factory=list)
    keyfile: Path | None = None
    _own_workdir: bool = False

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> LoopbackSut:
        if os.geteuid() != 0:
            raise LoopbackError("the loopback SUT needs root (it starts sshd and dockerd)")
        for tool in ("sshd", "dockerd", "ssh-keygen", "docker"):
            if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
                raise LoopbackError(f"{tool} not found; run scripts/setup-host.sh")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"fp-loopback-{self.tag}-"))
            self._own_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        ensure_user(self.user, sudo=self.passwordless_sudo, docker=self.docker_group)
        self._make_keys()
        try:
            for i in range(self.nodes_wanted):
                node = LoopbackNode(
                    index=i, name=f"node{i}", port=free_port(),
                    docker_host=f"unix:///run/fp-lb-{self.tag}-{i}.sock",
                    data_root=str(self.workdir / f"docker-{i}"),
                    exec_root=f"/run/fp-lb-{self.tag}-{i}",
                )
                self.nodes.append(node)
                self._start_dockerd(node)
                self._start_sshd(node)
            for node in self.nodes:
                self._wait_ready(node)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            if node.sshd_pid:
                # the listener and every session it spawned (incl. ControlMaster peers)
                _terminate(node.sshd_pid, timeout=5)
                node.sshd_pid = 0
        for node in self.nodes:
            if node.dockerd_pid:
                self._stop_dockerd(node)
                node.dockerd_pid = 0
            Path(node.docker_host.removeprefix("unix://")).unlink(missing_ok=True)
            _unmount_under(node.exec_root)
            _unmount_under(node.data_root)
            shutil.rmtree(node.exec_root, ignore_errors=True)
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LoopbackSut:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- helpers
    def _make_keys(self) -> None:
        assert self.workdir is not None
        key = self.workdir / "id_ed25519"
        if not key.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                  f"fastpath-loopback-{self.tag}", "-f", str(key)])
        hostkey = self.workdir / "ssh_host_ed25519_key"
        if not hostkey.exists():
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)])
        auth = self.workdir / "authorized_keys"
        auth.write_text((self.workdir / "id_ed25519.pub").read_text())
        os.chmod(auth, 0o644)
        # the controller user (root) reads the private key
        os.chmod(key, 0o600)
        self.keyfile = key

    def _start_dockerd(self, node: LoopbackNode) -> None:
        assert self.workdir is not None
        Path(node.data_root).mkdir(parents=True, exist_ok=True)
        Path(node.exec_root).mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / f"dockerd-{node.index}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            ["dockerd", "--host", node.docker_host, "--data-root", node.data_root,
             "--exec-root", node.exec_root, "--pidfile", f"{node.exec_root}/dockerd.pid",
             "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip-forward=false",
             "--group", "docker"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        node.dockerd_pid = proc.pid

    def _stop_dockerd(self, node: LoopbackNode) -> None:
        env = dict(os.environ, DOCKER_HOST=node.docker_host)
        ids = subprocess.run(["docker", "ps", "-q"], capture_output=True, text=True, env=env,
                             timeout=30).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, env=env,
                           timeout=60)
        _terminate(node.dockerd_pid, timeout=30)

    def _start_sshd(self, node: LoopbackNode) -> None:
        assert self.workdir is not None
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        conf = self.workdir / f"sshd_config-{node.index}"
        conf.write_text(
            "\n".join([
                f"Port {node.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {self.workdir / 'ssh_host_ed25519_key'}",
                f"PidFile {self.workdir / f'sshd-{node.index}.pid'}",
                f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",  # the work dir may live under /tmp (world-writable)
                "PermitRootLogin no",
                f"AllowUsers {self.user}",
                f"SetEnv DOCKER_HOST={node.docker_host}",
                "MaxSessions 64",
                "MaxStartups 64:30:128",
                "LogLevel ERROR",
                "Subsystem sftp /usr/lib/openssh/sftp-server",
                "",
            ])
        )
        _run(["/usr/sbin/sshd", "-t", "-f", str(conf)])
        log = open(self.workdir / f"sshd-{node.index}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        node.sshd_pid = proc.pid

    def _wait_ready(self, node: LoopbackNode, timeout: float = 90.0) -> None:
        """Both daemons answer; then one real login checks what this SUT promises."""
        deadline = time.monotonic() + timeout
        env = dict(os.environ, DOCKER_HOST=node.docker_host)
        while True:
            docker_ok = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                                       capture_output=True, env=env, timeout=30).returncode == 0
            ssh_ok = False
            try:
                with socket.create_connection(("127.0.0.1", node.port), timeout=2) as s:
                    ssh_ok = s.recv(64).startswith(b"SSH-")
            except OSError:
                pass
            if docker_ok and ssh_ok:
                break
            for pid, what in ((node.dockerd_pid, "dockerd"), (node.sshd_pid, "sshd")):
                if pid and not _alive(pid):
                    raise LoopbackError(
                        f"{what} of node {node.index} exited; see {self.workdir}/{what}-"
                        f"{node.index}.log")
            if time.monotonic() > deadline:
                raise LoopbackError(f"node {node.index} not ready after {timeout:.0f}s "
                                    f"(docker ok={docker_ok}, ssh ok={ssh_ok})")
            time.sleep(0.2)
        # one real login proves the chain (key, user, sudo, docker group, DOCKER_HOST)
        checks = ["true"]
        if self.passwordless_sudo:
            checks.append("sudo -n true")
        if self.docker_group:
            checks.append("docker info --format '{{.ServerVersion}}' >/dev/null")
        out = self.ssh(node.index, " && ".join(checks))
        if out.returncode != 0:
            raise LoopbackError(f"login check on node {node.index} failed: {out.stderr.strip()}")

    # ---------------------------------------------------------------- use
    def ssh_args(self, index: int = 0) -> list[str]:
        node = self.nodes[index]
        return ["ssh", "-p", str(node.port), "-i", str(self.keyfile), "-o", "IdentitiesOnly=yes",
                "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                f"{self.user}@127.0.0.1"]

    def ssh(self, index: int, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*self.ssh_args(index), command], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def docker(self, index: int, *args: str, timeout: float = 300,
               check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, DOCKER_HOST=self.nodes[index].docker_host)
        return subprocess.run(["docker", *args], capture_output=True, text=True, env=env,
                              timeout=timeout, check=check)

    def has_image(self, index: int, image: str) -> bool:
        return self.docker(index, "image", "inspect", image, check=False).returncode == 0

    def load_image(self, image: str, *, source_docker_host: str | None = None,
                   nodes: list[int] | None = None) -> None:
        """Copy ``image`` from another daemon (default: the caller's DOCKER_HOST)."""
        src_env = dict(os.environ)
        if source_docker_host:
            src_env["DOCKER_HOST"] = source_docker_host
        for i in nodes if nodes is not None else range(len(self.nodes)):
            if self.has_image(i, image):
                continue
            save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE,
                                    env=src_env)
            load = subprocess.run(["docker", "load", "-q"], stdin=save.stdout,
                                  capture_output=True, text=True,
                                  env=dict(os.environ, DOCKER_HOST=self.nodes[i].docker_host))
            assert save.stdout is not None
            save.stdout.close()
            if save.wait() != 0 or load.returncode != 0:
                raise LoopbackError(f"copying image {image} to node {i} failed: {load.stderr}")

    def import_busybox(self, image: str = "fastpath-test/busybox:1",
                       nodes: list[int] | None = None) -> str:
        """Build a busybox image from the host's busybox-static with ``docker import``."""
        busybox = shutil.which("busybox") or "/bin/busybox"
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "rootfs"
            (root / "bin").mkdir(parents=True)
            for d in ("tmp", "etc", "proc", "sys", "dev", "fastpath-share"):
                (root / d).mkdir()
            shutil.copy2(busybox, root / "bin" / "busybox")
            applets = _run([busybox, "--list"]).stdout.split()
            for applet in applets:
                if applet != "busybox":
                    (root / "bin" / applet).symlink_to("busybox")
            (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
            (root / "etc" / "group").write_text("root:x:0:\n")
            tarball = Path(tmp) / "rootfs.tar"
            _run(["tar", "-C", str(root), "-cf", str(tarball), "."])
            for i in nodes if nodes is not None else range(len(self.nodes)):
                self.docker(i, "import", "--change", "CMD [\"/bin/sh\"]", "--change",
                            "ENV PATH=/bin", str(tarball), image)
        return image

    # ---------------------------------------------------------------- plan helpers
    def connection(self, index: int = 0) -> dict:
        return {"method": "SSH", "params": {"host": "127.0.0.1", "user": self.user,
                                            "port": self.nodes[index].port,
                                            "keyfile": str(self.keyfile)}}

    def plan_sut(self, name: str = "loopback") -> dict:
        """A normalised plan ``sut`` object for this SUT."""
        sut: dict = {"sutclass": None, "name": name, "powercycle": None}
        if len(self.nodes) == 1:
            sut["connection"] = self.connection(0)
        else:
            sut["nodes"] = [{"name": n.name, "connection": self.connection(n.index)}
                            for n in self.nodes]
        return sut

    def state(self) -> dict:
        return {"tag": self.tag, "user": self.user, "workdir": str(self.workdir),
                "keyfile": str(self.keyfile), "own_workdir": self._own_workdir,
                "nodes": [asdict(n) for n in self.nodes]}

    @classmethod
    def from_state(cls, state: dict) -> LoopbackSut:
        sut = cls(nodes_wanted=len(state["nodes"]), user=state["user"],
                  workdir=Path(state["workdir"]), tag=state["tag"])
        sut.keyfile = Path(state["keyfile"])
        sut._own_workdir = bool(state.get("own_workdir"))
        sut.nodes = [LoopbackNode(**n) for n in state["nodes"]]
        return sut


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fastpath.testsut.loopback",
                                 description="Start/stop a loopback SUT (sshd + dockerd).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start")
    st.add_argument("--nodes", type=int, default=1)
    st.add_argument("--user", default=DEFAULT_USER)
    st.add_argument("--state", type=Path, default=DEFAULT_STATE)
    st.add_argument("--image", action="append", default=[],
                    help="copy this image from the caller's Docker daemon to every node")
    sp = sub.add_parser("stop")
    sp.add_argument("--state", type=Path, default=DEFAULT_STATE)
    args = ap.parse_args(argv)
    if args.cmd == "start":
        if args.state.exists():
            print(f"{args.state} exists: stop that SUT first", file=sys.stderr)
            return 2
        sut = LoopbackSut(nodes_wanted=args.nodes, user=args.user).start()
        for image in args.image:
            sut.load_image(image)
        args.state.write_text(json.dumps(sut.state(), indent=2) + "\n")
        print(json.dumps({"state": str(args.state), "sut": sut.plan_sut()}, indent=2))
        return 0
    if not args.state.exists():
        print(f"no loopback SUT state at {args.state}", file=sys.stderr)
        return 0
    sut = LoopbackSut.from_state(json.loads(args.state.read_text()))
    sut.stop()
    args.state.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
