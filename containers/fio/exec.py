#!/usr/bin/env python3
"""fastpath entrypoint for fio: IOPS, bandwidth and completion-latency percentiles."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from fastpath_bench import (
    Benchmark,
    BenchmarkError,
    ErrorCode,
    Param,
    Result,
    main,
    parse_number,
    run_tool,
)

SUITE = "fio"
RW = ("randread", "randwrite", "randrw", "read", "write", "rw")
PARAMS = {
    "rw": Param("randread", "choice", choices=RW),
    "bs": Param("4K", "size"),
    "size": Param("256M", "size", help="file size per job"),
    "runtime": Param("10", "int", minimum=1, help="seconds"),
    "ioengine": Param("psync", "choice", choices=("psync", "sync", "libaio", "io_uring", "mmap")),
    "iodepth": Param("1", "int", minimum=1, maximum=4096),
    "numjobs": Param("1", "int", minimum=1, maximum=256),
    "direct": Param("false", "bool", help="O_DIRECT (the directory's filesystem must allow it)"),
    "rwmixread": Param(None, "int", minimum=0, maximum=100, help="read percentage for randrw/rw"),
    "directory": Param("/var/tmp/fastpath-fio", help="where the test files live"),
}
PERCENTILES = {"50.000000": "p50", "99.000000": "p99"}


def command(params: dict, out_json: str) -> list[str]:
    directory = params["directory"]
    if not directory.startswith("/") or re.search(r"[:\s]", directory):
        raise BenchmarkError(
            ErrorCode.INVALID_PARAMS, f"param directory={directory!r}: want an absolute path"
        )
    if "rwmixread" in params and params["rw"] not in ("randrw", "rw"):
        raise BenchmarkError(ErrorCode.INVALID_PARAMS, "param rwmixread needs rw=randrw or rw=rw")
    argv = [
        "fio", "--name=fastpath", f"--directory={directory}", f"--rw={params['rw']}",
        f"--bs={params['bs']}", f"--size={params['size']}", f"--runtime={params['runtime']}",
        "--time_based", f"--ioengine={params['ioengine']}", f"--iodepth={params['iodepth']}",
        f"--numjobs={params['numjobs']}", f"--direct={int(params['direct'])}",
        "--group_reporting", "--output-format=json", f"--output={out_json}",
    ]
    if "rwmixread" in params:
        argv.append(f"--rwmixread={params['rwmixread']}")
    return argv


def directions(rw: str) -> list[str]:
    if rw in ("randrw", "rw"):
        return ["read", "write"]
    return ["read"] if "read" in rw else ["write"]


def parse(text: str, rw: str) -> list[Result]:
    """``<dir>_iops``, ``<dir>_bandwidth`` (KiB/s) and ``<dir>_clat_p50/p99`` (us) per direction."""
    if not text.strip():
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "fio wrote no JSON")
    # fio may print notes before the JSON document when --output is not used.
    start = text.find("{")
    try:
        doc = json.loads(text[start:]) if start >= 0 else None
    except json.JSONDecodeError as exc:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"fio JSON: {exc}") from None
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    if not jobs:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "fio JSON has no jobs")
    job = jobs[0]
    if job.get("error"):
        raise BenchmarkError(ErrorCode.TOOL_FAILED, f"fio job failed with errno {job['error']}")
    results = []
    try:
        for d in directions(rw):
            stats = job[d]
            iops = parse_number(stats["iops"])
            bw = parse_number(stats["bw"])
            if iops <= 0 or bw <= 0:
                raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"fio did no {d} I/O")
            results += [
                Result(f"{d}_iops", "IOPS", "bigger", iops),
                Result(f"{d}_bandwidth", "KiB/s", "bigger", bw),
            ]
            pct = stats["clat_ns"]["percentile"]
            for key, label in PERCENTILES.items():
                results.append(
                    Result(f"{d}_clat_{label}", "us", "smaller", parse_number(pct[key]) / 1000.0)
                )
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"fio JSON lacks {exc}") from None
    return results


def workload(bench: Benchmark) -> list[Result]:
    p = bench.params
    out_json = bench.output / "fio.json"
    argv = command(p, str(out_json))
    directory = Path(p["directory"])
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchmarkError(ErrorCode.TOOL_FAILED, f"cannot create {directory}: {exc}") from None
    try:
        run_tool(argv, "fio.log", bench.output)
        text = out_json.read_text() if out_json.exists() else ""
    finally:
        for f in directory.glob("fastpath.*"):  # fio's files: <job name>.<job>.<file>
            f.unlink(missing_ok=True)
        if created:
            shutil.rmtree(directory, ignore_errors=True)
    return parse(text, p["rw"])


if __name__ == "__main__":
    sys.exit(main(SUITE, PARAMS, workload))
