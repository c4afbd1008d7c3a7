"""Rendering of inventories, extra-vars and the container's benchmark.yaml."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

from fastpath import paths, render


def conn(host, port=None, user=None, keyfile=None):
    return {"method": "SSH", "params": {"host": host, "port": port, "user": user,
                                        "keyfile": keyfile}}


NODES = [{"name": "srv", "connection": conn("10.0.0.1", 2222, "fpuser", "/k/id")},
         {"name": None, "connection": conn("client.example")}]


def runner_module():
    path = paths.roles_dir() / "fastpath_benchmark" / "library" / "fastpath_run_iterations.py"
    spec = importlib.util.spec_from_file_location("fastpath_run_iterations", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_inventory_has_group_aliases_and_connection_vars(tmp_path):
    inv = render.render_inventory(NODES, known_hosts=tmp_path / "kh")
    group = inv["all"]["children"]["fastpath_sut"]
    assert group["hosts"] == {
        "node0": {"ansible_host": "10.0.0.1", "ansible_port": 2222, "ansible_user": "fpuser",
                  "ansible_ssh_private_key_file": "/k/id", "fastpath_node_index": 0,
                  "fastpath_node_name": "srv"},
        "node1": {"ansible_host": "client.example", "fastpath_node_index": 1,
                  "fastpath_node_name": None},
    }
    assert f"UserKnownHostsFile={tmp_path / 'kh'}" in group["vars"]["ansible_ssh_common_args"]


def test_write_inventory_round_trips(tmp_path):
    path = render.write_inventory(tmp_path, NODES)
    assert path == tmp_path.resolve() / "inventory" / "hosts.yml"
    assert yaml.safe_load(path.read_text()) == render.render_inventory(
        NODES, known_hosts=tmp_path.resolve() / "known_hosts")


def test_benchmark_extravars_fill_roles_and_stringify_params(tmp_path):
    b = {"suite": "s", "name": "n", "type": "t", "image": "img:1", "params": {"x": "1"},
         "repeats": 2, "warmups": 1, "sessions": 1, "timeout": "5m", "roles": ["a", "b"],
         "rolemap": {"b": 1}}
    ev = render.benchmark_extravars(b, nodes=NODES, run_id="r", iterations=[2, 3],
                                    timeout_s=300, fetch_dir=tmp_path)
    spec = ev["fastpath_benchmark_spec"]
    assert spec["rolemap"] == {"a": 0, "b": 1} and spec["roles"] == ["a", "b"]
    assert ev["fastpath_benchmark_iterations"] == [2, 3]
    assert ev["fastpath_benchmark_timeout"] == 300
    assert ev["fastpath_benchmark_nodes"] == [
        {"index": 0, "name": "srv", "address": "10.0.0.1"},
        {"index": 1, "name": None, "address": "client.example"}]


def test_benchmark_yaml_keeps_strings_and_adds_role_rolemap_nodes():
    mod = runner_module()
    b = {"suite": "s", "name": "n", "params": {"cpus": "4", "ver": "1.10", "gov": "on",
                                                "odd key": "a: b", "empty": ""},
         "roles": ["server", "client"], "rolemap": {"server": 0, "client": 1}}
    nodes = [{"index": 0, "name": "a", "address": "10.0.0.1"},
             {"index": 1, "name": None, "address": "h"}]
    on0 = mod.containers_for(b, 0, nodes)
    on1 = mod.containers_for(b, 1, nodes)
    assert [c["role"] for c in on0] == ["server"] and [c["role"] for c in on1] == ["client"]
    doc = yaml.safe_load(on1[0]["benchmark_yaml"])
    assert doc["params"] == b["params"]  # every value still a string
    assert doc["role"] == "client" and doc["rolemap"] == {"server": 0, "client": 1}
    assert doc["nodes"] == nodes
    assert mod.containers_for(b, 2, nodes) == []
    # default role and rolemap
    single = mod.containers_for({"name": "x"}, 0, [])
    assert yaml.safe_load(single[0]["benchmark_yaml"])["role"] == "executor"


def test_to_yaml_nesting_round_trips():
    mod = runner_module()
    data = {"a": [], "b": {}, "c": [[1, 2], {"x": 1, "y": [True, None]}], "yes": "no",
            "n": 1.5, "s": "multi\nline"}
    assert yaml.safe_load(mod.to_yaml(data)) == data


def test_inventory_file_is_what_the_playbooks_target():
    text = (paths.playbooks_dir() / "run_benchmark.yml").read_text()
    assert "fastpath_sut" in text
    assert Path(paths.ansible_cfg()).is_file()
