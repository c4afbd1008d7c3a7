#!/usr/bin/python3
# fastpath: run benchmark iterations (containers) on one SUT node in a single task.
"""Ansible module: run a benchmark's iterations on this node, one JSON line per iteration."""

from __future__ import annotations

DOCUMENTATION = r"""
module: fastpath_run_iterations
short_description: Run a fastpath benchmark's iterations on one SUT node
description:
  - For each iteration and each of this node's role containers, prepares a fresh share
    directory holding benchmark.yaml and an empty output/, runs
    C(timeout -k KILL_AFTER T docker run --init --name NAME --network host
    -v SHARE:/fastpath-share IMAGE), reads the container state (exit code, OOM kill),
    always removes the container, and appends one JSON line per iteration to the progress
    file (tail it for live progress).
  - The role containers of one iteration run in parallel.  Container failures never fail
    the task; they are reported per iteration.  At the end the share directories are
    packed into C(archive) for fetching.
options:
  workdir: {description: Per-run directory on the node (created; removed by the next run with the same base)., type: str, required: true}
  image: {description: Container image., type: str, required: true}
  timeout: {description: Seconds before a container is killed., type: int, required: true}
  kill_after: {description: Seconds between TERM and KILL on timeout., type: int, default: 5}
  iterations: {description: Iteration numbers to run, in order., type: list, elements: int, required: true}
  benchmark: {description: "The normalised benchmark object (suite, name, params, roles, rolemap...).", type: dict, required: true}
  node_index: {description: This node's index in the SUT's node list., type: int, default: 0}
  nodes: {description: "Every node of the SUT: list of {index, name, address}.", type: list, elements: dict, default: []}
  name_prefix: {description: Prefix of container names (made unique per iteration and role)., type: str, required: true}
  docker_args: {description: Extra arguments for docker run., type: list, elements: str, default: []}
  archive: {description: Path of the tar.gz of all share directories (empty = none)., type: str, default: ""}
  clean_base: {description: "Remove older run directories (idle for 6 hours) under this path first (empty = none).", type: str, default: ""}
author: fastpath developers
"""

RETURN = r"""
iterations:
  description: One record per iteration; C(containers) holds exit code, oom, timed_out per role.
  returned: always
  type: list
archive:
  description: Path of the archive with every iteration's share directory.
  returned: always
  type: str
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone
from urllib.parse import quote

# Validated on the controller by the role's action plugin, which pipes this file to the
# SUT's python3 (see main()); AnsibleModule uses the same spec when run as a plain module.
ARGUMENT_SPEC = {
    "workdir": {"type": "str", "required": True},
    "image": {"type": "str", "required": True},
    "timeout": {"type": "int", "required": True},
    "kill_after": {"type": "int", "default": 5},
    "iterations": {"type": "list", "elements": "int", "required": True},
    "benchmark": {"type": "dict", "required": True},
    "node_index": {"type": "int", "default": 0},
    "nodes": {"type": "list", "elements": "dict", "default": []},
    "name_prefix": {"type": "str", "required": True},
    "docker_args": {"type": "list", "elements": "str", "default": []},
    "archive": {"type": "str", "default": ""},
    "clean_base": {"type": "str", "default": ""},
}
SUPPORTS_CHECK_MODE = False
DIRECT = "--fastpath-direct"


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _idle_for(path):
    """Seconds since anything directly in ``path`` (or the progress file) changed."""
    newest = 0.0
    for cand in (path, os.path.join(path, "progress.jsonl")):
        try:
            newest = max(newest, os.stat(cand).st_mtime)
        except OSError:
            pass
    return time.time() - newest


def _sudo_rm(path):
    """Containers write as root: remove with sudo when a plain remove fails."""
    shutil.rmtree(path, ignore_errors=True)
    if os.path.exists(path):
        subprocess.run(["sudo", "-n", "rm", "-rf", "--", path], capture_output=True)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class Docker:
    """Container inspect/remove/list: the Engine API on the daemon's unix socket when the
    docker CLI would use one (~20 ms less per call than starting the CLI, which matters
    once per iteration), else -- DOCKER_HOST tcp/ssh, a docker context, any API error --
    the docker CLI.  ``docker run`` itself always goes through the CLI."""

    def __init__(self):
        self.socket = self._socket_path()

    @staticmethod
    def _socket_path():
        host = os.environ.get("DOCKER_HOST", "")
        if os.environ.get("DOCKER_CONTEXT"):
            return None
        if not host:
            config = os.path.join(os.environ.get("DOCKER_CONFIG")
                                  or os.path.expanduser("~/.docker"), "config.json")
            try:
                with open(config, encoding="utf-8") as fh:
                    if json.load(fh).get("currentContext", "default") != "default":
                        return None
            except (OSError, ValueError, AttributeError):
                pass
            host = "unix:///var/run/docker.sock"
        return host[len("unix://"):] if host.startswith("unix://") else None

    def _api(self, method, path):
        """(status, parsed JSON body or None), or None when the API cannot be used."""
        if not self.socket:
            return None
        try:
            conn = _UnixHTTPConnection(self.socket, timeout=60)
            try:
                conn.request(method, path)
                resp = conn.getresponse()
                body = resp.read()
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            self.socket = None  # use the CLI from now on
            return None
        if resp.status >= 500:
            return None
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        return resp.status, data

    def state(self, name):
        """The container's .State dict ({} when unknown)."""
        got = self._api("GET", f"/containers/{quote(name, safe='')}/json")
        if got is not None:
            status, data = got
            return (data or {}).get("State") or {} if status == 200 else {}
        insp = subprocess.run(["docker", "inspect", "--format", "{{json .State}}", name],
                              capture_output=True, text=True)
        if insp.returncode == 0:
            try:
                return json.loads(insp.stdout)
            except ValueError:
                pass
        return {}

    def remove(self, *names):
        """Force-remove containers (missing ones are fine)."""
        rest = []
        for name in names:
            got = self._api("DELETE", f"/containers/{quote(name, safe='')}?force=1")
            if got is None or got[0] not in (204, 404):
                rest.append(name)
        if rest:
            subprocess.run(["docker", "rm", "-f", *rest], capture_output=True)

    def names_matching(self, prefix):
        """Ids of containers (any state) whose name starts with ``prefix``."""
        filters = quote(json.dumps({"name": [f"^/?{re.escape(prefix)}"]}), safe="")
        got = self._api("GET", f"/containers/json?all=1&filters={filters}")
        if got is not None and got[0] == 200 and isinstance(got[1], list):
            return [c["Id"] for c in got[1] if c.get("Id")]
        return subprocess.run(["docker", "ps", "-aq", "--filter", f"name=^{prefix}"],
                              capture_output=True, text=True).stdout.split()


