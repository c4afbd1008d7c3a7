"""Plan loading, includes, literal params, normalisation and plan show."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from fastpath.cli.main import main
from fastpath.errors import InvalidInput
from fastpath.plan import load_fragment, load_plan
from fastpath.plan.dump import dump_yaml
from fastpath.plan.model import sut_nodes, timeout_seconds, work_total


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture()
def plandir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASTPATH_GLOBAL_LIBRARY", raising=False)
    (tmp_path / "Image.gz").write_bytes(b"kernel")
    (tmp_path / "modules.tar.xz").write_bytes(b"modules")
    (tmp_path / "linux-image-6.1.0-99-amd64_6.1.0-99_amd64.deb").write_bytes(b"deb")
    (tmp_path / "id_ed25519").write_text("key")
    return tmp_path


SUT = """
sut:
  name: my-fastpath-sut
  connection:
    method: SSH
    params:
      host: my-fastpath-sut
"""


def test_guide_tutorial_plan(plandir: Path) -> None:
    # guide §1.2.4 "Putting it all together", with indentation repaired
    write(plandir / "speedometer/v2.1.yaml", """
        suite: speedometer
        name: v2.1
        type: browser
        image: registry.example/speedometer:v1.0
        timeout: 10m
    """)
    write(plandir / "mmtests/kernbench.yaml", """
        suite: mmtests
        name: kernbench
        type: system
        params:
          config: |-
            export KERNBENCH_ITERATIONS=1
            export KERNBENCH_VERSION=6.12
          config-base: configs/config-workload-kernbench-max
          performance-governor: False
        image: registry.example/mmtests:v1.0
    """)
    plan_file = write(plandir / "demo.yaml", SUT + """
        swprofiles:
        - name: without-mthp
          kernel: Image.gz
          modules: modules.tar.xz
          cmdline:
            - thp_anon=64K:never;2M:advise
        - name: with-mthp
          kernel: Image.gz
          modules: modules.tar.xz
          cmdline:
            - thp_anon=64K:always;2M:advise
        benchmarks:
        - include: speedometer/v2.1.yaml
        - include: mmtests/kernbench.yaml
        defaults:
          benchmark:
            warmups: 1
            repeats: 3
            sessions: 2
            timeout: 1h
    """.replace("\n        ", "\n"))
    plan = load_plan(plan_file)
    assert list(plan) == ["defaults", "sut", "setup", "swprofiles", "benchmarks"]
    assert plan["defaults"]["benchmark"] == {"repeats": 3, "sessions": 2, "warmups": 1,
                                             "timeout": "1h"}
    assert plan["sut"]["connection"]["params"] == {"host": "my-fastpath-sut", "user": None,
                                                   "port": None, "keyfile": None}
    first = plan["swprofiles"][0]
    assert first["pkgtype"] == "RAW"
    assert first["kernel"] == str(plandir / "Image.gz")
    assert first["modules"] == str(plandir / "modules.tar.xz")
    assert first["sysctl"] == [] and first["bootscript"] == [] and first["gitsha"] is None
    speedo, kern = plan["benchmarks"]
    assert speedo["timeout"] == "10m" and speedo["sessions"] == 2 and speedo["params"] == {}
    assert kern["timeout"] == "1h"
    assert kern["params"]["performance-governor"] == "False"
    assert kern["params"]["config"] == ("export KERNBENCH_ITERATIONS=1\n"
                                        "export KERNBENCH_VERSION=6.12")
    assert kern["roles"] == ["executor"] and kern["rolemap"] == {"executor": 0}
    # guide: 2 profiles x 2 benchmarks x 2 sessions x (1 + 3) = 32 runs
    assert work_total(plan) == 32
    assert list(speedo) == ["suite", "name", "type", "params", "image", "repeats", "sessions",
                            "warmups", "timeout", "roles", "rolemap"]


def test_library_fragment_and_variant(plandir: Path) -> None:
    # guide §1.2.9: a default fragment and a variant overriding one param
    lib = plandir / "lib"
    write(lib / "my-suite/my-benchmark-default.yaml", """
        suite: my-suite
        name: my-benchmark
        type: system
        params:
          cpus: 4
          ram: 4G
        image: docker.io/fastpath/benchmarks/my-benchmark:latest
    """)
    write(lib / "my-suite/my-benchmark-single.yaml", """
        include: my-suite/my-benchmark-default.yaml
        params:
          cpus: 1
    """)
    plan_file = write(plandir / "plans/p.yaml", """
        sut:
          connection:
            method: SSH
            params:
              host: my-server
        swprofiles:
          - kernel: ../Image.gz
            modules: ../modules.tar.xz
        benchmarks:
          - include: my-suite/my-benchmark-default.yaml
          - include: my-suite/my-benchmark-single.yaml
    """)
    plan = load_plan(plan_file, library=[lib])
    default, single = plan["benchmarks"]
    assert default["params"] == {"cpus": "4", "ram": "4G"}
    assert single["params"] == {"cpus": "1", "ram": "4G"}
    assert single["name"] == "my-benchmark" and single["type"] == "system"
    assert plan["swprofiles"][0]["name"] == "swprofile-1"
    assert plan["swprofiles"][0]["kernel"] == str(plandir / "Image.gz")


def test_params_keep_literal_text(plandir: Path) -> None:
    plan_file = write(plandir / "p.yaml", SUT + """
