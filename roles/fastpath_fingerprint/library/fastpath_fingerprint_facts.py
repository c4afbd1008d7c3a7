#!/usr/bin/python3
# fastpath: collect a node's hardware and software fingerprint (guide §1.2.10).
"""Ansible module: fingerprint one node; returns facts ``fastpath_fingerprint``."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fastpath_fingerprint_facts
short_description: Hardware and software fingerprint of a fastpath SUT node
description:
  - Reads uname, /proc and /sys (no external tools needed; uses lsb_release, ip and
    systemd-detect-virt when present) and returns every NODE, CPU and SWPROFILE field of
    fastpath's resultstore schema, plus the boot_id that identifies the boot session.
options:
  use_sudo:
    description:
      - Read root-only files (DMI product serial) with C(sudo -n), which also checks that
        passwordless sudo works (a fastpath SUT requirement).  Fails when it does not.
    type: bool
    default: true
author: fastpath developers
"""

RETURN = r"""
ansible_facts:
  description: "fastpath_fingerprint: {node: {...}, swprofile: {...}, boot_id: str}"
  returned: always
  type: dict
"""

import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess

from ansible.module_utils.basic import AnsibleModule

FORMAT_VERSION = 1


def _read(path, default=None):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return default


def _run(cmd):
    if not shutil.which(cmd[0]):
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def _sha256(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _cpu_list(text):
    cpus = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-")
            cpus.extend(range(int(lo), int(hi) + 1))
        else:
            cpus.append(int(part))
    return cpus


def _cpuinfo_blocks():
    """/proc/cpuinfo as {processor index: {key: value}}."""
    blocks = {}
    current = {}
    for line in (_read("/proc/cpuinfo", "") + "\n\n").splitlines():
        if not line.strip():
            if "processor" in current and current["processor"].isdigit():
                blocks[int(current["processor"])] = current
            current = {}
            continue
        if ":" in line:
            k, v = line.split(":", 1)
            current[k.strip()] = v.strip()
    return blocks


def _caches(cpu):
    out = []
    for idx in sorted(glob.glob(f"/sys/devices/system/cpu/cpu{cpu}/cache/index*")):
        out.append({
            "level": (_read(f"{idx}/level", "") or "").strip(),
            "type": (_read(f"{idx}/type", "") or "").strip(),
            "size": (_read(f"{idx}/size", "") or "").strip(),
        })
    return out


def _cpu_node(cpu):
    for path in glob.glob(f"/sys/devices/system/cpu/cpu{cpu}/node*"):
        m = re.search(r"node(\d+)$", path)
        if m:
            return int(m.group(1))
    return 0


def cpu_descs(arch):
    info = _cpuinfo_blocks()
    online = _cpu_list(_read("/sys/devices/system/cpu/online", ""))
    if not online:
        online = sorted(info) or list(range(os.cpu_count() or 1))
    descs = []
    for cpu in online:
        block = info.get(cpu, {})
        topo = f"/sys/devices/system/cpu/cpu{cpu}/topology"
        desc = {"arch": arch}
        if arch in ("x86_64", "i686", "i386"):
            for key, name in (("vendor_id", "vendor"), ("cpu family", "family"),
                              ("model", "model"), ("stepping", "stepping"),
                              ("model name", "model_name")):
                desc[name] = block.get(key, "")
        elif arch in ("aarch64", "arm64", "armv7l"):
            for key, name in (("CPU implementer", "implementer"),
                              ("CPU architecture", "architecture"),
                              ("CPU variant", "variant"), ("CPU part", "part"),
                              ("CPU revision", "revision")):
                desc[name] = block.get(key, "")
        else:
            desc["cpuinfo"] = {k: v for k, v in block.items()
                               if k not in ("processor", "bogomips", "BogoMIPS", "cpu MHz")}
        desc["package_id"] = (_read(f"{topo}/physical_package_id", "") or "").strip()
        desc["core_id"] = (_read(f"{topo}/core_id", "") or "").strip()
        desc["numa_node"] = _cpu_node(cpu)
        desc["max_freq_khz"] = (_read(
            f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq", "") or "").strip()
        desc["caches"] = _caches(cpu)
        descs.append({"cpu_index": cpu,
                      "desc": json.dumps(desc, sort_keys=True, separators=(",", ":"))})
    return descs


def ram_bytes():
    """Physical memory from memory blocks (stable across kernels), else MemTotal."""
    size = _read("/sys/devices/system/memory/block_size_bytes")
    if size:
        blocks = 0
        for d in glob.glob("/sys/devices/system/memory/memory*"):
            if (_read(f"{d}/online", "1") or "1").strip() == "1":
                blocks += 1
        if blocks:
            return blocks * int(size.strip(), 16)
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", _read("/proc/meminfo", ""), re.M)
    return int(m.group(1)) * 1024 if m else 0


def hypervisor():
    out = _run(["systemd-detect-virt", "--vm"])
    if out is not None and out.strip() and out.strip() != "none":
        return out.strip()
    typ = (_read("/sys/hypervisor/type", "") or "").strip()
    if typ:
        return typ
    flags = _cpuinfo_blocks().get(0, {}).get("flags", "").split()
    if "hypervisor" in flags:
        vendor = (_read("/sys/class/dmi/id/sys_vendor", "") or "").strip().lower()
        return vendor or "unknown"
    return ""


def mac_addresses():
    """Permanent MACs of physical NICs (those with a backing device)."""
    perm = {}
    out = _run(["ip", "-j", "link", "show"])
    if out:
        try:
            for link in json.loads(out):
                if link.get("permaddr"):
                    perm[link["ifname"]] = link["permaddr"]
        except ValueError:
            pass
    macs = []
    for dev in sorted(glob.glob("/sys/class/net/*")):
        name = os.path.basename(dev)
        if not os.path.exists(f"{dev}/device"):
            continue  # virtual: lo, bridges, veths, bonds...
        mac = perm.get(name) or (_read(f"{dev}/address", "") or "").strip()
        if mac and mac != "00:00:00:00:00:00":
            macs.append(mac.lower())
    return sorted(set(macs))


def kconfig_hash(release):
    data = None
    try:
        with open(f"/boot/config-{release}", "rb") as fh:
            data = fh.read()
    except OSError:
        try:
            with gzip.open("/proc/config.gz", "rb") as fh:
                data = fh.read()
        except OSError:
            data = None
    return _sha256(data) if data is not None else None


def userspace_name():
    out = _run(["lsb_release", "-d"])
    if out and ":" in out:
        return out.split(":", 1)[1].strip()
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', _read("/etc/os-release", ""), re.M)
    return m.group(1) if m else ""


def _root_read(path, use_sudo):
    text = _read(path)
    if text is not None or not use_sudo or not os.path.exists(path):
        return text or ""
    out = subprocess.run(["sudo", "-n", "cat", path], capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else ""


def sudo_problem():
    """None when passwordless sudo works, else the reason."""
    if os.geteuid() == 0:
        return None
    if not shutil.which("sudo"):
        return "sudo is not installed"
    try:
        out = subprocess.run(["sudo", "-n", "true"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sudo -n true hung"
    return None if out.returncode == 0 else (out.stderr.strip() or "sudo -n true failed")


def fingerprint(use_sudo=False):
    un = os.uname()
    cpus = cpu_descs(un.machine)
    macs = mac_addresses()
    cmdline = (_read("/proc/cmdline", "") or "").rstrip("\n")
    numa = len(glob.glob("/sys/devices/system/node/node[0-9]*")) or 1
    node = {
        "host_name": un.nodename,
        "architecture": un.machine,
        "cpu_count": len(cpus),
        "cpu_info_hash": _sha256("\n".join(c["desc"] for c in cpus)),
        "numa_count": numa,
        "ram_sz": ram_bytes(),
        "hypervisor": hypervisor(),
        "product_name": (_read("/sys/class/dmi/id/product_name", "") or "").strip(),
        "product_serial": _root_read("/sys/class/dmi/id/product_serial", use_sudo).strip(),
        "mac_addrs_hash": _sha256("\n".join(macs)),
        "mac_addrs_count": len(macs),
        "cpus": cpus,
    }
    sw = {
        "kernel_name": un.release,
        "kernel_version": un.version,
        "kernel_kconfig_full_hash": kconfig_hash(un.release),
        "kernel_cmdline_full_hash": _sha256(cmdline),
        "cmdline": cmdline,
        "userspace_name": userspace_name(),
    }
    boot_id = (_read("/proc/sys/kernel/random/boot_id", "") or "").strip()
    return {"format": FORMAT_VERSION, "node": node, "swprofile": sw, "boot_id": boot_id}


def main():
    module = AnsibleModule(argument_spec=dict(use_sudo=dict(type="bool", default=True)),
                           supports_check_mode=True)
    use_sudo = module.params["use_sudo"]
    if use_sudo:
        problem = sudo_problem()
        if problem:
            module.fail_json(msg=f"passwordless sudo does not work for this user ({problem}); "
                                 "a fastpath SUT needs '<user> ALL=(ALL) NOPASSWD: ALL'",
                             fastpath_requirement="sudo")
    fp = fingerprint(use_sudo)
    if not fp["boot_id"]:
        module.fail_json(msg="cannot read /proc/sys/kernel/random/boot_id")
    module.exit_json(changed=False, ansible_facts={"fastpath_fingerprint": fp})


if __name__ == "__main__":
    main()
