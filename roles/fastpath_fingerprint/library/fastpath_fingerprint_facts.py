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
  docker_images:
    description:
      - When given (a list, possibly empty), also check that the user can use Docker
        (C(docker version)) and which of these images the node lacks, in the same call
        (the fastpath_docker role then needs no round trip of its own).  Docker problems
        do not fail the module; they are reported in C(fastpath_fingerprint_docker).
    type: list
    elements: str
author: fastpath developers
"""

RETURN = r"""
ansible_facts:
  description: "fastpath_fingerprint: {node: {...}, swprofile: {...}, boot_id: str}"
  returned: always
  type: dict
  contains:
    fastpath_fingerprint_docker:
      description: >-
        With docker_images: {usable, message, version, images, missing} -- message is why
        Docker is unusable ("" when usable), missing the images the node lacks.
      returned: when docker_images is given
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
import sys

FORMAT_VERSION = 1
# Validated on the controller by the role's action plugin, which pipes this file to the
# SUT's python3 (see main()); AnsibleModule uses the same spec when run as a plain module.
ARGUMENT_SPEC = {
    "use_sudo": {"type": "bool", "default": True},
    "docker_images": {"type": "list", "elements": "str"},
}
SUPPORTS_CHECK_MODE = True
DIRECT = "--fastpath-direct"


def _read(path, default=None):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return default


def _spawn(cmd, merge=False):
    """Start a command (None when it is not installed); read it with _output()."""
    if not shutil.which(cmd[0]):
        return None
    try:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                                text=True)
    except OSError:
        return None


def _finish(proc, timeout=20):
    """(returncode, stdout) of a started command; (None, "") when missing or hung."""
    if proc is None:
        return None, ""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, ""
    return proc.returncode, out or ""


def _output(proc, timeout=20):
    """stdout of a started command when it succeeded, else None."""
    rc, out = _finish(proc, timeout)
    return out if rc == 0 else None


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


def hypervisor(proc):
    out = _output(proc)
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


def mac_addresses(proc):
    """Permanent MACs of physical NICs (those with a backing device)."""
    perm = {}
    out = _output(proc)
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


def userspace_name(proc):
    out = _output(proc)
    if out and ":" in out:
        return out.split(":", 1)[1].strip()
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', _read("/etc/os-release", ""), re.M)
    return m.group(1) if m else ""


def _root_read_start(path, use_sudo):
    """(text, None) when readable, else (None, a started ``sudo -n cat``) or ("", None)."""
    text = _read(path)
    if text is not None or not use_sudo or not os.path.exists(path):
        return text or "", None
    proc = _spawn(["sudo", "-n", "cat", path])
    return ("", None) if proc is None else (None, proc)


def _sudo_start():
    """None (root, or sudo not installed) or the started ``sudo -n true``."""
    if os.geteuid() == 0 or not shutil.which("sudo"):
        return None
    return subprocess.Popen(["sudo", "-n", "true"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def _sudo_verdict(proc):
    """None when passwordless sudo works, else the reason."""
    if os.geteuid() == 0:
        return None
    if proc is None:
        return "sudo is not installed"
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return "sudo -n true hung"
    return None if proc.returncode == 0 else ((err or "").strip() or "sudo -n true failed")


def docker_start(images):
    """Start the Docker check: ``docker version`` and one ``docker image inspect`` per
    image, all at once (None when docker is not installed)."""
    if not shutil.which("docker"):
        return None
    version = _spawn(["docker", "version", "--format", "{{.Server.Version}}"], merge=True)
    inspects = [(image, _spawn(["docker", "image", "inspect", image])) for image in images]
    return version, inspects


def docker_verdict(started, images):
    """{usable, message, version, images, missing} of a started Docker check."""
    out = {"usable": False, "message": "", "version": "", "images": list(images),
           "missing": []}
    if started is None:
        out["message"] = "docker is not installed"
        return out
    version, inspects = started
    rc, text = _finish(version, timeout=60)
    checks = [(image, _finish(proc, timeout=60)[0]) for image, proc in inspects]
    if rc != 0:
        out["message"] = text.strip() or "docker version failed"
        return out
    out.update(usable=True, version=text.strip(),
               missing=[image for image, code in checks if code != 0])
    return out


def fingerprint(started):
    """The fingerprint dict; ``started``: the commands start() started."""
    un = os.uname()
    cpus = cpu_descs(un.machine)
    macs = mac_addresses(started["ip"])
    cmdline = (_read("/proc/cmdline", "") or "").rstrip("\n")
    numa = len(glob.glob("/sys/devices/system/node/node[0-9]*")) or 1
    node = {
        "host_name": un.nodename,
        "architecture": un.machine,
        "cpu_count": len(cpus),
        "cpu_info_hash": _sha256("\n".join(c["desc"] for c in cpus)),
        "numa_count": numa,
        "ram_sz": ram_bytes(),
        "hypervisor": hypervisor(started["virt"]),
        "product_name": (_read("/sys/class/dmi/id/product_name", "") or "").strip(),
        "product_serial": (started["serial"][0] if started["serial"][1] is None
                           else _output(started["serial"][1], timeout=None) or "").strip(),
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
        "userspace_name": userspace_name(started["lsb"]),
    }
    boot_id = (_read("/proc/sys/kernel/random/boot_id", "") or "").strip()
    return {"format": FORMAT_VERSION, "node": node, "swprofile": sw, "boot_id": boot_id}


def start(use_sudo):
    """Start every external command at once (they take tens of ms each)."""
    return {
        "ip": _spawn(["ip", "-j", "link", "show"]),
        "virt": _spawn(["systemd-detect-virt", "--vm"]),
        "lsb": _spawn(["lsb_release", "-d"]),
        "serial": _root_read_start("/sys/class/dmi/id/product_serial", use_sudo),
    }


def _reap(started):
    for proc in (started["ip"], started["virt"], started["lsb"], started["serial"][1]):
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate()


def run(params):
    """The module result for validated ``params``."""
    use_sudo = params["use_sudo"]
    images = params.get("docker_images")
    # every external command runs at once, while Python reads /proc and /sys
    sudo = _sudo_start() if use_sudo else None
    docker = docker_start(images) if images is not None else None
    started = start(use_sudo)
    if use_sudo:
        problem = _sudo_verdict(sudo)
        if problem:
            _reap(started)
            if docker is not None:
                for proc in [docker[0]] + [p for _, p in docker[1]]:
                    _finish(proc)
            return {"failed": True, "fastpath_requirement": "sudo",
                    "msg": f"passwordless sudo does not work for this user ({problem}); "
                           "a fastpath SUT needs '<user> ALL=(ALL) NOPASSWD: ALL'"}
    try:
        fp = fingerprint(started)
    finally:
        _reap(started)
    if not fp["boot_id"]:
        return {"failed": True, "msg": "cannot read /proc/sys/kernel/random/boot_id"}
    facts = {"fastpath_fingerprint": fp}
    if images is not None:
        facts["fastpath_fingerprint_docker"] = docker_verdict(docker, images)
    return {"changed": False, "ansible_facts": facts}


def main():
    if len(sys.argv) == 3 and sys.argv[1] == DIRECT:
        # piped to `python3 - --fastpath-direct ARGS` by the action plugin (no Ansible here)
        print(json.dumps(run(json.loads(sys.argv[2]))))
        return
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=SUPPORTS_CHECK_MODE)
    result = run(module.params)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
