"""Noticing that a rebooting SUT's sshd is back, and logging in over the connection
that noticed it.

After a reboot fastpath waits for the SSH *banner* only (a login attempt every poll would
make a slow guest's sshd fork and authenticate again and again).  The connection that
received the banner has already cost the SUT an sshd process (fork, re-exec, host keys):
instead of opening yet another one, the first login runs over it.  The banner is only
peeked at, so it is still unread in the socket; ``ssh`` gets the socket through
``ProxyCommand`` + ``ProxyUseFdpass`` (a tiny relay receives the descriptor from this
process over a private Unix socket and hands it to ssh).  Measured on the TCG VM SUT: a
new connection's banner comes 0.5-1.9 s after connecting while the guest is still
starting its services.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import shlex
import socket
import subprocess
import sys
import tempfile
import time

from fastpath.execute import ssh as fssh

log = logging.getLogger(__name__)

BANNER_POLL_S = 0.5  # a fresh banner probe connection this often (see wait_banner)
BANNER_PROBE_MAX_AGE_S = 6.0
BANNER_PROBES_MAX = 3
ANSWERED_WITHIN_S = 2.0  # a connection opened this soon after a refusal reaches the SUT
ANSWERED_PROBE_MAX_AGE_S = 30.0
ANSWERED_POLL_S = 0.1  # poll interval while the SUT's network answers but sshd does not
# The first login after a reboot prefers classic curve25519 key exchange: OpenSSH 9's
# default hybrid sntrup761x25519 costs a guest under TCG ~0.4 s more (others stay allowed).
FAST_KEX = ("-o", "KexAlgorithms=^curve25519-sha256,curve25519-sha256@libssh.org")

# Runs as ssh's ProxyCommand (ssh expands '%' tokens there: the code has none).
_FD_RELAY = ("import socket,sys;u=socket.socket(socket.AF_UNIX);u.connect(sys.argv[1]);"
             "m,f,_,_=socket.recv_fds(u,1,1);"
             "socket.send_fds(socket.socket(fileno=1),[bytes(1)],f)")


def address(target: fssh.SshTarget) -> tuple[str, int, bool]:
    """Host and port ssh really connects to (resolves ~/.ssh/config aliases), and whether
    it connects directly (no ProxyCommand/ProxyJump configured for the host)."""
    args = ["ssh", "-G", *target.extra_args]
    if target.port:
        args += ["-p", str(target.port)]
    if target.user:
        args += ["-l", target.user]
    try:
        out = subprocess.run([*args, target.host], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    host, port, direct = target.host, target.port or 22, True
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        if k == "hostname" and v:
            host = v.strip()
        elif k == "port" and v.strip().isdigit():
            port = int(v)
        elif k in ("proxycommand", "proxyjump") and v.strip() not in ("", "none"):
            direct = False
    return host, port, direct


def ssh_banner(host: str, port: int, timeout: float = 3.0, read_timeout: float = 30.0) -> bool:
    """True when host:port sends an SSH identification string (no login attempted).

    The read timeout is long on purpose: a busy guest's sshd may need seconds to send its
    banner, and closing early only makes it fork again for the next poll (a closed port
    answers at once, so waiting costs nothing there).
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(read_timeout)
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = s.recv(512)
                if not chunk:
                    break
                data += chunk
            return data.startswith(b"SSH-")
    except OSError:
        return False


