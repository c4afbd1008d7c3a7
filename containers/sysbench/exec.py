#!/usr/bin/env python3
"""fastpath entrypoint for sysbench (cpu, threads, memory, mutex tests)."""

from __future__ import annotations

import sys

from fastpath_bench import (
    Benchmark,
    BenchmarkError,
    ErrorCode,
    Param,
    Result,
    cpus_param,
    find_number,
    main,
    run_tool,
)

SUITE = "sysbench"
TESTS = ("cpu", "threads", "memory", "mutex")
# param -> (sysbench option, the test it belongs to)
TEST_OPTIONS = {
    "cpu_max_prime": ("--cpu-max-prime", "cpu"),
    "thread_yields": ("--thread-yields", "threads"),
    "thread_locks": ("--thread-locks", "threads"),
    "memory_block_size": ("--memory-block-size", "memory"),
    "memory_total_size": ("--memory-total-size", "memory"),
    "memory_oper": ("--memory-oper", "memory"),
    "memory_access_mode": ("--memory-access-mode", "memory"),
    "mutex_num": ("--mutex-num", "mutex"),
    "mutex_locks": ("--mutex-locks", "mutex"),
    "mutex_loops": ("--mutex-loops", "mutex"),
}
PARAMS = {
    "test": Param("cpu", "choice", choices=TESTS),
    "threads": Param("1", "int", minimum=0, help="0 = all online CPUs"),
    "time": Param("10", "int", minimum=1, help="seconds (cpu, threads, memory)"),
    "cpu_max_prime": Param(None, "int", minimum=3),
    "thread_yields": Param(None, "int", minimum=1),
    "thread_locks": Param(None, "int", minimum=1),
    "memory_block_size": Param(None, "size"),
    "memory_total_size": Param(None, "size"),
    "memory_oper": Param(None, "choice", choices=("read", "write", "none")),
    "memory_access_mode": Param(None, "choice", choices=("seq", "rnd")),
    "mutex_num": Param(None, "int", minimum=1),
    "mutex_locks": Param(None, "int", minimum=1),
    "mutex_loops": Param(None, "int", minimum=0),
}


def command(params: dict) -> list[str]:
    test = params["test"]
    argv = ["sysbench", test, f"--threads={cpus_param(params['threads'])}"]
    if test != "mutex":
        argv.append(f"--time={params['time']}")
    if test == "memory" and "memory_total_size" not in params:
        argv.append("--memory-total-size=1T")  # let --time bound the run
    for key, (option, owner) in TEST_OPTIONS.items():
        if key in params:
            if owner != test:
                raise BenchmarkError(
                    ErrorCode.INVALID_PARAMS, f"param {key} applies to test {owner}, not {test}"
                )
            argv.append(f"{option}={params[key]}")
    return argv + ["run"]


def parse(test: str, text: str) -> list[Result]:
    """Resultclasses from the text sysbench 1.0 prints for ``test``."""
    if not text.strip():
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "sysbench printed nothing")
    total_time = find_number(r"^\s*total time:\s+([\d.,]+)s\s*$", text, "total time")
    events = find_number(r"^\s*total number of events:\s+([\d.,]+)\s*$", text, "event count")
    lat_avg = find_number(r"^\s*avg:\s+([\d.,]+)\s*$", text, "average latency")
    lat_p95 = find_number(r"^\s*95th percentile:\s+([\d.,]+)\s*$", text, "95th percentile")
    if total_time <= 0 or events <= 0:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "sysbench ran no events")
    if test == "cpu":
        eps = find_number(r"^\s*events per second:\s+([\d.,]+)\s*$", text, "events per second")
        return [
            Result("events_per_second", "events/s", "bigger", eps),
            Result("latency_avg", "ms", "smaller", lat_avg),
            Result("latency_p95", "ms", "smaller", lat_p95),
        ]
    if test == "threads":
        return [
            Result("events_per_second", "events/s", "bigger", events / total_time),
            Result("latency_avg", "ms", "smaller", lat_avg),
            Result("latency_p95", "ms", "smaller", lat_p95),
        ]
    if test == "memory":
        mibs = find_number(r"transferred \(([\d.,]+) MiB/sec\)", text, "memory throughput")
        ops = find_number(r"^Total operations: \d+ \(([\d.,]+) per second\)", text, "operations")
        return [
            Result("throughput", "MiB/s", "bigger", mibs),
            Result("ops_per_second", "ops/s", "bigger", ops),
        ]
    if test == "mutex":
        return [
            Result("total_time", "s", "smaller", total_time),
            Result("latency_avg", "ms", "smaller", lat_avg),
        ]
    raise BenchmarkError(ErrorCode.INVALID_PARAMS, f"unknown test {test!r}")


def workload(bench: Benchmark) -> list[Result]:
    argv = command(bench.params)
    return parse(bench.params["test"], run_tool(argv, "sysbench.log", bench.output))


if __name__ == "__main__":
    sys.exit(main(SUITE, PARAMS, workload))