def _start(share, name, image, timeout, kill_after, docker_args):
    cmd = ["timeout", "-k", str(kill_after), str(timeout), "docker", "run", "--init",
           "--name", name, "--network", "host", "-v", f"{share}:/fastpath-share",
           *docker_args, image]
    log = open(os.path.join(os.path.dirname(share), "docker-run.log"), "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return proc


def _finish(docker, proc, name, started, share, timeout):
    rc = proc.wait()
    seconds = time.monotonic() - started
    state = {}
    if rc != 0:  # why did it fail? (OOM kill, still running after a timeout...)
        state = docker.state(name)
    docker.remove(name)
    oom = bool(state.get("OOMKilled"))
    timed_out = rc in (124, 137) and seconds >= timeout and not oom
    exit_code = rc
    if state and not state.get("Running") and "ExitCode" in state and not timed_out:
        exit_code = state["ExitCode"]
    log_path = os.path.join(os.path.dirname(share), "docker-run.log")
    try:
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            tail = fh.read()[-2000:]
    except OSError:
        tail = ""
    return {
        "ended": _now(),
        "exit_code": exit_code,
        "run_rc": rc,
        "oom_killed": oom,
        "timed_out": bool(timed_out),
        "seconds": round(seconds, 3),
        "results_csv": os.path.exists(os.path.join(share, "results.csv")),
        "docker_log_tail": tail if rc != 0 else "",
    }


def _scalar(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


_SPECIAL = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def _key(key):
    text = str(key)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", text) and text.lower() not in _SPECIAL:
        return text
    return json.dumps(text, ensure_ascii=False)


def to_yaml(value, indent=0):
    """Block-style YAML for plain data (strings double-quoted, so types never change)."""
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{_key(k)}:\n{to_yaml(v, indent + 2)}")
            else:
                empty = "{}" if isinstance(v, dict) else "[]" if isinstance(v, list) else None
                lines.append(f"{pad}{_key(k)}: {empty or _scalar(v)}\n")
        return "".join(lines)
    if isinstance(value, list):
        for v in value:
            if isinstance(v, dict) and v:
                body = to_yaml(v, indent + 2)
                lines.append(f"{pad}- {body[indent + 2:]}")
            elif isinstance(v, list) and v:
                lines.append(f"{pad}-\n{to_yaml(v, indent + 2)}")
            else:
                lines.append(f"{pad}- {_scalar(v)}\n")
        return "".join(lines)
    return pad + _scalar(value) + "\n"


def containers_for(benchmark, node_index, nodes):
    """(role, benchmark.yaml text) for every role mapped to this node."""
    roles = [str(r) for r in (benchmark.get("roles") or ["executor"])]
    rolemap = {r: int((benchmark.get("rolemap") or {}).get(r, 0)) for r in roles}
    out = []
    for role in roles:
        if rolemap[role] != node_index:
            continue
        doc = dict(benchmark)
        doc["roles"] = roles
        doc["rolemap"] = rolemap
        doc["role"] = role
        doc["nodes"] = [{"index": int(n.get("index", i)), "name": n.get("name"),
                         "address": n.get("address")} for i, n in enumerate(nodes)]
        out.append({"role": role, "benchmark_yaml": "# written by fastpath\n" + to_yaml(doc)})
    return out


def run(p):
    """The module result for validated parameters ``p``."""
    workdir = os.path.expanduser(os.path.expandvars(p["workdir"]))
    containers_spec = containers_for(p["benchmark"], p["node_index"], p["nodes"])
    if not containers_spec:  # no role of this benchmark is mapped to this node
        return {"changed": False, "iterations": [], "archive": "", "roles": []}
    if p["clean_base"] and os.path.isdir(p["clean_base"]):
        # Older runs' directories; ones touched in the last hours may belong to another
        # fastpath run sharing this machine (e.g. two loopback SUTs), so they stay.
        for entry in os.listdir(p["clean_base"]):
            path = os.path.join(p["clean_base"], entry)
            if os.path.abspath(path) != os.path.abspath(workdir) and _idle_for(path) > 6 * 3600:
                _sudo_rm(path)
    os.makedirs(workdir, exist_ok=True)
    progress = os.path.join(workdir, "progress.jsonl")
    # Containers left over from an interrupted run with the same names: one call, not one
    # per iteration (every container is removed right after it ends).
    docker = Docker()
    stale = docker.names_matching(f"{p['name_prefix']}-i")
    if stale:
        docker.remove(*stale)
    records = []
    for it in p["iterations"]:
        running = []
        began = _now()
        for c in containers_spec:
            role = str(c["role"])
            idir = os.path.join(workdir, str(it), role)
            share = os.path.join(idir, "share")
            if os.path.exists(idir):
                _sudo_rm(idir)
            os.makedirs(os.path.join(share, "output"))
            os.chmod(share, 0o777)
            os.chmod(os.path.join(share, "output"), 0o777)
            with open(os.path.join(share, "benchmark.yaml"), "w", encoding="utf-8") as fh:
                fh.write(str(c["benchmark_yaml"]))
            name = f"{p['name_prefix']}-i{it}-{role}"[:120]
            running.append((role, idir, share, name, time.monotonic(),
                            _start(share, name, p["image"], p["timeout"], p["kill_after"],
                                   p["docker_args"])))
        containers = {}
        for role, idir, share, name, started, proc in running:
            status = _finish(docker, proc, name, started, share, p["timeout"])
            containers[role] = status
            with open(os.path.join(idir, "status.json"), "w", encoding="utf-8") as fh:
                json.dump(status, fh, indent=1)
        rec = {"iteration": it, "started": began, "ended": _now(), "containers": containers}
        records.append(rec)
        with open(progress, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
    archive = p["archive"]
    if archive:
        tmp = archive + ".tmp"
        with tarfile.open(tmp, "w:gz") as tar:
            for entry in sorted(os.listdir(workdir)):
                path = os.path.join(workdir, entry)
                if not (entry.isdigit() and os.path.isdir(path)):
                    continue
                for root, dirs, files in os.walk(path):
                    dirs.sort()
                    for f in sorted(files):
                        full = os.path.join(root, f)
                        arc = os.path.relpath(full, workdir)
                        if f == "docker-run.log":
                            continue
                        try:
                            tar.add(full, arcname=arc, recursive=False)
                        except OSError:
                            pass  # unreadable file written by the container
            if os.path.exists(progress):
                tar.add(progress, arcname="progress.jsonl")
        os.replace(tmp, archive)
        with open(progress, "a", encoding="utf-8") as fh:  # ends remote followers
            fh.write(json.dumps({"done": True, "archive": archive}) + "\n")
    return {"changed": True, "iterations": records, "archive": archive,
            "roles": [c["role"] for c in containers_spec]}


def main():
    if len(sys.argv) == 3 and sys.argv[1] == DIRECT:
        # piped to `python3 - --fastpath-direct ARGS` by the action plugin (no Ansible here)
        print(json.dumps(run(json.loads(sys.argv[2]))))
        return
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=SUPPORTS_CHECK_MODE)
    module.exit_json(**run(module.params))


if __name__ == "__main__":
    main()
