"""Plain SSH next to Ansible, sharing its ControlMaster connections.

Ansible (with fastpath's ``ansible.cfg``) keeps one ControlMaster per (host, port, user)
under ``control_path_dir``; :func:`control_path` computes the same socket path, so a
``tail -F`` of a progress file or a quick check costs a few ms instead of a new login.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import shlex
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastpath import paths


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int | None = None
    user: str | None = None
    keyfile: str | None = None
    extra_args: tuple[str, ...] = ()  # e.g. ("-o", "UserKnownHostsFile=...")


@cache
def _cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(paths.ansible_cfg(), encoding="utf-8")
    return parser


def control_path_dir() -> Path:
    value = _cfg().get("ssh_connection", "control_path_dir", fallback="~/.ansible/cp")
    return Path(value).expanduser()


def control_path(target: SshTarget) -> Path:
    """The ControlPath Ansible's ssh connection plugin uses for ``target``."""
    pstring = f"{target.host}-{target.port}-{target.user}"
    digest = hashlib.sha1(pstring.encode()).hexdigest()[:10]
    return control_path_dir() / digest


def ssh_base(target: SshTarget, *, connect_timeout: int = 10) -> list[str]:
    cpdir = control_path_dir()
    cpdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    args = [
        "ssh",
        "-o", "ControlMaster=auto",
        "-o", "ControlPersist=30m",
        "-o", f"ControlPath={control_path(target)}",
        "-o", "BatchMode=yes",
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=3",
        "-o", f"ConnectTimeout={connect_timeout}",
        *target.extra_args,
    ]
    if _cfg().get("defaults", "host_key_checking", fallback="True").lower() in ("false", "no"):
        args += ["-o", "StrictHostKeyChecking=no"]
    if target.port:
        args += ["-p", str(target.port)]
    if target.user:
        args += ["-l", target.user]
    if target.keyfile:
        args += ["-i", str(target.keyfile), "-o", "IdentitiesOnly=yes"]
    args.append(target.host)
    return args


def run(target: SshTarget, command: str, *, timeout: float | None = 60,
        input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one shell command on the target (over the shared master)."""
    return subprocess.run(
        [*ssh_base(target), command], capture_output=True, text=True, timeout=timeout,
        input=input_text, stdin=None if input_text is not None else subprocess.DEVNULL,
    )


def fetch_file(target: SshTarget, remote: str, local: Path, *, timeout: float = 600) -> bool:
    """Copy one remote file to ``local`` over the shared master (False if it is missing)."""
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(local.name + ".part")
    with tmp.open("wb") as fh:
        proc = subprocess.run([*ssh_base(target), f"cat -- '{remote}'"], stdout=fh,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=timeout)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        return False
    tmp.replace(local)
    return True


def close_master(target: SshTarget) -> None:
    """Close the shared master (after a reboot, or at exit); harmless when none is open."""
    cp = control_path(target)
    if cp.exists():
        subprocess.run(
            [*ssh_base(target)[:1], "-o", f"ControlPath={cp}", "-O", "exit", target.host],
            capture_output=True, timeout=15,
        )


# Runs on the remote side: follow files (which may not exist yet) and print each complete
# line as "<file index> <line>"; a file is finished at a line containing '"done": true'.
# Stops when every file is finished, at the deadline, or when the reader went away (a
# heartbeat newline every 2 s makes a closed channel visible), so nothing lingers.
_FOLLOW = r"""
import sys, time
deadline, paths = time.time() + float(sys.argv[1]), sys.argv[2:]
pos, buf, done = [0] * len(paths), [b""] * len(paths), set()
out, beat = sys.stdout.buffer, time.time()
while time.time() < deadline and len(done) < len(paths):
    wrote = False
    for i, path in enumerate(paths):
        if i in done:
            continue
        try:
            with open(path, "rb") as fh:
                fh.seek(pos[i])
                chunk = fh.read()
        except OSError:
            continue
        if not chunk:
            continue
        pos[i] += len(chunk)
        *lines, buf[i] = (buf[i] + chunk).split(b"\n")
        for line in lines:
            out.write(b"%d %s\n" % (i, line))
            wrote = True
            if b'"done": true' in line:
                done.add(i)
    if wrote:
        out.flush()
        beat = time.time()
    elif time.time() - beat > 2:
        out.write(b"\n")
        out.flush()
        beat = time.time()
    time.sleep(0.2)
"""


class RemoteTail:
    """Follow (maybe not yet existing) files on the target, live (~0.2 s latency).

    ``on_line(index, line)`` gets each new line of ``paths[index]``, from a thread.  The
    remote follower ends by itself (see ``_FOLLOW``); :meth:`stop` ends it early.
    """

    def __init__(self, target: SshTarget, paths: list[str],
                 on_line: Callable[[int, str], None], *, max_seconds: float = 86400):
        self._target = target
        self._on_line = on_line
        script = shlex.quote(_FOLLOW)
        args = " ".join(shlex.quote(p) for p in paths)
        self._proc = subprocess.Popen(
            [*ssh_base(target), f"exec python3 -c {script} {int(max_seconds)} {args}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            text=True, bufsize=1,
        )
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            index, _, text = line.strip().partition(" ")
            if index.isdigit() and text:
                # a progress callback must never kill the tail
                with contextlib.suppress(Exception):
                    self._on_line(int(index), text)

    def stop(self, grace: float = 0.5) -> None:
        # Give the last lines a moment to arrive, then end the remote tail.
        self._thread.join(timeout=grace)
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._thread.join(timeout=2)

    def __enter__(self) -> RemoteTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
