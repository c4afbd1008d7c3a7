"""Plan checks that JSON Schema cannot express (run after schema validation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastpath import paths, preferences
from fastpath.errors import Problem
from fastpath.plan.model import DEFAULT_ROLE, infer_pkgtype, is_url, swprofile_name
from fastpath.plan.yamlsrc import JsonPath, Source, display_path, format_path


def resolve_path(value: str, base: Path) -> Path:
    return (base / Path(value).expanduser()).resolve()


def check_plan(data: dict[str, Any], src: Source, plan_file: Path, *,
               require_connection: bool = True) -> list[Problem]:
    fallback = display_path(plan_file)
    base = plan_file.resolve().parent
    problems: list[Problem] = []

    def add(path: JsonPath, message: str, hint: str | None = None, *, key: bool = False) -> None:
        loc = (src.keys.get(path) if key else None) or src.locate(path)
        problems.append(Problem(str(loc) if loc else fallback, format_path(path), message, hint))

    def check_file(path: JsonPath, value: Any, what: str) -> None:
        if not isinstance(value, str) or not value or is_url(value):
            return
        resolved = resolve_path(value, base)
        if not resolved.is_file():
            add(path, f"{what} file {resolved} does not exist",
                "fix the path (relative paths are relative to the plan file) or give a URL")

    sut = data.get("sut")
    node_names: list[str | None] = []
    node_count = 0
    if isinstance(sut, dict):
        has_conn, has_nodes = "connection" in sut, "nodes" in sut
        if has_conn and has_nodes:
            add(("sut", "nodes"), "give either 'connection' (one node) or 'nodes', not both",
                "move the connection into a node of 'nodes', or drop 'nodes'", key=True)
        elif not has_conn and not has_nodes and (require_connection or not sut.get("sutclass")):
            add(("sut",), "the SUT has neither 'connection' nor 'nodes'",
                "add connection: {method: SSH, params: {host: ...}}")
        connections: list[tuple[JsonPath, Any]] = []
        if has_conn:
            node_count = 1
            node_names = [sut.get("name")]
            connections.append((("sut", "connection"), sut.get("connection")))
        elif isinstance(sut.get("nodes"), list):
            node_count = len(sut["nodes"])
            seen: dict[str, int] = {}
            for i, node in enumerate(sut["nodes"]):
                if not isinstance(node, dict):
                    continue
                name = node.get("name")
                node_names.append(name)
                if isinstance(name, str):
                    if name in seen:
                        add(("sut", "nodes", i, "name"),
                            f"node name '{name}' is already used by sut.nodes[{seen[name]}]",
                            "give every node a unique name")
                    seen.setdefault(name, i)
                connections.append((("sut", "nodes", i, "connection"), node.get("connection")))
        for path, conn in connections:
            if isinstance(conn, dict) and isinstance(conn.get("params"), dict):
                keyfile = conn["params"].get("keyfile")
                if isinstance(keyfile, str) and keyfile:
                    resolved = resolve_path(keyfile, base)
                    if not resolved.is_file():
                        add(path + ("params", "keyfile"),
                            f"key file {resolved} does not exist",
                            "give the private key of the SUT user (ssh-keygen creates one)")

    profiles = data.get("swprofiles")
    if isinstance(profiles, list):
        names: dict[str, int] = {}
        for i, prof in enumerate(profiles):
            if not isinstance(prof, dict):
                continue
            at: JsonPath = ("swprofiles", i)
            name = swprofile_name(prof, i)
            if isinstance(name, str):
                if name in names:
                    first = names[name]
                    unnamed = not (prof.get("name") and profiles[first].get("name"))
                    add(at + ("name",), f"swprofile name '{name}' is already used by "
                        f"swprofiles[{first}]" + (" (unnamed profiles are named swprofile-N"
                                                  " after their position)" if unnamed else ""),
                        "give every swprofile a unique name")
                names.setdefault(name, i)
            kernel = prof.get("kernel")
            pkgtype = prof.get("pkgtype")
            if pkgtype is None and isinstance(kernel, str):
                pkgtype = infer_pkgtype(kernel)
            if prof.get("modules") is not None and pkgtype == "DEB":
                add(at + ("modules",), "modules can only be given with pkgtype RAW",
                    "a DEB package carries its own modules: remove 'modules'", key=True)
            check_file(at + ("kernel",), kernel, "kernel")
            check_file(at + ("modules",), prof.get("modules"), "modules")

    benchmarks = data.get("benchmarks")
    if isinstance(benchmarks, list):
        for i, bench in enumerate(benchmarks):
            if not isinstance(bench, dict):
                continue
            at = ("benchmarks", i)
            roles = bench.get("roles") if isinstance(bench.get("roles"), list) else [DEFAULT_ROLE]
            rolemap = bench.get("rolemap")
            if not isinstance(rolemap, dict):
                continue
            for role, target in rolemap.items():
                rpath = at + ("rolemap", role)
                if role not in roles:
                    add(rpath, f"rolemap names role '{role}' which the benchmark does not have",
                        f"its roles are: {', '.join(map(str, roles))}", key=True)
                if isinstance(target, bool):
                    continue
                if isinstance(target, int) and node_count and target >= node_count:
                    add(rpath, f"node index {target} does not exist (the SUT has {node_count} "
                        f"node{'s' if node_count != 1 else ''})",
                        f"use an index from 0 to {node_count - 1} or a node name")
                elif isinstance(target, str) and target not in node_names:
                    known = ", ".join(n for n in node_names if isinstance(n, str)) or "none"
                    add(rpath, f"no node is named '{target}'",
                        f"named nodes: {known}; or use a node index")

    setup = data.get("setup")
    roles = setup.get("roles") if isinstance(setup, dict) else None
    if isinstance(roles, list):
        search = [paths.roles_dir(), *preferences.roles_paths(), base / "roles"]
        for i, role in enumerate(roles):
            if not isinstance(role, str) or not role or _role_found(role, search, base):
                continue
            add(("setup", "roles", i), f"custom role '{role}' was not found (searched "
                f"{', '.join(str(p) for p in search)})",
                "put the role in roles/ beside the plan or in a directory of the "
                "global.roles preference, or fix the name")
    return problems


def _role_found(role: str, search: list[Path], base: Path) -> bool:
    if "/" in role:  # a path to the role directory, as Ansible accepts
        return resolve_path(role, base).is_dir()
    if "." in role:  # a collection role (namespace.collection.role): Ansible resolves it
        return True
    return any((Path(d).expanduser() / role).is_dir() for d in search)
