"""The built-in benchmark library agrees with its containers; ``fastpath benchmark list|show``."""

from __future__ import annotations

import pytest
import yaml

from fastpath.cli.main import main
from fastpath.library import find_fragment, list_fragments
from fastpath.paths import builtin_library, containers_dir
from tests.unit.benchmark_exec import SUITES, helper, load_exec

fb = helper()


@pytest.fixture(autouse=True)
def _no_user_library(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASTPATH_GLOBAL_LIBRARY", raising=False)


def test_every_fragment_matches_its_container():
    fragments, broken = list_fragments()
    assert not broken, [b.render() for b in broken]
    suites = {f.benchmark["suite"] for f in fragments}
    assert suites == set(SUITES)
    for f in fragments:
        b = f.benchmark
        suite_dir = containers_dir() / b["suite"]
        assert f.ref.split("/")[0] == b["suite"], f.ref
        assert f.ref.split("/")[1] == b["name"], f"{f.ref}: file name differs from name"
        assert b["image"] == (suite_dir / "TAG").read_text().strip(), f.ref
        module = load_exec(b["suite"])
        roles = getattr(module, "ROLES", (fb.DEFAULT_ROLE,))
        assert tuple(b["roles"]) == tuple(roles), f.ref
        # the container accepts the fragment's params exactly as the plan passes them
        fb.validate_params(b["params"], module.PARAMS)
        if b["suite"] == "sysbench":
            module.command(fb.validate_params(b["params"], module.PARAMS))
    names = {f.suite_name for f in fragments}
    assert {"sysbench/cpu", "sysbench/cpu-1thread", "iperf3/tcp", "fio/randrw"} <= names


def test_every_container_has_tag_dockerfile_and_exec():
    for suite in SUITES:
        d = containers_dir() / suite
        assert (d / "Dockerfile").is_file() and (d / "exec.py").is_file()
        tag = (d / "TAG").read_text().strip()
        assert tag == f"fastpath/{suite}:1.0"
        text = (d / "Dockerfile").read_text()
        assert "FROM ${BASE}" in text and "ARG BASE=fastpath/base:bookworm-1" in text
        assert f"COPY {suite}/exec.py /fastpath/exec.py" in text


def test_single_role_accepts_the_guides_executer_spelling():
    doc = {"suite": "x", "name": "y", "params": {}, "role": "executer"}
    assert fb.load_benchmark(doc, "x", {}).role == "executor"


def run(capsys, *args):
    rc = main(["benchmark", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def _variant_library(tmp_path):
    lib = tmp_path / "lib"
    (lib / "mysuite").mkdir(parents=True)
    (lib / "mysuite" / "cpu-2threads.yaml").write_text(
        "include: sysbench/cpu.yaml\nname: cpu-2threads\nsuite: mysuite\nparams:\n  threads: 2\n")
    return lib


def test_list_and_show_through_the_cli(tmp_path, capsys):
    rc, out, err = run(capsys, "list")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["benchmark", "type", "image", "roles", "params"]
    row = next(ln for ln in lines if ln.startswith("sysbench/cpu-1thread "))
    assert row.split()[1:4] == ["cpu", "fastpath/sysbench:1.0", "executor"]
    assert "threads=1" in row and "cpu_max_prime=10000" in row  # inherited through include
    row = next(ln for ln in lines if ln.startswith("iperf3/tcp "))
    assert "server,client" in row

    lib = _variant_library(tmp_path)
    rc, out, err = run(capsys, "list", "--library", str(lib))
    assert rc == 0, err
    row = next(ln for ln in out.splitlines() if ln.startswith("mysuite/cpu-2threads"))
    assert "threads=2" in row and "fastpath/sysbench:1.0" in row

    rc, out, err = run(capsys, "show", "--library", str(lib), "mysuite/cpu-2threads")
    assert rc == 0, err
    assert out.startswith("%YAML 1.2\n---\n")
    shown = yaml.safe_load(out.split("---\n", 1)[1])
    assert shown["params"] == {"test": "cpu", "threads": "2", "time": "10",
                               "cpu_max_prime": "10000"}
    assert shown["image"] == "fastpath/sysbench:1.0" and shown["repeats"] == 3
    assert shown["timeout"] == "10m" and shown["rolemap"] == {"executor": 0}


def test_show_by_path_and_unknown_names(capsys):
    assert find_fragment("hackbench/thread-pipe.yaml").benchmark["params"]["mode"] == "thread"
    rc, out, err = run(capsys, "show", "sysbench/cpu-1thred")
    assert rc == 2 and out == ""
    assert "did you mean sysbench/cpu-1thread" in err


def test_broken_fragment_is_reported(tmp_path, capsys):
    lib = tmp_path / "lib"
    (lib / "bad").mkdir(parents=True)
    (lib / "bad" / "loop.yaml").write_text("include: bad/loop.yaml\nname: loop\n")
    rc, out, err = run(capsys, "list", "--library", str(lib))
    assert rc == 2
    assert "sysbench/cpu" in out  # the rest is still listed
    assert "loop.yaml" in err and "1 library fragment(s) are invalid" in err
    rc, out, err = run(capsys, "list", "--library", str(tmp_path / "nope"))
    assert rc == 2 and "does not exist" in err


def test_builtin_library_is_the_repository_tree():
    assert (builtin_library() / "sysbench" / "cpu.yaml").is_file()
