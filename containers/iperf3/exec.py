#!/usr/bin/env python3
"""fastpath entrypoint for iperf3, a two-role benchmark (roles: server, client).

The server role runs ``iperf3 -s -1`` (one client, then exit) and reports no results
(header-only results.csv); the client role retries until the server on
``nodes[rolemap['server']]`` accepts, runs the test and reports throughput.
"""

from __future__ import annotations

import json
import sys

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

SUITE = "iperf3"
ROLES = ("server", "client")
PARAMS = {
    "protocol": Param("tcp", "choice", choices=("tcp", "udp")),
    "time": Param("10", "int", minimum=1, maximum=86400, help="seconds"),
    "parallel": Param("1", "int", minimum=1, maximum=128, help="parallel streams"),
    "reverse": Param("false", "bool", help="server sends, client receives"),
    "bitrate": Param(None, "size", help="target bits/s, e.g. 1G (required sense for udp)"),
    "length": Param(None, "size", help="buffer / datagram length"),
    "port": Param("5201", "int", minimum=1, maximum=65535),
    "connect_timeout": Param("60", "int", minimum=1, help="seconds to wait for the peer"),
}
_REFUSED = ("connection refused", "no route to host", "network is unreachable",
            "connection reset", "timed out")


def server_command(params: dict) -> list[str]:
    # --idle-timeout: give up when no client arrives (the one-off server then exits).
    return ["iperf3", "-s", "-1", "-J", "-p", str(params["port"]),
            "--idle-timeout", str(params["connect_timeout"] + params["time"] + 30)]


def client_command(params: dict, address: str) -> list[str]:
    argv = ["iperf3", "-c", address, "-J", "-p", str(params["port"]), "-t", str(params["time"]),
            "-P", str(params["parallel"]), "--connect-timeout", "3000"]
    if params["protocol"] == "udp":
        argv += ["-u", "-b", params.get("bitrate", "1G")]
    elif "bitrate" in params:
        argv += ["-b", params["bitrate"]]
    if "length" in params:
        argv += ["-l", params["length"]]
    if params["reverse"]:
        argv.append("-R")
    return argv


def parse_json(text: str) -> dict:
    if not text.strip():
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "iperf3 printed nothing")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"iperf3 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "iperf3 JSON is not an object")
    error = doc.get("error")
    if error:
        if any(s in str(error).lower() for s in _REFUSED):
            raise ConnectionError(str(error))
        raise BenchmarkError(ErrorCode.TOOL_FAILED, f"iperf3: {error}")
    return doc


def parse_client(text: str, protocol: str) -> list[Result]:
    """``throughput`` (Gbit/s, as received) and, for UDP, ``jitter`` (ms) and ``loss`` (%)."""
    doc = parse_json(text)
    try:
        end = doc["end"]
        if protocol == "udp":
            s = end["sum"]
            bps = parse_number(s["bits_per_second"])
            results = [
                Result("throughput", "Gbit/s", "bigger", bps / 1e9),
                Result("jitter", "ms", "smaller", parse_number(s["jitter_ms"])),
                Result("loss", "%", "smaller", parse_number(s["lost_percent"])),
            ]
        else:
            bps = parse_number(end["sum_received"]["bits_per_second"])
            results = [Result("throughput", "Gbit/s", "bigger", bps / 1e9)]
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"iperf3 JSON lacks {exc}") from None
    if bps <= 0:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, "iperf3 moved no data")
    return results


def workload(bench: Benchmark) -> list[Result]:
    p = bench.params
    if bench.role == "server":
        text = run_tool(server_command(p), "iperf3-server.log", bench.output, ok_codes=(0, 1))
        if not text.strip():  # the idle timeout fired: no client ever came
            raise BenchmarkError(ErrorCode.PEER_UNREACHABLE, "no client connected to the server")
        try:
            doc = parse_json(text)
        except ConnectionError as exc:
            raise BenchmarkError(ErrorCode.PEER_UNREACHABLE, f"iperf3 server: {exc}") from None
        if not doc.get("end"):
            raise BenchmarkError(ErrorCode.PEER_UNREACHABLE, "no client connected to the server")
        log.info("server finished; the client role reports the results")
        return []
    address = bench.address_of("server")
    argv = client_command(p, address)

    def once() -> list[Result]:  # the log of the last attempt is kept
        text = run_tool(argv, "iperf3-client.log", bench.output, ok_codes=(0, 1))
        return parse_client(text, p["protocol"])

    return retry_until(once, p["connect_timeout"], 0.5, f"iperf3 server {address}:{p['port']}")


if __name__ == "__main__":
    sys.exit(main(SUITE, PARAMS, workload, roles=ROLES))
