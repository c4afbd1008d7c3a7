# ruff: noqa: E501  (a table of plan texts reads better unwrapped)
"""A table of invalid plans: each reports the exact place and a useful message, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastpath.cli.main import main
from fastpath.errors import InvalidInput
from fastpath.plan import load_plan

HEAD = """\
sut:
  name: s
  connection:
    method: SSH
    params:
      host: h
swprofiles:
  - name: a
    kernel: Image
benchmarks:
  - name: b
    image: img:1
"""
# HEAD occupies lines 1-12; a case appending text starts at line 13.

CASES: list[tuple[str, str, str, str]] = [
    # (id, plan text, expected location, expected message fragment)
    ("timeout-not-duration", HEAD + "    timeout: 5x\n", "plan.yaml:13:14",
     "benchmarks[0].timeout: '5x' is not a duration — use <integer><s|m|h|d>, e.g. 30s"),
    ("timeout-number", HEAD + "    timeout: 30\n", "plan.yaml:13:14",
     "benchmarks[0].timeout: 30 is not a string"),
    ("repeats-zero", HEAD + "    repeats: 0\n", "plan.yaml:13:14",
     "benchmarks[0].repeats: 0 is less than 1"),
    ("warmups-negative", HEAD + "    warmups: -1\n", "plan.yaml:13:14",
     "benchmarks[0].warmups: -1 is less than 0"),
    ("sessions-text", HEAD + "    sessions: two\n", "plan.yaml:13:15",
     "benchmarks[0].sessions: 'two' is not an integer"),
    ("repeats-bool", HEAD + "    repeats: true\n", "plan.yaml:13:14",
     "benchmarks[0].repeats: true is not an integer"),
    ("unknown-benchmark-key", HEAD + "    warmup: 2\n", "plan.yaml:13:5",
     "benchmarks[0].warmup: unknown key 'warmup' — did you mean 'warmups'?"),
    ("params-nested", HEAD + "    params:\n      x: [1, 2]\n", "plan.yaml:14:10",
     "benchmarks[0].params.x: params values must be strings, not nested maps or lists"),
    ("params-not-mapping", HEAD + "    params: [a, b]\n", "plan.yaml:13:13",
     "benchmarks[0].params: a list is not a mapping"),
    ("roles-empty", HEAD + "    roles: []\n", "plan.yaml:13:12",
     "benchmarks[0].roles: must not be empty"),
    ("roles-duplicate", HEAD + "    roles: [a, a]\n", "plan.yaml:13:12",
     "benchmarks[0].roles: contains the same entry twice"),
    ("rolemap-unknown-role", HEAD + "    rolemap: {server: 0}\n", "plan.yaml:13:15",
     "benchmarks[0].rolemap.server: rolemap names role 'server' which the benchmark does not"),
    ("rolemap-bad-index", HEAD + "    rolemap: {executor: 2}\n", "plan.yaml:13:25",
     "benchmarks[0].rolemap.executor: node index 2 does not exist (the SUT has 1 node)"),
    ("rolemap-unknown-node", HEAD + "    rolemap: {executor: nodeX}\n", "plan.yaml:13:25",
     "benchmarks[0].rolemap.executor: no node is named 'nodeX'"),
    ("benchmark-missing-image", HEAD.replace("    image: img:1\n", ""), "plan.yaml:11:5",
     "benchmarks[0]: missing required key 'image'"),
    ("benchmark-missing-name", HEAD.replace("  - name: b\n    image", "  - image"),
     "plan.yaml:11:5", "benchmarks[0]: missing required key 'name'"),
    ("benchmarks-empty", HEAD.split("benchmarks:")[0] + "benchmarks: []\n", "plan.yaml:10:13",
     "benchmarks: must not be empty"),
    ("include-missing", HEAD + "  - include: nope/nothing.yaml\n", "plan.yaml:13:14",
     "benchmarks[1].include: include 'nope/nothing.yaml' not found — searched"),
    ("include-cycle", HEAD + "  - include: cyc/a.yaml\n", "cyc/b.yaml:1:10",
     "include: include cycle: plan.yaml -> cyc/a.yaml -> cyc/b.yaml -> cyc/a.yaml"),
    ("include-fragment-unknown-key", HEAD + "  - include: frag/badkey.yaml\n",
     "frag/badkey.yaml:3:1", "benchmarks[1].imgae: unknown key 'imgae' — did you mean 'image'?"),
    ("include-fragment-bad-timeout", HEAD + "  - include: frag/badtimeout.yaml\n",
     "frag/badtimeout.yaml:3:10", "benchmarks[1].timeout: '1 hour' is not a duration"),
    ("include-not-string", HEAD + "  - include: 5\n", "plan.yaml:13:14",
     "benchmarks[1].include: 5 is not a string"),
    ("swprofiles-missing", HEAD.replace("swprofiles:\n  - name: a\n    kernel: Image\n", ""),
     "plan.yaml:1:1", "missing required key 'swprofiles'"),
    ("swprofile-missing-kernel", HEAD.replace("    kernel: Image\n", ""), "plan.yaml:8:5",
     "swprofiles[0]: missing required key 'kernel'"),
    ("swprofile-kernel-not-found", HEAD.replace("kernel: Image", "kernel: nothere/Image"),
     "plan.yaml:9:13", "swprofiles[0].kernel: kernel file"),
    ("swprofile-modules-with-deb", HEAD.replace("kernel: Image", "kernel: k.deb\n    modules: m.tar"),
     "plan.yaml:10:5", "swprofiles[0].modules: modules can only be given with pkgtype RAW"),
    ("swprofile-modules-with-explicit-deb",
     HEAD.replace("kernel: Image", "kernel: Image\n    pkgtype: DEB\n    modules: m.tar"),
     "plan.yaml:11:5", "swprofiles[0].modules: modules can only be given with pkgtype RAW"),
    ("swprofile-bad-pkgtype", HEAD.replace("kernel: Image", "kernel: Image\n    pkgtype: RPM"),
     "plan.yaml:10:14", "swprofiles[0].pkgtype: 'RPM' is not one of 'RAW', 'DEB'"),
    ("swprofile-gitsha-short", HEAD.replace("kernel: Image", "kernel: Image\n    gitsha: abc123"),
     "plan.yaml:10:13", "swprofiles[0].gitsha: 'abc123' is not a full git SHA"),
    ("swprofile-gitsha-nonhex",
     HEAD.replace("kernel: Image", "kernel: Image\n    gitsha: " + "g" * 40),
     "plan.yaml:10:13", "swprofiles[0].gitsha: '" + "g" * 40 + "' is not a full git SHA"),
    ("swprofile-duplicate-name", HEAD.replace(
        "benchmarks:", "  - name: a\n    kernel: Image\nbenchmarks:"),
     "plan.yaml:10:11", "swprofiles[1].name: swprofile name 'a' is already used by swprofiles[0]"),
    ("swprofile-name-clashes-with-default-name", HEAD.replace(
        "benchmarks:", "  - kernel: Image\n  - name: swprofile-2\n    kernel: Image\nbenchmarks:"),
     "plan.yaml:11:11", "swprofiles[2].name: swprofile name 'swprofile-2' is already used by swprofiles[1] (unnamed profiles are named swprofile-N"),
    ("setup-role-missing", HEAD + "setup:\n  roles: [no_such_role_xyz]\n",
     "plan.yaml:14:11", "setup.roles[0]: custom role 'no_such_role_xyz' was not found (searched "),
    ("swprofile-gitsha-all-digits",
     HEAD.replace("kernel: Image", "kernel: Image\n    gitsha: " + "1234567890" * 4),
     "plan.yaml:10:13", "swprofiles[0].gitsha: " + "1234567890" * 4 + " is not a string (YAML read it as a number: put the value in quotes)"),
    ("swprofile-sysctl-no-equals", HEAD.replace("kernel: Image", "kernel: Image\n    sysctl: [vm.swappiness]"),
     "plan.yaml:10:14", "swprofiles[0].sysctl[0]: 'vm.swappiness' is not a sysctl setting"),
    ("swprofile-cmdline-not-list", HEAD.replace("kernel: Image", "kernel: Image\n    cmdline: quiet"),
     "plan.yaml:10:14", "swprofiles[0].cmdline: 'quiet' is not a list"),
    ("swprofile-guide-spelling", HEAD.replace("kernel: Image", "kernel: Image\n    bootscrip: []"),
     "plan.yaml:10:5", "swprofiles[0].bootscrip: unknown key 'bootscrip' — did you mean 'bootscript'?"),
    ("top-level-guide-spelling", HEAD.replace("swprofiles:", "sw-profiles:"), "plan.yaml:7:1",
     "sw-profiles: unknown key 'sw-profiles' — did you mean 'swprofiles'?"),
    ("sut-both-connection-and-nodes", HEAD.replace(
        "swprofiles:", "  nodes:\n    - connection: {method: SSH, params: {host: x}}\nswprofiles:"),
     "plan.yaml:7:3", "sut.nodes: give either 'connection' (one node) or 'nodes', not both"),
    ("sut-neither", "sut:\n  name: s\n" + HEAD.split("swprofiles:", 1)[0][0:0] + "swprofiles:" +
     HEAD.split("swprofiles:", 1)[1], "plan.yaml:2:3",
     "sut: the SUT has neither 'connection' nor 'nodes'"),
    ("sut-method-not-ssh", HEAD.replace("method: SSH", "method: LAVA"), "plan.yaml:4:13",
     "sut.connection.method: 'LAVA' is not one of 'SSH'"),
    ("sut-port-text", HEAD.replace("host: h", "host: h\n      port: twenty-two"),
     "plan.yaml:7:13", "sut.connection.params.port: 'twenty-two' is not an integer"),
    ("sut-port-range", HEAD.replace("host: h", "host: h\n      port: 70000"),
     "plan.yaml:7:13", "sut.connection.params.port: 70000 is more than 65535"),
    ("sut-missing-host", HEAD.replace("      host: h\n", "      user: u\n"), "plan.yaml:6:7",
     "sut.connection.params: missing required key 'host'"),
    ("sut-keyfile-missing", HEAD.replace("host: h", "host: h\n      keyfile: nokey"),
     "plan.yaml:7:16", "sut.connection.params.keyfile: key file"),
    ("sut-guide-keyfile-spelling", HEAD.replace("host: h", "host: h\n      key-file: k"),
     "plan.yaml:7:7", "sut.connection.params.key-file: unknown key 'key-file' — did you mean 'keyfile'?"),
    ("node-duplicate-name", HEAD.replace(
        "  connection:\n    method: SSH\n    params:\n      host: h\n",
        "  nodes:\n    - {name: n, connection: {method: SSH, params: {host: a}}}\n"
        "    - {name: n, connection: {method: SSH, params: {host: b}}}\n"),
     "plan.yaml:5:14", "sut.nodes[1].name: node name 'n' is already used by sut.nodes[0]"),
    ("defaults-bad-timeout", HEAD + "defaults:\n  benchmark:\n    timeout: forever\n",
     "plan.yaml:15:14", "defaults.benchmark.timeout: 'forever' is not a duration"),
    ("defaults-unknown-key", HEAD + "defaults:\n  benchmark:\n    warmup: 1\n",
     "plan.yaml:15:5", "defaults.benchmark.warmup: unknown key 'warmup' — did you mean 'warmups'?"),
    ("duplicate-key", HEAD + "    image: img:2\n", "plan.yaml:13:5",
     "benchmarks[0].image: duplicate key 'image'"),
    ("yaml-syntax", HEAD + "    params: {a: 1\n", "plan.yaml:14:1", "YAML syntax error"),
    ("not-a-mapping", "- just\n- a list\n", "plan.yaml:1:1", "a plan must be a mapping"),
    ("empty-file", "", "plan.yaml:1:1", "a plan must be a mapping"),
    ("setup-roles-bad-name", HEAD + "setup:\n  roles: ['../evil']\n", "plan.yaml:14:11",
     "setup.roles[0]: '../evil' is not a role name"),
]


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASTPATH_GLOBAL_LIBRARY", raising=False)
    (tmp_path / "Image").write_bytes(b"k")
    (tmp_path / "k.deb").write_bytes(b"k")
    (tmp_path / "m.tar").write_bytes(b"m")
    (tmp_path / "cyc").mkdir()
    (tmp_path / "cyc/a.yaml").write_text("include: b.yaml\nname: a\n")
    (tmp_path / "cyc/b.yaml").write_text("include: a.yaml\nimage: i:1\n")
    (tmp_path / "frag").mkdir()
    (tmp_path / "frag/badkey.yaml").write_text("suite: s\nname: n\nimgae: i:1\nimage: i:1\n")
    (tmp_path / "frag/badtimeout.yaml").write_text("name: n\nimage: i:1\ntimeout: 1 hour\n")
    return tmp_path


def test_case_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 30


@pytest.mark.parametrize(("text", "where", "fragment"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_invalid_plan(workdir: Path, text: str, where: str, fragment: str) -> None:
    (workdir / "plan.yaml").write_text(text)
    with pytest.raises(InvalidInput) as info:
        load_plan(workdir / "plan.yaml")
    rendered = [p.render() for p in info.value.problems]
    expected = f"{where}: {fragment}"
    assert any(line.startswith(expected) for line in rendered), "\n".join(rendered)


def test_every_problem_reported_in_one_run(workdir: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    text = HEAD.replace("kernel: Image", "kernel: Image\n    gitsha: abc") + (
        "    timeout: 5x\n    repeats: 0\n  - include: nope.yaml\n")
    (workdir / "plan.yaml").write_text(text)
    out_before = sorted(p.name for p in workdir.iterdir())
    assert main(["plan", "show", "plan.yaml"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "plan.yaml has 4 problems:" in captured.err
    assert "Traceback" not in captured.err
    for fragment in ("plan.yaml:10:13: swprofiles[0].gitsha", "plan.yaml:14:14: benchmarks[0]"
                     ".timeout", "plan.yaml:15:14: benchmarks[0].repeats",
                     "plan.yaml:16:14: benchmarks[1].include"):
        assert fragment in captured.err
    assert sorted(p.name for p in workdir.iterdir()) == out_before  # nothing written


def test_missing_plan_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "show", "absent.yaml"]) == 2
    assert "file absent.yaml does not exist" in capsys.readouterr().err


EXTRA_CASES = [
    ("repeats-float", HEAD + "    repeats: 3.0\n", "plan.yaml:13:14",
     "benchmarks[0].repeats: 3.0 is not an integer"),
    ("repeats-huge", HEAD + "    repeats: 99999999999999999999\n", "plan.yaml:13:14",
     "benchmarks[0].repeats: 99999999999999999999 is more than 100000"),
    ("sessions-huge", HEAD + "    sessions: 100000000\n", "plan.yaml:13:15",
     "benchmarks[0].sessions: 100000000 is more than 1000"),
    ("timeout-zero", HEAD + "    timeout: 0s\n", "plan.yaml:13:14",
     "benchmarks[0].timeout: '0s' is not a duration"),
    ("timeout-huge", HEAD + "    timeout: 99999999999d\n", "plan.yaml:13:14",
     "benchmarks[0].timeout: '99999999999d' is not a duration"),
]


@pytest.mark.parametrize(("text", "where", "fragment"), [c[1:] for c in EXTRA_CASES],
                         ids=[c[0] for c in EXTRA_CASES])
def test_invalid_plan_limits(workdir: Path, text: str, where: str, fragment: str) -> None:
    test_invalid_plan(workdir, text, where, fragment)
