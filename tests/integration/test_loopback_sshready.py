"""After a reboot the first login runs over the connection that saw the SSH banner
(real sshd on loopback)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from fastpath import kernel
from fastpath.execute import ssh as fssh
from fastpath.execute import sshready

pytestmark = pytest.mark.integration


def test_login_runs_over_the_banner_connection(loopback_sut, tmp_path):
    target = kernel._target(loopback_sut.connection(), tmp_path)
    fssh.close_master(target)
    host, port, direct = sshready.address(target)
    assert (host, port, direct) == ("127.0.0.1", loopback_sut.nodes[0].port, True)
    sock = sshready.wait_banner(host, port, time.monotonic() + 30)
    assert sock is not None
    local_port = sock.getsockname()[1]
    assert sock.recv(4, socket.MSG_PEEK) == b"SSH-"  # banner left unread
    r = sshready.run_over(sock, target, 'echo "$SSH_CLIENT"; ' + kernel._PROBE, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["127.0.0.1", str(local_port)]  # that very connection
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert lines[1:3] == [boot_id, Path("/proc/sys/kernel/osrelease").read_text().strip()]
    assert lines[3] == " ".join(Path("/proc/cmdline").read_text().split())
    # it became the ControlMaster: the next command reuses it (same client port)
    again = fssh.run(target, 'echo "$SSH_CLIENT"')
    assert again.returncode == 0 and again.stdout.split()[1] == str(local_port)
    fssh.close_master(target)


def test_a_failing_login_over_the_banner_connection_is_exit_255(loopback_sut, tmp_path):
    target = kernel._target(loopback_sut.connection(), tmp_path)
    fssh.close_master(target)
    wrong_user = fssh.SshTarget(host=target.host, port=target.port, user="nobody-here",
                                keyfile=target.keyfile, extra_args=target.extra_args)
    host, port, _ = sshready.address(wrong_user)
    sock = sshready.wait_banner(host, port, time.monotonic() + 30)
    assert sock is not None
    r = sshready.run_over(sock, wrong_user, "true", timeout=60)
    assert r.returncode == 255
    fssh.close_master(wrong_user)


def test_a_proxy_in_the_ssh_config_disables_the_reuse(tmp_path):
    target = fssh.SshTarget(host="sut.example", port=2222, user="u", keyfile=None,
                            extra_args=("-o", "ProxyJump=jump.example"))
    assert sshready.address(target) == ("sut.example", 2222, False)
