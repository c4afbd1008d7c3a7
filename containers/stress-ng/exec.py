#!/usr/bin/env python3
"""fastpath entrypoint for stress-ng: bogo-ops/s of one or more stressors run together."""

from __future__ import annotations

import re
import sys

import yaml
from fastpath_bench import (
    Benchmark,
    BenchmarkError,
    ErrorCode,
    Param,
    Result,
    cpus_param,
    main,
    parse_number,
    run_tool,
)

SUITE = "stress-ng"
PARAMS = {
    "stressors": Param("cpu", help="comma-separated stressor names, e.g. cpu,matrix,switch"),
    "instances": Param("0", "int", minimum=0, help="instances per stressor; 0 = all CPUs"),
    "time": Param("10", "int", minimum=1, help="seconds per run"),
    "cpu_method": Param(None, help="--cpu-method (cpu stressor only)"),
}
_STRESSOR = re.compile(r"^[a-z][a-z0-9-]*$")


def stressors(value: str) -> list[str]:
    names = [s.strip() for s in value.split(",") if s.strip()]
    if not names or not all(_STRESSOR.match(n) for n in names):
        raise BenchmarkError(
            ErrorCode.INVALID_PARAMS, f"param stressors={value!r}: want names like cpu,matrix"
        )
    return names


def command(params: dict, yaml_path: str) -> list[str]:
    names = stressors(params["stressors"])
    n = cpus_param(params["instances"])
    argv = ["stress-ng"]
    for name in names:
        argv += [f"--{name}", str(n)]
    if "cpu_method" in params:
        if "cpu" not in names:
            raise BenchmarkError(ErrorCode.INVALID_PARAMS, "param cpu_method needs stressor cpu")
        argv += ["--cpu-method", params["cpu_method"]]
    return argv + ["--timeout", f"{params['time']}s", "--metrics-brief", "--yaml", yaml_path]


def parse(text: str, expected: list[str]) -> list[Result]:
    """Resultclasses ``<stressor>_bogo_ops_per_second`` from stress-ng's --yaml report."""
    if not text.strip():
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "stress-ng wrote an empty YAML report")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"stress-ng YAML: {exc}") from None
    metrics = (doc or {}).get("metrics") if isinstance(doc, dict) else None
    if not isinstance(metrics, list):
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "stress-ng report has no metrics")
    by_name = {m.get("stressor"): m for m in metrics if isinstance(m, dict)}
    results = []
    for name in expected:
        m = by_name.get(name)
        if m is None or "bogo-ops-per-second-real-time" not in m:
            raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"no metrics for stressor {name}")
        try:
            value = parse_number(m["bogo-ops-per-second-real-time"])
        except ValueError as exc:
            raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"{name}: {exc}") from None
        if value <= 0:
            raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"stressor {name} did no work")
        results.append(Result(f"{name}_bogo_ops_per_second", "bogo-ops/s", "bigger", value))
    return results


def workload(bench: Benchmark) -> list[Result]:
    report = bench.output / "stress-ng.yaml"
    run_tool(command(bench.params, str(report)), "stress-ng.log", bench.output)
    try:
        text = report.read_text()
    except OSError:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "stress-ng wrote no report") from None
    return parse(text, stressors(bench.params["stressors"]))


if __name__ == "__main__":
    sys.exit(main(SUITE, PARAMS, workload))
