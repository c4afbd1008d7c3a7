"""fastpath's SUT-side modules and the action plugin that pipes them to ``python3 -``."""

from __future__ import annotations

import importlib.util
import json
import socketserver
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote

import pytest

from fastpath import paths

PLUGINS = [("fastpath_fingerprint", "fastpath_fingerprint_facts"),
           ("fastpath_benchmark", "fastpath_run_iterations")]


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def module_path(role: str, name: str) -> Path:
    return paths.roles_dir() / role / "library" / f"{name}.py"


def test_action_plugins_are_one_file_and_read_their_module_spec():
    texts = set()
    for role, name in PLUGINS:
        plugin = paths.roles_dir() / role / "action_plugins" / f"{name}.py"
        texts.add(plugin.read_text(encoding="utf-8"))
        source, spec, _check_mode = load(plugin, f"action_{name}")._module_source()
        assert source == module_path(role, name).read_text(encoding="utf-8")
        assert spec == load(module_path(role, name), name).ARGUMENT_SPEC
    assert len(texts) == 1  # the same plugin in both roles


def run_direct(role: str, name: str, params: dict, env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-", "--fastpath-direct", json.dumps(params)],
        input=module_path(role, name).read_text(encoding="utf-8"), capture_output=True,
        text=True, env=env, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fingerprint_direct_reports_docker_not_installed(tmp_path):
    # no docker (nor other tools) on PATH: the fingerprint still works, Docker is reported
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    res = run_direct("fastpath_fingerprint", "fastpath_fingerprint_facts",
                     {"use_sudo": False, "docker_images": ["img:1"]}, env)
    facts = res["ansible_facts"]
    fp = facts["fastpath_fingerprint"]
    assert fp["boot_id"] and fp["node"]["cpu_count"] >= 1 and fp["swprofile"]["kernel_name"]
    assert facts["fastpath_fingerprint_docker"] == {
        "usable": False, "message": "docker is not installed", "version": "",
        "images": ["img:1"], "missing": []}
    # without docker_images there is no Docker check at all
    res = run_direct("fastpath_fingerprint", "fastpath_fingerprint_facts",
                     {"use_sudo": False, "docker_images": None}, env)
    assert "fastpath_fingerprint_docker" not in res["ansible_facts"]


class _FakeDocker(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str):
        self.requests: list[tuple[str, str]] = []
        self.containers = {"c1": {"Id": "id1", "State": {"ExitCode": 3, "OOMKilled": True}}}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def address_string(self):
                return "unix"

            def _reply(self, status, body=None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                server.requests.append(("GET", self.path))
                if self.path.startswith("/containers/json"):
                    self._reply(200, [{"Id": c["Id"]} for c in server.containers.values()])
                    return
                name = self.path.split("/")[2]
                if name in server.containers:
                    self._reply(200, server.containers[name])
                else:
                    self._reply(404, {"message": "no such container"})

            def do_DELETE(self):
                server.requests.append(("DELETE", self.path))
                name = self.path.split("/")[2].split("?")[0]
                self._reply(204 if server.containers.pop(name, None) else 404)

        super().__init__(path, Handler)


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    sock = str(tmp_path / "docker.sock")
    server = _FakeDocker(sock)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    yield server
    server.shutdown()
    server.server_close()


def test_container_calls_use_the_engine_api_on_a_unix_socket(fake_docker):
    mod = load(module_path("fastpath_benchmark", "fastpath_run_iterations"), "ri")
    docker = mod.Docker()
    assert docker.state("c1") == {"ExitCode": 3, "OOMKilled": True}
    assert docker.state("gone") == {}
    assert docker.names_matching("fp-run-node0-i") == ["id1"]
    docker.remove("c1", "gone")  # a missing container is fine, no CLI fallback needed
    assert fake_docker.containers == {}
    methods = [m for m, _ in fake_docker.requests]
    assert methods == ["GET", "GET", "GET", "DELETE", "DELETE"]
    flt = json.loads(unquote(fake_docker.requests[2][1].split("filters=")[1]))
    assert flt == {"name": ["^/?fp\\-run\\-node0\\-i"]}
    assert docker.socket is not None


@pytest.mark.parametrize("env", [{"DOCKER_HOST": "tcp://10.0.0.1:2375"},
                                 {"DOCKER_HOST": "ssh://sut"},
                                 {"DOCKER_CONTEXT": "remote"}])
def test_docker_cli_is_used_when_the_daemon_is_not_a_unix_socket(monkeypatch, env):
    mod = load(module_path("fastpath_benchmark", "fastpath_run_iterations"), "ri")
    for key in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert mod.Docker().socket is None


def test_docker_context_in_config_means_cli(tmp_path, monkeypatch):
    mod = load(module_path("fastpath_benchmark", "fastpath_run_iterations"), "ri")
    for key in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "colima"}))
    assert mod.Docker().socket is None
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "default"}))
    assert mod.Docker().socket == "/var/run/docker.sock"


def test_a_dead_socket_falls_back_to_the_cli(tmp_path, monkeypatch):
    mod = load(module_path("fastpath_benchmark", "fastpath_run_iterations"), "ri")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nothing.sock'}")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "")

    monkeypatch.setattr(mod.subprocess, "run", fake_run)
    docker = mod.Docker()
    assert docker.state("c1") == {}
    assert docker.socket is None  # no more API attempts after a connection failure
    docker.remove("c1")
    assert calls == [["docker", "inspect", "--format", "{{json .State}}", "c1"],
                     ["docker", "rm", "-f", "c1"]]
