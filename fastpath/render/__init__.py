"""Render Ansible inputs (inventory, extra-vars) from plan data; pure except the writers.

Host aliases are ``node<i>`` (i = index in the plan's node list); every host carries
``fastpath_node_index`` and ``fastpath_node_name`` and belongs to the group
``fastpath_sut`` that fastpath's playbooks target.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

SUT_GROUP = "fastpath_sut"
DEFAULT_WORKBASE = "/tmp/fastpath-work"


def node_alias(index: int) -> str:
    return f"node{index}"


def _params(node: dict[str, Any]) -> dict[str, Any]:
    conn = node.get("connection") or {}
    method = str(conn.get("method", "SSH")).upper()
    if method != "SSH":
        raise ValueError(f"connection method {method} is not supported (only SSH)")
    return dict(conn.get("params") or {})


def host_vars(index: int, node: dict[str, Any]) -> dict[str, Any]:
    p = _params(node)
    hv: dict[str, Any] = {"ansible_host": str(p["host"])}
    if p.get("port"):
        hv["ansible_port"] = int(p["port"])
    if p.get("user"):
        hv["ansible_user"] = str(p["user"])
    if p.get("keyfile"):
        hv["ansible_ssh_private_key_file"] = str(p["keyfile"])
    hv["fastpath_node_index"] = index
    hv["fastpath_node_name"] = node.get("name")
    return hv


def render_inventory(nodes: list[dict[str, Any]], *,
                     known_hosts: Path | None = None) -> dict[str, Any]:
    """YAML-inventory dict for the SUT's nodes (``[{"name", "connection"}]``)."""
    hosts = {node_alias(i): host_vars(i, n) for i, n in enumerate(nodes)}
    group_vars: dict[str, Any] = {"ansible_python_interpreter": "/usr/bin/python3"}
    if known_hosts is not None:
        group_vars["ansible_ssh_common_args"] = (
            f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=accept-new "
            "-o LogLevel=ERROR")
    return {"all": {"children": {SUT_GROUP: {"hosts": hosts, "vars": group_vars}}}}


def node_addresses(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``benchmark.yaml`` ``nodes`` entries: index, name and the address used to reach it."""
    return [{"index": i, "name": n.get("name"), "address": str(_params(n)["host"])}
            for i, n in enumerate(nodes)]


def ssh_params(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """host/port/user/keyfile per node, exactly as the inventory gives them to Ansible."""
    out = []
    for n in nodes:
        p = _params(n)
        out.append({"host": str(p["host"]), "port": int(p["port"]) if p.get("port") else None,
                    "user": p.get("user") or None, "keyfile": p.get("keyfile") or None})
    return out


def benchmark_object(benchmark: dict[str, Any]) -> dict[str, Any]:
    """The benchmark object handed to containers (plan keys only, roles/rolemap filled)."""
    roles = list(benchmark.get("roles") or ["executor"])
    rolemap = {r: int((benchmark.get("rolemap") or {}).get(r, 0)) for r in roles}
    obj = {k: benchmark[k] for k in ("suite", "name", "type", "image", "params", "repeats",
                                     "sessions", "warmups", "timeout") if k in benchmark}
    obj["params"] = {str(k): str(v) for k, v in (benchmark.get("params") or {}).items()}
    obj["roles"] = roles
    obj["rolemap"] = rolemap
    return obj


def benchmark_extravars(benchmark: dict[str, Any], *, nodes: list[dict[str, Any]],
                        run_id: str, iterations: list[int], timeout_s: int,
                        fetch_dir: Path, workbase: str = DEFAULT_WORKBASE,
                        unpack: bool = False) -> dict[str, Any]:
    return {
        "fastpath_benchmark_spec": benchmark_object(benchmark),
        "fastpath_benchmark_iterations": list(iterations),
        "fastpath_benchmark_timeout": int(timeout_s),
        "fastpath_benchmark_run_id": run_id,
        "fastpath_benchmark_workbase": workbase,
        "fastpath_benchmark_nodes": node_addresses(nodes),
        "fastpath_benchmark_fetch_dir": str(fetch_dir),
        "fastpath_benchmark_unpack": unpack,
    }


def write_yaml(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=False),
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_inventory(run_dir: Path, nodes: list[dict[str, Any]]) -> Path:
    """``<run_dir>/inventory/hosts.yml`` (known_hosts kept in the run directory)."""
    run_dir = Path(run_dir).resolve()
    return write_yaml(run_dir / "inventory" / "hosts.yml",
                      render_inventory(nodes, known_hosts=run_dir / "known_hosts"))
