"""Every worked example of STATISTICS.md (testdata/stats_examples.json) against fastpath.stats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from fastpath.stats import compare, summarize

VECTORS_FILE = Path(__file__).resolve().parents[2].parent / "shared/testdata/stats_examples.json"
DATA = json.loads(VECTORS_FILE.read_text())
TOL = DATA["tolerance"]
VECTORS = {v["id"]: v for v in DATA["vectors"]}


def _close(path: str, got, exp, mean) -> None:
    if exp is None or isinstance(exp, (bool, str)):
        assert got == exp, f"{path}: got {got!r}, expected {exp!r}"
        return
    assert got is not None, f"{path}: got None, expected {exp!r}"
    if path.endswith("_pct"):
        tol = TOL["rel"] * abs(exp) + TOL["pct_abs"]
    elif path.endswith("ci_half_width"):
        tol = TOL["rel"] * max(abs(exp), abs(mean or 0.0)) + TOL["abs"]
    else:
        tol = TOL["rel"] * abs(exp) + TOL["abs"]
    assert math.isfinite(got) and abs(got - exp) <= tol, f"{path}: got {got!r}, expected {exp!r}"


def check_summary(prefix: str, got, expected: dict, exact: set[str]) -> None:
    data = got.as_dict()
    for key, exp in expected.items():
        path = f"{prefix}{key}"
        if path in exact:
            assert data[key] == exp and type(data[key]) is type(exp), f"{path} not bit-identical"
        else:
            _close(path, data[key], exp, expected.get("mean"))


def check_compare(prefix: str, got, expected: dict, exact: set[str]) -> None:
    for key, exp in expected.items():
        if key in ("baseline", "comparison"):
            check_summary(f"{prefix}{key}.", getattr(got, key), exp, exact)
        else:
            _close(f"{prefix}{key}", getattr(got, key), exp, None)


def _ids(kind: str) -> list[str]:
    return [vid for vid, v in VECTORS.items() if v["kind"] == kind]


def test_vector_file_has_all_kinds():
    assert _ids("summary") and _ids("compare") and _ids("bisect")


@pytest.mark.parametrize("vid", _ids("summary"))
def test_summary_vectors(vid):
    v = VECTORS[vid]
    got = summarize(v["input"]["samples"], v["input"]["confidence"])
    check_summary("", got, v["expected"], set(v.get("exact_fields", [])))


@pytest.mark.parametrize("vid", _ids("compare"))
def test_compare_vectors(vid):
    v = VECTORS[vid]
    inp = v["input"]
    got = compare(inp["baseline"], inp["comparison"], inp["direction"], inp["confidence"],
                  inp["noise_threshold"])
    check_compare("", got, v["expected"], set(v.get("exact_fields", [])))
    for key, exp in v["intent"].items():
        assert getattr(got, key) == exp


@pytest.mark.parametrize("vid", _ids("bisect"))
def test_bisect_vectors_summary_and_compare_parts(vid):
    """The bisect vectors' summaries and comparisons are §2/§3 results too."""
    v = VECTORS[vid]
    inp, exp = v["input"], v["expected"]
    c, tau, d = inp["confidence"], inp["noise_threshold"], inp["direction"]
    exact = set(v.get("exact_fields", []))
    check_summary("good.", summarize(inp["good"], c), exp["good"], exact)
    check_summary("bad.", summarize(inp["bad"], c), exp["bad"], exact)
    check_compare("baseline_check.", compare(inp["good"], inp["bad"], d, c, tau),
                  exp["baseline_check"], exact)
    if exp["phase2"]:
        commit = inp["commit_first"] + inp["commit_more"]
        check_summary("phase2.commit.", summarize(commit, c), exp["phase2"]["commit"], exact)
        check_compare("phase2.vs_good.", compare(inp["good"], commit, d, c, tau),
                      exp["phase2"]["vs_good"], exact)
        check_compare("phase2.vs_bad.", compare(inp["bad"], commit, d, c, tau),
                      exp["phase2"]["vs_bad"], exact)
