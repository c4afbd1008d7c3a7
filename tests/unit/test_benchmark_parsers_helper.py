"""The containers' shared helper module (containers/common/fastpath_bench.py)."""

from __future__ import annotations

import csv
import math

import pytest
import yaml

from tests.unit.benchmark_exec import helper

fb = helper()
E = fb.ErrorCode


@pytest.mark.parametrize("text,value", [
    ("1234.5", 1234.5), ("1234,5", 1234.5), ("1.234,5", 1234.5), ("1,234.5", 1234.5),
    ("0,38", 0.38), ("-2.5e3", -2500.0), ("7", 7.0), (3, 3.0), (" 12.0 ", 12.0), (",5", 0.5),
])
def test_parse_number(text, value):
    assert fb.parse_number(text) == value


@pytest.mark.parametrize("text", ["", "abc", "nan", "inf", "1.2.3", "12 MiB", float("nan"),
                                  float("inf")])
def test_parse_number_rejects(text):
    with pytest.raises(ValueError):
        fb.parse_number(text)


SPEC = {
    "threads": fb.Param("1", "int", minimum=0),
    "mode": fb.Param("a", "choice", choices=("a", "b")),
    "direct": fb.Param("false", "bool"),
    "bs": fb.Param(None, "size"),
}


def test_validate_params_converts_and_fills_defaults():
    assert fb.validate_params({"threads": "4", "direct": "on"}, SPEC) == {
        "threads": 4, "mode": "a", "direct": True}


@pytest.mark.parametrize("raw,fragment", [
    ({"thread": "4"}, "did you mean 'threads'"),
    ({"threads": "-1"}, "must be >= 0"),
    ({"threads": "four"}, "must be an integer"),
    ({"mode": "c"}, "one of a, b"),
    ({"direct": "maybe"}, "true or false"),
    ({"bs": "4 K"}, "size like"),
    ({"threads": {"a": 1}}, "scalar"),
])
def test_validate_params_rejects(raw, fragment):
    with pytest.raises(fb.BenchmarkError) as exc:
        fb.validate_params(raw, SPEC)
    assert exc.value.code == E.INVALID_PARAMS
    assert fragment in exc.value.message


def test_error_codes_are_documented_and_in_container_range():
    assert all(1 <= c <= 99 for c in E)
    assert {c.value: c.name for c in E} == {
        1: "GENERIC", 2: "INVALID_BENCHMARK", 3: "INVALID_PARAMS", 4: "TOOL_FAILED",
        5: "OUTPUT_UNPARSEABLE", 6: "PEER_UNREACHABLE"}
    for c in E:
        assert c.name in fb.__doc__


def test_results_csv_format_and_non_finite_values():
    text = fb.results_csv([fb.Result("a", "ms", "smaller", 0.5),
                           fb.Result("b", "x/s", "bigger", 3)])
    assert list(csv.reader(text.splitlines())) == [
        ["name", "unit", "improvement", "value", "error"],
        ["a", "ms", "smaller", "0.5", "0"], ["b", "x/s", "bigger", "3.0", "0"]]
    with pytest.raises(ValueError):
        fb.results_csv([fb.Result("a", "ms", "smaller", math.nan)])
    with pytest.raises(ValueError):
        fb.Result("a", "ms", "higher", 1.0)
    assert fb.error_csv(4) == "name,unit,improvement,value,error\nerror,,,,4\n"


def _doc(**over):
    doc = {"suite": "demo", "name": "demo-1", "type": "cpu", "image": "fastpath/demo:1",
           "params": {"threads": "2"}, "repeats": 1, "sessions": 1, "warmups": 0,
           "timeout": "1m", "roles": ["executor"], "rolemap": {"executor": 0},
           "role": "executor", "nodes": [{"index": 0, "name": "n0", "address": "127.0.0.1"}]}
    doc.update(over)
    return doc


def _run(tmp_path, doc, workload, roles=("executor",)):
    if doc is not None:
        text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
        (tmp_path / "benchmark.yaml").write_text(text)
    status = fb.main("demo", SPEC, workload, roles=roles, share=tmp_path)
    rows = list(csv.reader((tmp_path / "results.csv").read_text().splitlines()))
    log = (tmp_path / "output" / "exec.log").read_text()
    return status, rows, log


def test_main_success(tmp_path):
    seen = {}

    def workload(bench):
        seen["params"] = bench.params
        return [fb.Result("ops", "ops/s", "bigger", 12.5)]

    status, rows, log = _run(tmp_path, _doc(), workload)
    assert status == 0
    assert rows == [list(fb.HEADER), ["ops", "ops/s", "bigger", "12.5", "0"]]
    assert seen["params"] == {"threads": 2, "mode": "a", "direct": False}
    assert "result ops = 12.5" in log


def test_main_header_only_means_no_results_no_error(tmp_path):
    status, rows, log = _run(tmp_path, _doc(), lambda bench: [])
    assert status == 0 and rows == [list(fb.HEADER)]
    assert "header-only" in log


