"""Fingerprint JSON (from the ``fastpath_fingerprint`` role) -> records, and a table view."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastpath.errors import InfraError
from fastpath.records import CpuInfo, NodeInfo, SutInfo, SwProfileInfo

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NODE_FIELDS = ("host_name", "architecture", "cpu_count", "cpu_info_hash", "numa_count", "ram_sz",
               "hypervisor", "product_name", "product_serial", "mac_addrs_hash")
SW_FIELDS = ("kernel_name", "kernel_kconfig_full_hash", "kernel_cmdline_full_hash",
             "userspace_name")


def load(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def check(fp: dict[str, Any], where: str = "fingerprint") -> dict[str, Any]:
    """Validate the shape the rest of fastpath relies on; InfraError if incomplete."""
    node = fp.get("node") or {}
    sw = fp.get("swprofile") or {}
    missing = [f"node.{k}" for k in NODE_FIELDS if k not in node]
    missing += [f"swprofile.{k}" for k in SW_FIELDS if k not in sw]
    if missing:
        raise InfraError(f"{where} lacks {', '.join(missing)}",
                         hint="the SUT ran an incompatible fastpath_fingerprint role")
    if not _UUID.match(str(fp.get("boot_id", ""))):
        raise InfraError(f"{where} has no valid boot_id: {fp.get('boot_id')!r}")
    return fp


def boot_id(fp: dict[str, Any]) -> str:
    return str(fp["boot_id"])


def node_info(fp: dict[str, Any], name: str | None) -> NodeInfo:
    n = fp["node"]
    return NodeInfo(
        name=name,
        host_name=str(n["host_name"]),
        architecture=str(n["architecture"]),
        cpu_count=int(n["cpu_count"]),
        cpu_info_hash=str(n["cpu_info_hash"]),
        numa_count=int(n["numa_count"]),
        ram_sz=int(n["ram_sz"]),
        hypervisor=str(n["hypervisor"] or ""),
        product_name=str(n["product_name"] or ""),
        product_serial=str(n["product_serial"] or ""),
        mac_addrs_hash=str(n["mac_addrs_hash"]),
        cpus=tuple(CpuInfo(cpu_index=int(c["cpu_index"]), desc=str(c["desc"]))
                   for c in n.get("cpus") or ()),
    )


def sut_info(fps: list[dict[str, Any]], sut: dict[str, Any] | None = None,
             node_names: list[str | None] | None = None) -> SutInfo:
    """SutInfo from one fingerprint per node (in node order) and the plan's sut object."""
    sut = sut or {}
    names = node_names or [None] * len(fps)
    return SutInfo(name=sut.get("name"), sutclass=sut.get("sutclass"),
                   nodes=tuple(node_info(fp, nm) for fp, nm in zip(fps, names, strict=True)))


def swprofile_info(fp: dict[str, Any], swprofile: dict[str, Any] | None = None) -> SwProfileInfo:
    """SwProfileInfo from node 0's fingerprint plus the plan's swprofile (may be None)."""
    s = fp["swprofile"]
    p = swprofile or {}
    return SwProfileInfo(
        name=p.get("name"),
        kernel_name=str(s["kernel_name"]),
        kernel_git_sha=p.get("gitsha"),
        kernel_kconfig_full_hash=s.get("kernel_kconfig_full_hash"),
        kernel_cmdline_full_hash=str(s["kernel_cmdline_full_hash"]),
        userspace_name=str(s["userspace_name"]),
        cmdline=tuple(p.get("cmdline") or ()),
        sysctl=tuple(p.get("sysctl") or ()),
        bootscript=tuple(p.get("bootscript") or ()),
    )


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return str(n)


def table_rows(fp: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, value) rows describing one node, HW first, then SW."""
    n, s = fp["node"], fp["swprofile"]
    rows: list[tuple[str, str]] = [
        ("host_name", n["host_name"]),
        ("architecture", n["architecture"]),
        ("cpu_count", str(n["cpu_count"])),
        ("cpu_info_hash", n["cpu_info_hash"]),
        ("numa_count", str(n["numa_count"])),
        ("ram_sz", f"{n['ram_sz']} ({_human_bytes(int(n['ram_sz']))})"),
        ("hypervisor", n["hypervisor"] or "-"),
        ("product_name", n["product_name"] or "-"),
        ("product_serial", n["product_serial"] or "-"),
        ("mac_addrs_hash", f"{n['mac_addrs_hash']} ({n.get('mac_addrs_count', '?')} NICs)"),
    ]
    cpus = n.get("cpus") or []
    if cpus:
        first = json.loads(cpus[0]["desc"])
        model = first.get("model_name") or first.get("part") or first.get("arch", "")
        rows.append(("cpu[0]", f"{model} ({len(cpus)} CPUs)"))
    rows += [
        ("kernel_name", s["kernel_name"]),
        ("kernel_kconfig_full_hash", s.get("kernel_kconfig_full_hash") or "-"),
        ("kernel_cmdline_full_hash", s["kernel_cmdline_full_hash"]),
        ("cmdline", s.get("cmdline", "")),
        ("userspace_name", s["userspace_name"]),
        ("boot_id", fp["boot_id"]),
    ]
    return rows
