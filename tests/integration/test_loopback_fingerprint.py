"""``fastpath sut fingerprint`` against loopback SUTs that meet, or miss, the requirements."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastpath.testsut.loopback import LoopbackSut

pytestmark = pytest.mark.integration


def fastpath(*args):
    exe = Path(sys.executable).parent / "fastpath"
    return subprocess.run([str(exe), *args],
                          capture_output=True, text=True, timeout=300)


def cli_args(sut, fmt="json"):
    return ["sut", "fingerprint", "--user", sut.user, "--port", str(sut.nodes[0].port),
            "--keyfile", str(sut.keyfile), "--format", fmt, "127.0.0.1"]


def test_json_has_every_node_cpu_and_swprofile_field(loopback_sut):
    r = fastpath(*cli_args(loopback_sut))
    assert r.returncode == 0, r.stderr
    fp = json.loads(r.stdout)
    node, sw = fp["node"], fp["swprofile"]
    un = os.uname()
    assert node["host_name"] == un.nodename and node["architecture"] == un.machine
    assert node["cpu_count"] == len(node["cpus"]) == os.cpu_count()
    assert [c["cpu_index"] for c in node["cpus"]] == list(range(os.cpu_count()))
    assert all(json.loads(c["desc"])["arch"] == un.machine for c in node["cpus"])
    assert len(node["cpu_info_hash"]) == 64 and len(node["mac_addrs_hash"]) == 64
    assert node["numa_count"] >= 1 and node["ram_sz"] > 2**28
    for key in ("hypervisor", "product_name", "product_serial"):
        assert isinstance(node[key], str)
    assert sw["kernel_name"] == un.release
    cmdline = Path("/proc/cmdline").read_text().rstrip("\n")
    assert sw["kernel_cmdline_full_hash"] == hashlib.sha256(cmdline.encode()).hexdigest()
    lsb = subprocess.run(["lsb_release", "-d"], capture_output=True, text=True).stdout
    assert sw["userspace_name"] == lsb.split(":", 1)[1].strip()
    assert fp["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def test_table_lists_hw_and_sw(loopback_sut):
    r = fastpath(*cli_args(loopback_sut, "table"))
    assert r.returncode == 0, r.stderr
    for field in ("host_name", "cpu_info_hash", "ram_sz", "mac_addrs_hash", "kernel_name",
                  "kernel_cmdline_full_hash", "userspace_name", "boot_id"):
        assert field in r.stdout


def test_ssh_failure_names_the_ssh_requirement(loopback_sut, tmp_path):
    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True)
    args = cli_args(loopback_sut)
    args[args.index("--keyfile") + 1] = str(wrong)
    r = fastpath(*args)
    assert r.returncode == 1
    assert "cannot log in" in r.stderr and "SSH" in r.stderr and "--keyfile" in r.stderr


def test_missing_sudo_and_docker_are_named():
    with LoopbackSut(user="fpnosudo", passwordless_sudo=False) as nosudo:
        r = fastpath(*cli_args(nosudo))
        assert r.returncode == 1
        assert "passwordless sudo" in r.stderr
    with LoopbackSut(user="fpnodocker", docker_group=False) as nodocker:
        r = fastpath(*cli_args(nodocker))
        assert r.returncode == 1
        assert "cannot use Docker" in r.stderr and '"docker" group' in r.stderr