@pytest.mark.parametrize("doc,code,fragment", [
    (None, E.INVALID_BENCHMARK, "cannot read benchmark.yaml"),
    ("suite: [unclosed", E.INVALID_BENCHMARK, "not YAML"),
    ("- a list", E.INVALID_BENCHMARK, "must be a mapping"),
    (_doc(suite="other"), E.INVALID_BENCHMARK, "this image runs suite 'demo'"),
    (_doc(role="monitor"), E.INVALID_BENCHMARK, "role 'monitor'"),
    (_doc(params={"nope": "1"}), E.INVALID_PARAMS, "unknown param 'nope'"),
    (_doc(params={"threads": "x"}), E.INVALID_PARAMS, "threads='x'"),
])
def test_main_invalid_input_writes_error_row(tmp_path, doc, code, fragment):
    status, rows, log = _run(tmp_path, doc, lambda bench: pytest.fail("must not run"))
    assert status == code  # the exit status repeats the code for operators
    assert rows == [list(fb.HEADER), ["error", "", "", "", str(int(code))]]
    assert fragment in log


def test_main_tool_failure_and_bugs(tmp_path):
    def failing_tool(bench):
        fb.run_tool(["sh", "-c", "echo partial; echo 'disk on fire' >&2; exit 3"], "t.log",
                    bench.output)
        return []

    status, rows, log = _run(tmp_path, _doc(), failing_tool)
    assert rows[1] == ["error", "", "", "", str(int(E.TOOL_FAILED))]
    assert "sh exited with status 3: disk on fire" in log
    assert "partial" in (tmp_path / "output" / "t.log").read_text()

    def missing_tool(bench):
        fb.run_tool(["/nonexistent/tool"], "t.log", bench.output)

    assert _run(tmp_path, _doc(), missing_tool)[1][1][4] == str(int(E.TOOL_FAILED))

    def bug(bench):
        raise KeyError("oops")

    status, rows, log = _run(tmp_path, _doc(), bug)
    assert rows[1][4] == str(int(E.GENERIC)) and "KeyError" in log

    def nan(bench):
        return [fb.Result("x", "s", "smaller", float("nan"))]

    assert _run(tmp_path, _doc(), nan)[1][1][4] == str(int(E.OUTPUT_UNPARSEABLE))


def test_run_tool_uses_c_locale_and_saves_output(tmp_path):
    out = fb.run_tool(["sh", "-c", "echo $LC_ALL"], "loc.log", tmp_path)
    assert out == "C\n"
    assert "# exit status 0" in (tmp_path / "loc.log").read_text()


def test_two_roles_address_and_retry(tmp_path):
    doc = _doc(roles=["server", "client"], rolemap={"server": 1, "client": 0}, role="client",
               nodes=[{"index": 0, "name": "a", "address": "10.0.0.1"},
                      {"index": 1, "name": "b", "address": "10.0.0.2"}])
    bench = fb.load_benchmark(doc, "demo", SPEC, roles=("server", "client"))
    assert bench.address_of("server") == "10.0.0.2"
    with pytest.raises(fb.BenchmarkError) as exc:
        bench.address_of("monitor")
    assert exc.value.code == E.INVALID_BENCHMARK

    calls = []

    def attempt():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("refused")
        return "ok"

    assert fb.retry_until(attempt, 30, 0.01) == "ok" and len(calls) == 3

    def never():
        raise ConnectionError("refused")

    with pytest.raises(fb.BenchmarkError) as exc:
        fb.retry_until(never, 0.05, 0.01, "server")
    assert exc.value.code == E.PEER_UNREACHABLE


def test_base_image_apt_sources_follow_the_host(tmp_path):
    """containers/base/apt_sources.py: deb822 and one-line sources, Debian bookworm only."""
    import importlib.util

    from fastpath.paths import containers_dir

    spec = importlib.util.spec_from_file_location(
        "fastpath_apt_sources", containers_dir() / "base" / "apt_sources.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = tmp_path / "etc/apt/sources.list.d"
    d.mkdir(parents=True)
    (d / "debian.sources").write_text(
        "Types: deb\n# comment\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main contrib\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb-src\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n")
    (d / "other.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n"
        "Components: main\n")
    (d / "sec.list").write_text(
        "deb [signed-by=/k.gpg] http://mirror.example/debian-security bookworm-security main\n"
        "deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n")
    (d / "x.list.disabled").write_text("deb http://nope/ bookworm main\n")
    assert mod.bookworm_sources(tmp_path) == [
        ("http://mirror.example/debian", ["bookworm", "bookworm-updates"], ["main"]),
        ("http://mirror.example/debian-security", ["bookworm-security"], ["main"]),
    ]
    assert mod.main(["--root", str(tmp_path), "--mirror"]) == 0
    assert mod.main(["--root", str(tmp_path / "empty")]) == 1
