#!/usr/bin/env python3
"""fastpath entrypoint for hackbench (rt-tests): scheduler + IPC message passing time."""

from __future__ import annotations

import sys

from fastpath_bench import (
    Benchmark,
    BenchmarkError,
    ErrorCode,
    Param,
    Result,
    find_number,
    main,
    run_tool,
)

SUITE = "hackbench"
PARAMS = {
    "mode": Param("process", "choice", choices=("process", "thread")),
    "ipc": Param("socket", "choice", choices=("socket", "pipe")),
    "groups": Param("10", "int", minimum=1, maximum=1000),
    "fds": Param("20", "int", minimum=1, maximum=1000, help="senders/receivers per group"),
    "loops": Param("1000", "int", minimum=1, help="messages per sender"),
    "datasize": Param("100", "int", minimum=1, help="bytes per message"),
}


def command(params: dict) -> list[str]:
    # Short options only: hackbench 2.40's long option table mis-parses --pipe.
    argv = ["hackbench", "-T" if params["mode"] == "thread" else "-P"]
    if params["ipc"] == "pipe":
        argv.append("-p")
    return argv + [
        "-g", str(params["groups"]),
        "-f", str(params["fds"]),
        "-l", str(params["loops"]),
        "-s", str(params["datasize"]),
    ]


def parse(text: str) -> list[Result]:
    """The single resultclass ``time`` (seconds, smaller is better)."""
    if not text.strip():
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "hackbench printed nothing")
    seconds = find_number(r"^Time:\s*([\d.,]+)\s*$", text, "Time:")
    if seconds <= 0:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"implausible time {seconds}")
    return [Result("time", "s", "smaller", seconds)]


def workload(bench: Benchmark) -> list[Result]:
    return parse(run_tool(command(bench.params), "hackbench.log", bench.output))


if __name__ == "__main__":
    sys.exit(main(SUITE, PARAMS, workload))