def wait_banner(host: str, port: int, deadline: float,
                interval: float = BANNER_POLL_S) -> socket.socket | None:
    """Wait (until the monotonic ``deadline``) for host:port to send an SSH banner; return
    the connection that got it, banner unread (the caller owns and closes it).

    While the SUT is down, a new connection is opened every ``interval`` seconds and older
    ones stay open (up to ``BANNER_PROBES_MAX``, each for ``BANNER_PROBE_MAX_AGE_S``):
    behind a NAT such as QEMU's user-mode network a connection made while the guest's
    network is down sits in the NAT's SYN back-off for seconds after sshd starts
    listening, so only a fresh one notices sshd at once.  A connection opened just after
    another one was refused or reset (the SUT's network answers) is not stuck anywhere:
    when it stays silent, sshd has accepted it and is slow to start its process, so it
    is kept for ``ANSWERED_PROBE_MAX_AGE_S`` and no further connection is opened
    meanwhile (each would cost the booting SUT another sshd process; on a busy TCG guest
    that snowballed into sshd's MaxStartups refusals).  The others are closed as soon as
    one connection has the banner.
    """
    sel = selectors.DefaultSelector()
    opened: dict[socket.socket, tuple[float, bool]] = {}  # -> (opened at, answered path)
    last_answer = -1e9  # when a connection was last refused or reset

    def drop(sock: socket.socket) -> None:
        sel.unregister(sock)
        opened.pop(sock, None)
        sock.close()

    next_open = 0.0
    try:
        while (now := time.monotonic()) < deadline:
            waiting_on_sshd = any(answered for _, answered in opened.values())
            if now >= next_open and len(opened) < BANNER_PROBES_MAX and not waiting_on_sshd:
                # a refusal is cheap for the SUT (its kernel answers): look again soon
                answering = now - last_answer <= ANSWERED_WITHIN_S
                next_open = now + (min(interval, ANSWERED_POLL_S) if answering else interval)
                try:
                    family, kind, proto, _, addr = socket.getaddrinfo(
                        host, port, type=socket.SOCK_STREAM)[0]
                    sock = socket.socket(family, kind, proto)
                except OSError:  # e.g. a host name that does not resolve right now
                    continue
                sock.setblocking(False)
                sock.connect_ex(addr)
                sel.register(sock, selectors.EVENT_READ)
                opened[sock] = (now, answering)
                log.debug("banner probe %d opened%s", sock.fileno(),
                          " (network answers)" if answering else "")
            for sock, (born, answered) in list(opened.items()):
                age = ANSWERED_PROBE_MAX_AGE_S if answered else BANNER_PROBE_MAX_AGE_S
                if now - born > age:
                    log.debug("banner probe %d expired", sock.fileno())
                    drop(sock)
            wait = max(0.0, min(next_open, deadline) - time.monotonic())
            for key, _ in sel.select(timeout=wait):
                sock = key.fileobj  # type: ignore[assignment]
                try:
                    data = sock.recv(512, socket.MSG_PEEK)
                except OSError as exc:  # refused or reset: nothing listens (yet)
                    log.debug("banner probe %d: %s", sock.fileno(), exc)
                    last_answer = time.monotonic()
                    drop(sock)
                    continue
                if not data:
                    log.debug("banner probe %d closed", sock.fileno())
                    last_answer = time.monotonic()
                    drop(sock)
                elif not b"SSH-".startswith(data[:4]) or (b"\n" not in data
                                                          and len(data) >= 512):
                    log.debug("banner probe %d: not a banner %r", sock.fileno(), data[:40])
                    drop(sock)  # e.g. sshd's "Exceeded MaxStartups"
                elif b"\n" in data:
                    log.debug("banner probe %d: %r", sock.fileno(), data.strip())
                    sel.unregister(sock)
                    del opened[sock]
                    sock.setblocking(True)
                    return sock
                else:
                    time.sleep(0.01)  # a partial banner stays readable: let the rest come
        return None
    finally:
        for sock in list(opened):
            drop(sock)
        sel.close()


def wait_ssh_banner(host: str, port: int, deadline: float,
                    interval: float = BANNER_POLL_S) -> bool:
    """:func:`wait_banner`, closing the connection: True when a banner came."""
    sock = wait_banner(host, port, deadline, interval)
    if sock is None:
        return False
    sock.close()
    return True


def run_over(sock: socket.socket, target: fssh.SshTarget, command: str, *,
             timeout: float = 60, connect_timeout: int = 20
             ) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with ssh over the already connected ``sock`` (closed here).

    The ssh becomes the target's ControlMaster (as :func:`fastpath.execute.ssh.run` would),
    so later commands and Ansible reuse the connection.  ssh exits 255 when this fails.
    """
    with tempfile.TemporaryDirectory(prefix="fastpath-fd-") as tmp, sock:
        path = os.path.join(tmp, "fd")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with server:
            server.bind(path)
            server.listen(1)
            server.settimeout(0.1)
            relay = (f"{shlex.quote(sys.executable)} -I -S -c "
                     f"{shlex.quote(_FD_RELAY)} {shlex.quote(path)}")
            base = fssh.ssh_base(target, connect_timeout=connect_timeout)
            args = [base[0], "-o", f"ProxyCommand={relay}", "-o", "ProxyUseFdpass=yes",
                    *FAST_KEX, *base[1:], command]
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            end = time.monotonic() + min(timeout, connect_timeout)
            while proc.poll() is None and time.monotonic() < end:
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with conn:
                    socket.send_fds(conn, [bytes(1)], [sock.fileno()])
                log.debug("banner connection handed to ssh")
                break
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return subprocess.CompletedProcess(args, 255, out, f"ssh timed out after {timeout}s")
        return subprocess.CompletedProcess(args, proc.returncode, out, err)


def close_quietly(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.close()