swprofiles:
  - kernel: Image.gz
benchmarks:
  - name: b
    image: img:1
    params:
      cpus: 4
      ver: 1.10
      gov: on
      flag: yes
      neg: -0
      hex: 0x1F
      quoted: "007"
      empty: ""
      sci: 1e3
""")
    params = load_plan(plan_file)["benchmarks"][0]["params"]
    assert params == {"cpus": "4", "ver": "1.10", "gov": "on", "flag": "yes", "neg": "-0",
                      "hex": "0x1F", "quoted": "007", "empty": "", "sci": "1e3"}
    assert all(isinstance(v, str) for v in params.values())


def test_yaml12_outside_params(plandir: Path) -> None:
    # 'on' is a string in YAML 1.2: a swprofile named on stays "on"
    plan_file = write(plandir / "p.yaml", SUT + """
swprofiles:
  - name: on
    kernel: Image.gz
benchmarks:
  - name: yes
    image: img:1
""")
    plan = load_plan(plan_file)
    assert plan["swprofiles"][0]["name"] == "on"
    assert plan["benchmarks"][0]["name"] == "yes"


def test_include_chain_overrides_and_search_order(plandir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # the same include name exists in three places: the plan's directory wins over the
    # current directory, which wins over global.library, which wins over the built-in one
    plans = plandir / "plans"
    libdir = plandir / "mylib"
    write(libdir / "s/b.yaml", "name: from-library\nimage: lib:1\n")
    write(libdir / "s/only-lib.yaml", "name: only-lib\nimage: lib:2\n")
    write(plandir / "s/b.yaml", "name: from-cwd\nimage: cwd:1\n")
    write(plandir / "s/only-cwd.yaml", "name: only-cwd\nimage: cwd:2\n")
    write(plans / "s/b.yaml", "name: from-plan-dir\nimage: plan:1\n")
    monkeypatch.setenv("FASTPATH_GLOBAL_LIBRARY", str(libdir))
    plan_file = write(plans / "p.yaml", SUT + """
swprofiles:
  - kernel: ../Image.gz
benchmarks:
  - include: s/b.yaml
  - include: s/only-cwd.yaml
  - include: s/only-lib.yaml
""")
    names = [b["name"] for b in load_plan(plan_file)["benchmarks"]]
    assert names == ["from-plan-dir", "only-cwd", "only-lib"]


def test_nested_includes_merge_params_key_by_key(plandir: Path) -> None:
    write(plandir / "lib/a.yaml", """
        suite: s
        name: base
        image: img:1
        timeout: 5m
        params: {a: 1, b: 2, c: 3}
    """)
    write(plandir / "lib/b.yaml", """
        include: a.yaml
        name: middle
        params: {b: 20}
    """)
    plan_file = write(plandir / "p.yaml", SUT + """
swprofiles:
  - kernel: Image.gz
benchmarks:
  - include: lib/b.yaml
    params:
      c: 30
    repeats: 7
""")
    bench = load_plan(plan_file)["benchmarks"][0]
    assert bench["name"] == "middle" and bench["suite"] == "s" and bench["timeout"] == "5m"
    assert bench["params"] == {"a": "1", "b": "20", "c": "30"}
    assert bench["repeats"] == 7


def test_builtin_library_is_searched_last(plandir: Path) -> None:
    from fastpath.paths import builtin_library

    fragments = sorted(builtin_library().glob("*/*.yaml"))
    if not fragments:
        pytest.fail("the built-in benchmark library is empty")
    rel = fragments[0].relative_to(builtin_library())
    plan_file = write(plandir / "p.yaml", SUT + f"""
swprofiles:
  - kernel: Image.gz
benchmarks:
  - include: {rel.as_posix()}
""")
    bench = load_plan(plan_file)["benchmarks"][0]
    assert bench["image"]
    assert bench["suite"] == rel.parts[0]


def test_multinode_rolemap_by_name_and_index(plandir: Path) -> None:
    plan_file = write(plandir / "p.yaml", """
