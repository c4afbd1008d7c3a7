"""``fastpath result list|show`` through the real CLI entry point (main([...]) + capsys)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from fastpath.cli.main import main
from fastpath.cli.result import render_report, use_colour
from fastpath.resultstore import ingest, open_store
from fastpath.resultstore.report import ShowRequest, build_report
from fastpath.stats import compare, summarize
from tests.integration.test_resultstore_factory import (
    batch,
    benchmark,
    demo_batches,
    sut,
    swprofile,
)

BASE = [100.0, 101.0, 99.0, 100.5, 99.5]
FASTER = [90.0, 91.0, 89.0, 90.5, 89.5]  # time: smaller is better -> improvement
SLOWER_SCORE = [45.0, 46.0, 44.0]  # score: bigger is better, baseline 50 -> regression
SAME = [100.2, 101.2, 99.2, 100.7, 99.7]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FASTPATH_DEFAULT_RESULTSTORE", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


@pytest.fixture
def store(home):
    """One SUT, three swprofiles, two benchmarks with known samples."""
    url = str(home / "rs")
    s = sut("lab-1")
    kb = benchmark()
    sp = benchmark("speedometer", "v2.1", params={})
    batches = []
    for name, times, scores, errors in (
        ("without-mthp", BASE, [50.0, 50.5, 49.5], ()),
        ("with-mthp", FASTER, SLOWER_SCORE, ()),
        ("noise", SAME, [50.0, 50.5, 49.5], (104, 104)),
    ):
        p = swprofile(name)
        batches.append(batch(s, p, kb, {("elapsed", "seconds", "smaller"): times,
                                        ("single", "seconds", "smaller"): [7.0]},
                             session=f"{name}-1"))
        batches.append(batch(s, p, sp, {("score", "runs/min", "bigger"): scores},
                             errors=errors, session=f"{name}-2"))
    ingest(url, batches)
    return url


def run(capsys, *args):
    code = main(["result", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_help_of_every_command(capsys):
    for args in (["--help"], ["list", "--help"], ["show", "--help"], ["merge", "--help"]):
        code, out, _ = run(capsys, *args)
        assert code == 0 and "Usage:" in out


def test_summary_table(store, capsys):
    code, out, err = run(capsys, "show", store, "--swprofile", "without-mthp", "--format",
                         "ascii")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Results for SUT lab-1 and SW Profile without-mthp:"
    assert lines[1] == ""
    header = [c.strip() for c in lines[3].strip("|").split("|")]
    assert header == ["Benchmark", "Result Class", "min", "ci95min", "mean", "ci95max", "max",
                      "cv", "count"]
    s = summarize(BASE)
    row = [c.strip() for c in lines[5].strip("|").split("|")]
    assert row == ["mmtests/kernbench", "elapsed (seconds)", "99.00", f"{s.ci_lower:.2f}",
                   "100.00", f"{s.ci_upper:.2f}", "101.00", f"{s.cv_pct:.2f}%", "5"]
    single = [c.strip() for c in lines[7].strip("|").split("|")]
    assert single == ["", "single (seconds)", "7.00", "-", "7.00", "-", "7.00", "-", "1"]
    assert all(ord(ch) < 128 for ch in out)


def test_summary_relative_and_confidence_label(store, capsys):
    code, out, _ = run(capsys, "show", store, "--swprofile", "without-mthp", "--relative",
                       "--confidence", "0.99", "--format", "ascii")
    assert code == 0
    s = summarize(BASE, 0.99)
    assert "ci99min" in out and "ci99max" in out and "ci95" not in out
    assert f"| {s.rel_ci_lower_pct:.2f}%" in out and "| -1.00%" in out and "| 100.00" in out


def test_comparison_ascii_markers(store, capsys):
    code, out, _ = run(capsys, "show", store, "--swprofile", "without-mthp", "--swprofile",
                       "with-mthp", "--swprofile", "noise", "--relative", "--format", "ascii")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Results for SUT lab-1:"
    assert "| without-mthp" in lines[3] and "| with-mthp" in lines[3]
    elapsed = next(ln for ln in lines if "elapsed" in ln)
    cells = [c.strip() for c in elapsed.strip("|").split("|")]
    assert cells == ["mmtests/kernbench", "elapsed (seconds)", "100.00", "(I) -10.00%", "0.20%"]
    score = next(ln for ln in lines if "score" in ln)
    assert "(R) -10.00%" in score
    single = next(ln for ln in lines if "single" in ln)
    assert "(I)" not in single and "(R)" not in single  # n = 1: no verdict
    errors = next(ln for ln in lines if "ERRORS" in ln)
    assert [c.strip() for c in errors.strip("|").split("|")][2:] == ["-", "-", "2 error(s)"]
    assert "\x1b[" not in out


def test_absolute_comparison_shows_means(store, capsys):
    code, out, _ = run(capsys, "show", store, "--swprofile", "1", "--swprofile", "2",
                       "--format", "ascii", "--resultclass", "el*")
    assert code == 0
    assert "(I) 90.00" in out and "score" not in out and "single" not in out


def test_display_filters(store, capsys):
    args = ["show", store, "--swprofile", "without-mthp", "--swprofile", "with-mthp",
            "--format", "ascii"]
    _, out, _ = run(capsys, *args, "--display", "improvement")
    assert "elapsed" in out and "score" not in out
    _, out, _ = run(capsys, *args, "--display", "regression")
    assert "score" in out and "elapsed" not in out
    _, out, _ = run(capsys, *args, "--display", "change")
    assert "score" in out and "elapsed" in out and "single" not in out


def test_noise_threshold_option(store, capsys):
    _, out, _ = run(capsys, "show", store, "--swprofile", "without-mthp", "--swprofile",
                    "with-mthp", "--format", "ascii", "--noise-threshold", "15")
    assert "(I)" not in out and "(R)" not in out


def test_colour_only_on_a_terminal(store, home, monkeypatch):
    with open_store(store, readonly=True) as st:
        report = build_report(st, ShowRequest(swprofiles=["without-mthp", "with-mthp"]))
    coloured = render_report(report, relative=True, colour=True)
    assert "\x1b[32m-10.00%\x1b[0m" in coloured and "\x1b[31m-10.00%\x1b[0m" in coloured
    assert "\x1b[" not in render_report(report, relative=True, colour=False)

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert use_colour("fancy", Tty()) is True
    assert use_colour("ascii", Tty()) is False
    assert use_colour("fancy", io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour("fancy", Tty()) is False


def test_json_and_csv_formats(store, capsys):
    args = ["show", store, "--swprofile", "without-mthp", "--swprofile", "with-mthp"]
    code, out, _ = run(capsys, *args, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["mode"] == "compare-swprofiles" and data["columns"] == ["without-mthp",
                                                                         "with-mthp"]
    rec = next(r for r in data["records"] if r["resultclass"] == "elapsed"
               and r["swprofile"] == "with-mthp")
    exp = compare(BASE, FASTER, "smaller")
    assert rec["verdict"] == "I" and rec["change_pct"] == exp.change_pct
    assert rec["mean"] == exp.comparison.mean and rec["count"] == 5
    code, out, _ = run(capsys, *args, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    score = [r for r in rows if r["resultclass"] == "score"]
    assert [r["verdict"] for r in score] == ["", "R"]
    assert float(score[1]["mean"]) == summarize(SLOWER_SCORE).mean


def test_errors_are_visible_in_a_summary(store, capsys):
    code, out, _ = run(capsys, "show", store, "--swprofile", "noise", "--format", "ascii")
    assert code == 0 and "ERRORS" in out and "2 error(s)" in out


def test_compare_suts(home, capsys):
    url = str(home / "two")
    p = swprofile("base")
    ingest(url, [batch(sut("a"), p, values={("t", "s", "smaller"): BASE}),
                 batch(sut("b"), p, values={("t", "s", "smaller"): FASTER})])
    code, out, _ = run(capsys, "show", url, "--sut", "a", "--sut", "b", "--format", "ascii")
    assert code == 0
    assert out.splitlines()[0] == "Results for SW Profile base:"
    assert "(I) 90.00" in out
    code, out, err = run(capsys, "show", url, "--format", "ascii")
    assert code == 2 and "holds 2 suts; choose with --sut" in err and "1:a, 2:b" in err


@pytest.mark.parametrize("args, message", [
    (["--swprofile", "nothing*"], "no swprofile matches 'nothing*'"),
    (["--swprofile", "99"], "no swprofile matches '99'"),
    ([], "holds 3 swprofiles; choose with --swprofile"),
    (["--sut", "nobody"], "no sut matches 'nobody'"),
    (["--swprofile", "noise", "--benchmark", "x/y"], "no benchmark matches 'x/y'"),
    (["--confidence", "1.5", "--swprofile", "noise"], "1.5 is not between 0 and 1"),
    (["--confidence", "0", "--swprofile", "noise"], "0.0 is not between 0 and 1"),
    (["--confidence", "1", "--swprofile", "noise"], "1.0 is not between 0 and 1"),
    (["--confidence", "abc", "--swprofile", "noise"], "'abc' is not a valid float"),
    (["--noise-threshold", "-1", "--swprofile", "noise"], "-1.0 is not a percentage"),
    (["--swprofile", "noise", "--display", "improvement"], "needs a comparison"),
    (["--swprofile", "noise", "--format", "pdf"], "'pdf' is not one of"),
])
def test_bad_show_input_is_exit_2(store, capsys, args, message):
    code, out, err = run(capsys, "show", store, *args)
    assert code == 2
    assert message in err
    assert out == "" and "Traceback" not in err


def test_ambiguity_lists_candidates(store, capsys):
    _, _, err = run(capsys, "show", store)
    assert "1:without-mthp, 2:with-mthp, 3:noise" in err


def test_store_from_preference(store, home, capsys, monkeypatch):
    code, _, err = run(capsys, "show", "--swprofile", "noise")
    assert code == 2 and "no resultstore given" in err and "default" in err
    monkeypatch.setenv("FASTPATH_DEFAULT_RESULTSTORE", store)
    code, out, _ = run(capsys, "show", "--swprofile", "noise", "--format", "ascii")
    assert code == 0 and out.startswith("Results for SUT lab-1 and SW Profile noise:")
    code, out, _ = run(capsys, "list", "--object", "swprofile", "--format", "json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["without-mthp", "with-mthp",
                                                                  "noise"]


def test_list_objects(home, capsys):
    url = str(home / "demo")
    ingest(url, demo_batches())
    code, out, _ = run(capsys, "list", url, "--object", "swprofile", "--id", "*mthp*",
                       "--format", "json")
    assert code == 0
    (rec,) = json.loads(out)
    assert rec["id"] == 2 and rec["kernel"] == "6.8.0-fp" and rec["gitsha"] == "a" * 40
    assert rec["cmdline"] == ["mitigations=off", "quiet"]
    code, out, _ = run(capsys, "list", url, "--object", "sut", "--format", "json")
    suts = json.loads(out)
    assert [(s["name"], s["nodes"], s["cpus"], s["arch"]) for s in suts] == [
        ("sut-a", 1, 2, ["x86_64"]), ("sut-b", 2, 4, ["x86_64"])]
    assert suts[1]["ram_bytes"] == 2 * (8 << 30)
    code, out, _ = run(capsys, "list", url, "--object", "benchmark", "--id", "speedometer/*")
    assert code == 0 and "speedometer" in out and "kernbench" not in out and "╒" in out
    assert 'browser=chromium, "headless"' in out
    code, out, _ = run(capsys, "list", url, "--object", "benchmark", "--id", "1",
                       "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["name"] == "kernbench" and rows[0]["params"] == "iterations=3\nver=1.10"
    code, _, err = run(capsys, "list", url, "--object", "kernel")
    assert code == 2 and "'kernel' is not one of" in err
    code, out, err = run(capsys, "list", url, "--object", "swprofile", "--id", "nothing*")
    assert code == 2 and out == "" and "no swprofile matches 'nothing*'" in err


def test_bad_default_store_names_the_preference(home, capsys, monkeypatch):
    monkeypatch.setenv("FASTPATH_DEFAULT_RESULTSTORE", "bogus://x")
    code, _, err = run(capsys, "list", "--object", "sut")
    assert code == 2
    assert "unknown scheme 'bogus'" in err
    assert "from the default.resultstore preference, environment FASTPATH_DEFAULT_RESULTSTORE" \
        in err


@pytest.mark.parametrize("url", ["postgres://fp:topsecret@db/results", "sqlite://rel.db",
                                 "ftp://fp:topsecret@host/x"])
def test_bad_url_on_the_command_line(home, capsys, url):
    for args in (["list", url, "--object", "sut"], ["show", url], ["merge", url, "out"]):
        code, out, err = run(capsys, *args)
        assert code == 2 and out == ""
        assert "invalid resultstore URL" in err and "accepted forms" in err
        assert "topsecret" not in err and err.count("\n") == 1
    assert not (home / "out").exists()
