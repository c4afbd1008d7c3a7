"""Content hashes (SHA-256, hex) that identify resultstore objects across stores.

The guide's hashes (``params_hash``, ``roles_hash``, ``nodes_hash``, ``rmdescs_hash``) and
fastpath's ``key_hash`` columns are SHA-256 over a canonical JSON text: UTF-8, keys sorted,
no insignificant whitespace.  Because they depend on content only (never on row ids), the
same object gets the same hash in every store, which is what lets ingest and merge
deduplicate.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sha256(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def params_hash(params: dict[str, str]) -> str:
    return sha256({str(k): str(v) for k, v in params.items()})


def roles_hash(roles: list[str]) -> str:
    return sha256(list(roles))


def node_content(node: dict[str, Any], cpus: list[tuple[int, str]]) -> dict[str, Any]:
    """The hashed structure of one node: its columns (no ids) and its CPUs."""
    fields = ("name", "host_name", "architecture", "cpu_count", "cpu_info_hash", "numa_count",
              "ram_sz", "hypervisor", "product_name", "product_serial", "mac_addrs_hash")
    out: dict[str, Any] = {f: node[f] for f in fields}
    out["cpus"] = [[int(i), d] for i, d in sorted(cpus)]
    return out


def nodes_hash(nodes: list[dict[str, Any]]) -> str:
    """``sut.nodes_hash``: all node structures, in node order."""
    return sha256(nodes)


def sutclass_key(name: str) -> str:
    return sha256(["sutclass", name])


def sut_key(name: str | None, sutclass: str | None, nodes_hash_: str) -> str:
    return sha256(["sut", name, sutclass, nodes_hash_])


def swprofile_key(row: dict[str, Any]) -> str:
    fields = ("name", "kernel_name", "kernel_git_sha", "kernel_kconfig_full_hash",
              "kernel_cmdline_full_hash", "userspace_name", "cmdline", "sysctl", "bootscript")
    return sha256(["swprofile", *[row[f] for f in fields]])


def benchmark_key(row: dict[str, Any]) -> str:
    fields = ("suite", "name", "type", "image", "params_hash", "roles_hash")
    return sha256(["benchmark", *[row[f] for f in fields]])


def resultclass_key(benchmark_key_: str, name: str, unit: str, improvement: str) -> str:
    return sha256(["resultclass", benchmark_key_, name, unit, improvement])


def rmdescs_hash(sut_key_: str, benchmark_key_: str, mapping: list[tuple[str, int]]) -> str:
    """``rolemap.rmdescs_hash``: every (role name, node position in the SUT) of one rolemap,
    qualified by the SUT and benchmark they belong to."""
    return sha256(["rolemap", sut_key_, benchmark_key_, sorted([r, int(i)] for r, i in mapping)])