sut:
  name: pair
  nodes:
    - name: left
      connection: {method: SSH, params: {host: a, user: fpuser, port: 2222,
                                         keyfile: id_ed25519}}
    - name: right
      connection: {method: SSH, params: {host: b}}
swprofiles:
  - kernel: linux-image-6.1.0-99-amd64_6.1.0-99_amd64.deb
    sysctl: [vm.swappiness=10]
    cmdline: [mitigations=off]
    gitsha: 0123456789ABCDEF0123456789abcdef01234567
benchmarks:
  - name: net
    image: net:1
    roles: [server, client]
    rolemap: {client: right}
""")
    plan = load_plan(plan_file)
    assert plan["benchmarks"][0]["rolemap"] == {"server": 0, "client": 1}
    nodes = sut_nodes(plan)
    assert [n["name"] for n in nodes] == ["left", "right"]
    assert nodes[0]["connection"]["params"]["keyfile"] == str(plandir / "id_ed25519")
    assert nodes[0]["connection"]["params"]["port"] == 2222
    prof = plan["swprofiles"][0]
    assert prof["pkgtype"] == "DEB"
    assert prof["gitsha"] == "0123456789abcdef0123456789abcdef01234567"


def test_single_node_sut_nodes_and_timeouts(plandir: Path) -> None:
    plan_file = write(plandir / "p.yaml", SUT + """
swprofiles:
  - kernel: https://example.invalid/Image
    modules: https://example.invalid/modules.tar.xz
benchmarks:
  - {name: b, image: i:1, timeout: 2d}
""")
    plan = load_plan(plan_file)
    assert sut_nodes(plan) == [{"name": "my-fastpath-sut",
                                "connection": plan["sut"]["connection"]}]
    assert plan["swprofiles"][0]["kernel"] == "https://example.invalid/Image"
    assert timeout_seconds(plan["benchmarks"][0]["timeout"]) == 172800
    assert timeout_seconds("30s") == 30 and timeout_seconds("10m") == 600
    with pytest.raises(ValueError):
        timeout_seconds("5x")


def test_plan_show_is_idempotent(plandir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(plandir / "frag.yaml", "name: f\nimage: f:1\nparams: {ver: 1.10, gov: on, n: 4}\n")
    plan_file = write(plandir / "p.yaml", SUT + """
swprofiles:
  - name: a
    kernel: Image.gz
    bootscript: ["echo hi > /tmp/x"]
benchmarks:
  - include: frag.yaml
    params:
      multi: "line one\\nline two"
""")
    assert main(["plan", "show", str(plan_file)]) == 0
    first = capsys.readouterr().out
    assert first.startswith("%YAML 1.2\n---\n")
    (plandir / "again.yaml").write_text(first)
    assert main(["plan", "show", "again.yaml"]) == 0
    second = capsys.readouterr().out
    assert first == second
    again = yaml.safe_load(first.split("---\n", 1)[1])
    assert again["benchmarks"][0]["params"] == {"ver": "1.10", "gov": "on", "n": "4",
                                                "multi": "line one\nline two"}


def test_plan_show_never_prints_secrets_it_does_not_have(plandir: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    # plans hold no passwords; the keyfile is shown as a path, never its content
    plan_file = write(plandir / "p.yaml", """
sut:
  connection: {method: SSH, params: {host: h, keyfile: id_ed25519}}
swprofiles: [{kernel: Image.gz}]
benchmarks: [{name: b, image: i:1}]
""")
    assert main(["plan", "show", str(plan_file)]) == 0
    out = capsys.readouterr().out
    assert str(plandir / "id_ed25519") in out and "key\n" not in out


def test_load_fragment_resolves_includes(plandir: Path) -> None:
    write(plandir / "lib/s/base.yaml", "suite: s\nname: base\nimage: i:1\nparams: {a: 1}\n")
    frag = write(plandir / "lib/s/var.yaml", "include: base.yaml\nparams: {b: 2}\n")
    bench = load_fragment(frag)
    assert bench["name"] == "base" and bench["params"] == {"a": "1", "b": "2"}
    assert bench["repeats"] == 3 and bench["timeout"] == "1h"


def test_load_fragment_reports_missing_keys(plandir: Path) -> None:
    frag = write(plandir / "lib/s/bad.yaml", "suite: s\nparams: {a: 1}\n")
    with pytest.raises(InvalidInput) as info:
        load_fragment(frag)
    assert "missing required key 'name'" in info.value.render()


def test_dump_quotes_strings_that_look_like_other_types() -> None:
    text = dump_yaml({"a": "4", "b": "true", "c": "0o17", "d": "plain", "e": "x\ny"})
    assert "a: '4'" in text and "b: 'true'" in text and "c: '0o17'" in text
    assert "d: plain" in text and "e: |-" in text
