#!/usr/bin/env python3
"""fastpath entrypoint for a Redis key-value workload: redis-server + redis-benchmark.

The server runs inside the same container on a private unix socket, so the benchmark
measures the kernel's scheduling, memory and IPC paths, not the network.
"""

from __future__ import annotations

import csv
import io
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from fastpath_bench import (
    Benchmark,
    BenchmarkError,
    ErrorCode,
    Param,
    Result,
    log,
    main,
    parse_number,
    retry_until,
    run_tool,
)

SUITE = "redis"
PARAMS = {
    "tests": Param("set,get", help="comma-separated redis-benchmark tests (-t)"),
    "requests": Param("100000", "int", minimum=1),
    "clients": Param("50", "int", minimum=1, maximum=10000),
    "pipeline": Param("1", "int", minimum=1, maximum=10000),
    "datasize": Param("3", "int", minimum=1, maximum=1 << 20, help="value size in bytes"),
    "threads": Param("1", "int", minimum=1, maximum=64, help="redis-benchmark threads"),
}
_TEST = re.compile(r"^[a-z][a-z_]*$")


def tests(value: str) -> list[str]:
    names = [t.strip().lower() for t in value.split(",") if t.strip()]
    if not names or not all(_TEST.match(n) for n in names):
        raise BenchmarkError(ErrorCode.INVALID_PARAMS, f"param tests={value!r}: want e.g. set,get")
    return names


def command(params: dict, sock: str) -> list[str]:
    return [
        "redis-benchmark", "-s", sock, "--csv", "-t", ",".join(tests(params["tests"])),
        "-n", str(params["requests"]), "-c", str(params["clients"]),
        "-P", str(params["pipeline"]), "-d", str(params["datasize"]),
        "--threads", str(params["threads"]),
    ]


def parse(text: str) -> list[Result]:
    """Per test: ``<test>_rps`` (requests/s) and ``<test>_latency_p50/p99`` (ms)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "redis-benchmark reported no test")
    results = []
    for row in rows:
        try:
            name = re.sub(r"[^a-z0-9]+", "_", row["test"].lower()).strip("_")
            rps = parse_number(row["rps"])
            p50 = parse_number(row["p50_latency_ms"])
            p99 = parse_number(row["p99_latency_ms"])
        except (KeyError, AttributeError, ValueError) as exc:
            raise BenchmarkError(
                ErrorCode.OUTPUT_UNPARSEABLE, f"redis-benchmark CSV: {exc}"
            ) from None
        if rps <= 0:
            raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"test {name}: no requests done")
        results += [
            Result(f"{name}_rps", "requests/s", "bigger", rps),
            Result(f"{name}_latency_p50", "ms", "smaller", p50),
            Result(f"{name}_latency_p99", "ms", "smaller", p99),
        ]
    return results


def _ping(sock: str) -> None:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(sock)
            s.sendall(b"PING\r\n")
            if not s.recv(16).startswith(b"+PONG"):
                raise ConnectionError("no PONG")
    except OSError as exc:
        raise ConnectionError(str(exc)) from None


def workload(bench: Benchmark) -> list[Result]:
    tests(bench.params["tests"])  # validate before starting anything
    with tempfile.TemporaryDirectory(prefix="fastpath-redis-") as tmp:
        sock = str(Path(tmp) / "redis.sock")
        with open(bench.output / "redis-server.log", "w") as server_log:
            server = subprocess.Popen(
                ["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                 "--appendonly", "no", "--dir", tmp],
                stdout=server_log, stderr=subprocess.STDOUT,
            )
        try:
            retry_until(lambda: _ping(sock), 30, 0.1, "redis-server")
            return parse(run_tool(command(bench.params, sock), "redis-benchmark.log", bench.output))
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
            log.info("redis-server stopped (status %s)", server.returncode)


if __name__ == "__main__":
    sys.exit(main(SUITE, PARAMS, workload))
