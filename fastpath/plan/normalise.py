"""Normalisation: defaults applied, pkgtype inferred, rolemaps resolved, paths absolute.

The output key order follows the user guide's ``plan show`` example.  Normalising an
already normalised plan gives the same plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastpath.plan.model import (
    BENCHMARK_DEFAULTS,
    DEFAULT_ROLE,
    infer_pkgtype,
    is_url,
    swprofile_name,
)
from fastpath.plan.semantic import resolve_path


def _path(value: str | None, base: Path) -> str | None:
    if value is None or is_url(value):
        return value
    return str(resolve_path(value, base))


def _connection(conn: dict[str, Any], base: Path) -> dict[str, Any]:
    params = conn.get("params") or {}
    return {
        "method": conn.get("method", "SSH"),
        "params": {
            "host": params.get("host"),
            "user": params.get("user"),
            "port": params.get("port"),
            "keyfile": _path(params.get("keyfile"), base),
        },
    }


def normalise_benchmark(bench: dict[str, Any], defaults: dict[str, Any],
                        node_names: list[str | None]) -> dict[str, Any]:
    roles = list(bench.get("roles") or [DEFAULT_ROLE])
    given = bench.get("rolemap") or {}
    rolemap: dict[str, int] = {}
    for role in roles:
        target = given.get(role, 0)
        if isinstance(target, str):
            target = node_names.index(target) if target in node_names else 0
        rolemap[role] = int(target)
    return {
        "suite": bench.get("suite") or "unknown",
        "name": bench["name"],
        "type": bench.get("type") or "unknown",
        "params": {str(k): str(v) for k, v in (bench.get("params") or {}).items()},
        "image": bench["image"],
        "repeats": bench.get("repeats", defaults["repeats"]),
        "sessions": bench.get("sessions", defaults["sessions"]),
        "warmups": bench.get("warmups", defaults["warmups"]),
        "timeout": bench.get("timeout", defaults["timeout"]),
        "roles": roles,
        "rolemap": rolemap,
    }


def normalise_plan(data: dict[str, Any], plan_file: Path) -> dict[str, Any]:
    base = plan_file.resolve().parent
    given_defaults = ((data.get("defaults") or {}).get("benchmark")) or {}
    defaults = {k: given_defaults.get(k, v) for k, v in BENCHMARK_DEFAULTS.items()}

    sut_in = data["sut"]
    sut: dict[str, Any] = {"sutclass": sut_in.get("sutclass"), "name": sut_in.get("name")}
    node_names: list[str | None]
    if "nodes" in sut_in:
        sut["nodes"] = [
            {"name": n.get("name"), "connection": _connection(n["connection"], base)}
            for n in sut_in["nodes"]
        ]
        node_names = [n.get("name") for n in sut_in["nodes"]]
    elif "connection" in sut_in:
        sut["connection"] = _connection(sut_in["connection"], base)
        node_names = [sut_in.get("name")]
    else:
        node_names = []
    sut["powercycle"] = sut_in.get("powercycle")

    profiles = []
    for i, prof in enumerate(data["swprofiles"]):
        kernel = prof["kernel"]
        profiles.append({
            "name": swprofile_name(prof, i),
            "pkgtype": prof.get("pkgtype") or infer_pkgtype(kernel),
            "kernel": _path(kernel, base),
            "modules": _path(prof.get("modules"), base),
            "cmdline": list(prof.get("cmdline") or []),
            "sysctl": [s.strip() for s in prof.get("sysctl") or []],
            "bootscript": list(prof.get("bootscript") or []),
            "gitsha": prof["gitsha"].lower() if prof.get("gitsha") else None,
        })

    benchmarks = [normalise_benchmark(b, defaults, node_names) for b in data["benchmarks"]]
    setup = {"roles": list(((data.get("setup") or {}).get("roles")) or [])}
    return {
        "defaults": {"benchmark": defaults},
        "sut": sut,
        "setup": setup,
        "swprofiles": profiles,
        "benchmarks": benchmarks,
    }
