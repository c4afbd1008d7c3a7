"""Parsers of every benchmark container, against real captured tool outputs.

Fixtures in fixtures/bench_outputs/ were captured by running the Debian bookworm tools
(sysbench 1.0.20, stress-ng 0.15.06, rt-tests hackbench 2.40, fio 3.33, redis-benchmark
7.0.15, iperf3 3.12) on a 2-CPU x86_64 host.  ``*_de_DE*`` files were captured with
LC_ALL=de_DE.UTF-8: none of these tools localises its numbers, so the
``*_decimal_comma_constructed*`` files were made by hand from the real captures (every
decimal point turned into a comma) to prove the parsers survive such a locale.
"""

from __future__ import annotations

import pytest

from tests.unit.benchmark_exec import fixture, helper, load_exec

fb = helper()
E = fb.ErrorCode


def values(results):
    return {r.name: (r.value, r.unit, r.improvement) for r in results}


def code_of(excinfo) -> int:
    return excinfo.value.code


# ---------------------------------------------------------------- sysbench

sysbench = load_exec("sysbench")


def test_sysbench_cpu():
    got = values(sysbench.parse("cpu", fixture("sysbench_cpu.txt")))
    assert got == {
        "events_per_second": (2625.36, "events/s", "bigger"),
        "latency_avg": (0.38, "ms", "smaller"),
        "latency_p95": (0.51, "ms", "smaller"),
    }


def test_sysbench_threads_rate_is_events_over_time():
    got = values(sysbench.parse("threads", fixture("sysbench_threads.txt")))
    assert got["events_per_second"][0] == pytest.approx(733 / 2.0008)
    assert got["latency_avg"] == (5.45, "ms", "smaller")
    assert got["latency_p95"] == (6.32, "ms", "smaller")


def test_sysbench_memory():
    got = values(sysbench.parse("memory", fixture("sysbench_memory.txt")))
    assert got == {
        "throughput": (4559.89, "MiB/s", "bigger"),
        "ops_per_second": (4669332.03, "ops/s", "bigger"),
    }


def test_sysbench_mutex():
    got = values(sysbench.parse("mutex", fixture("sysbench_mutex.txt")))
    assert got == {"total_time": (0.5616, "s", "smaller"), "latency_avg": (516.43, "ms", "smaller")}


def test_sysbench_de_locale_capture_and_decimal_comma():
    assert values(sysbench.parse("cpu", fixture("sysbench_cpu_de_DE.txt")))[
        "events_per_second"][0] == 3273.95
    comma = values(sysbench.parse("cpu", fixture("sysbench_cpu_decimal_comma_constructed.txt")))
    assert comma == values(sysbench.parse("cpu", fixture("sysbench_cpu.txt")))


@pytest.mark.parametrize("name", ["empty.txt", "sysbench_fail_badopt.txt"])
def test_sysbench_unparseable(name):
    with pytest.raises(fb.BenchmarkError) as exc:
        sysbench.parse("cpu", fixture(name))
    assert code_of(exc) == E.OUTPUT_UNPARSEABLE


def test_sysbench_cpu_output_lacks_memory_metrics():
    with pytest.raises(fb.BenchmarkError) as exc:
        sysbench.parse("memory", fixture("sysbench_cpu.txt"))
    assert code_of(exc) == E.OUTPUT_UNPARSEABLE


def test_sysbench_command_and_param_checks():
    p = fb.validate_params({"test": "memory", "threads": "2", "time": "3",
                            "memory_block_size": "4K"}, sysbench.PARAMS)
    assert sysbench.command(p) == ["sysbench", "memory", "--threads=2", "--time=3",
                                   "--memory-total-size=1T", "--memory-block-size=4K", "run"]
    p = fb.validate_params({"test": "mutex"}, sysbench.PARAMS)
    assert "--time=10" not in sysbench.command(p)
    p = fb.validate_params({"test": "cpu", "mutex_num": "4"}, sysbench.PARAMS)
    with pytest.raises(fb.BenchmarkError) as exc:
        sysbench.command(p)
    assert code_of(exc) == E.INVALID_PARAMS


# ---------------------------------------------------------------- stress-ng

stressng = load_exec("stress-ng")


def test_stress_ng_yaml_report():
    got = values(stressng.parse(fixture("stress-ng_cpu_matrix.yaml"), ["cpu", "matrix"]))
    assert got == {
        "cpu_bogo_ops_per_second": (975.661195, "bogo-ops/s", "bigger"),
        "matrix_bogo_ops_per_second": (1670.896821, "bogo-ops/s", "bigger"),
    }


def test_stress_ng_de_locale_and_decimal_comma():
    got = values(stressng.parse(fixture("stress-ng_cpu_de_DE.yaml"), ["cpu"]))
    assert got["cpu_bogo_ops_per_second"][0] == 1160.000830
    comma = stressng.parse(fixture("stress-ng_decimal_comma_constructed.yaml"), ["cpu", "matrix"])
    assert values(comma)["matrix_bogo_ops_per_second"][0] == 1670.896821


@pytest.mark.parametrize("name", ["empty.txt", "stress-ng_fail_badstressor.txt",
                                  "stress-ng_cpu_matrix.txt"])
def test_stress_ng_unparseable(name):
    with pytest.raises(fb.BenchmarkError) as exc:
        stressng.parse(fixture(name), ["cpu"])
    assert code_of(exc) == E.OUTPUT_UNPARSEABLE


def test_stress_ng_missing_stressor_is_an_error():
    with pytest.raises(fb.BenchmarkError) as exc:
        stressng.parse(fixture("stress-ng_cpu_de_DE.yaml"), ["cpu", "matrix"])
    assert "matrix" in exc.value.message


def test_stress_ng_command():
    p = fb.validate_params({"stressors": "cpu,switch", "instances": "2", "time": "3",
                            "cpu_method": "fft"}, stressng.PARAMS)
    assert stressng.command(p, "/o/r.yaml") == [
        "stress-ng", "--cpu", "2", "--switch", "2", "--cpu-method", "fft", "--timeout", "3s",
        "--metrics-brief", "--yaml", "/o/r.yaml"]
    for bad in ("cpu;rm -rf /", "", "CPU"):
        p = fb.validate_params({"stressors": bad or ","}, stressng.PARAMS)
        with pytest.raises(fb.BenchmarkError) as exc:
            stressng.command(p, "/o/r.yaml")
        assert code_of(exc) == E.INVALID_PARAMS


# ---------------------------------------------------------------- hackbench

hackbench = load_exec("hackbench")


@pytest.mark.parametrize("name,seconds", [
    ("hackbench_process_socket.txt", 0.409),
    ("hackbench_thread_pipe.txt", 0.171),
    ("hackbench_process_socket_de_DE.txt", 0.191),
    ("hackbench_decimal_comma_constructed.txt", 0.409),
])
def test_hackbench_time(name, seconds):
    assert values(hackbench.parse(fixture(name))) == {"time": (seconds, "s", "smaller")}


@pytest.mark.parametrize("name", ["empty.txt", "hackbench_fail.txt", "hackbench_fail_badopt.txt"])
def test_hackbench_unparseable(name):
    with pytest.raises(fb.BenchmarkError) as exc:
        hackbench.parse(fixture(name))
    assert code_of(exc) == E.OUTPUT_UNPARSEABLE


def test_hackbench_command():
    p = fb.validate_params({"mode": "thread", "ipc": "pipe", "groups": "4"}, hackbench.PARAMS)
    assert hackbench.command(p) == ["hackbench", "-T", "-p", "-g", "4", "-f", "20", "-l", "1000",
                                    "-s", "100"]


# ---------------------------------------------------------------- fio

fio = load_exec("fio")


def test_fio_randrw_both_directions():
    got = values(fio.parse(fixture("fio_randrw.json"), "randrw"))
    assert got["read_iops"] == (5141.929035, "IOPS", "bigger")
    assert got["read_bandwidth"] == (20567, "KiB/s", "bigger")
    assert got["read_clat_p50"] == (108.032, "us", "smaller")
    assert got["read_clat_p99"] == (1548.288, "us", "smaller")
    assert got["write_iops"] == (2214.892554, "IOPS", "bigger")
    assert set(got) == {f"{d}_{m}" for d in ("read", "write")
                        for m in ("iops", "bandwidth", "clat_p50", "clat_p99")}


def test_fio_single_direction_and_de_locale():
    assert {r.name for r in fio.parse(fixture("fio_randread.json"), "randread")} == {
        "read_iops", "read_bandwidth", "read_clat_p50", "read_clat_p99"}
    got = values(fio.parse(fixture("fio_randwrite_de_DE.json"), "randwrite"))
    assert got["write_iops"][0] == 81399.6004
    assert got["write_clat_p99"][0] == 25.984


def test_fio_failed_job_and_empty_output():
    with pytest.raises(fb.BenchmarkError) as exc:
        fio.parse(fixture("fio_fail.json"), "randread")
    assert code_of(exc) == E.TOOL_FAILED
    with pytest.raises(fb.BenchmarkError) as exc:
        fio.parse(fixture("empty.txt"), "randread")
    assert code_of(exc) == E.OUTPUT_UNPARSEABLE
    with pytest.raises(fb.BenchmarkError) as exc:  # read-only job asked for write metrics
        fio.parse(fixture("fio_randread.json"), "randwrite")
    assert code_of(exc) == E.OUTPUT_UNPARSEABLE


def test_fio_command_checks():
    p = fb.validate_params({"rw": "randread", "rwmixread": "70"}, fio.PARAMS)
    with pytest.raises(fb.BenchmarkError):
        fio.command(p, "/o/fio.json")
    p = fb.validate_params({"directory": "relative/dir"}, fio.PARAMS)
    with pytest.raises(fb.BenchmarkError):
        fio.command(p, "/o/fio.json")
    p = fb.validate_params({"rw": "randrw", "rwmixread": "70", "direct": "on"}, fio.PARAMS)
    argv = fio.command(p, "/o/fio.json")
    assert "--direct=1" in argv and "--rwmixread=70" in argv and "--output=/o/fio.json" in argv


# ---------------------------------------------------------------- redis

redis = load_exec("redis")


def test_redis_csv():
    got = values(redis.parse(fixture("redis_csv.txt")))
    assert got["set_rps"] == (44052.86, "requests/s", "bigger")
    assert got["get_latency_p50"] == (0.087, "ms", "smaller")
    assert got["lpop_latency_p99"] == (0.679, "ms", "smaller")
    assert len(got) == 5 * 3


def test_redis_de_locale_and_decimal_comma():
    assert values(redis.parse(fixture("redis_csv_de_DE.txt")))["get_rps"][0] == 56179.77
    comma = values(redis.parse(fixture("redis_csv_decimal_comma_constructed.txt")))
    assert comma == values(redis.parse(fixture("redis_csv.txt")))


@pytest.mark.parametrize("name", ["empty.txt", "redis_fail_noserver.txt"])
def test_redis_unparseable(name):
    with pytest.raises(fb.BenchmarkError) as exc:
        redis.parse(fixture(name))
    assert code_of(exc) == E.OUTPUT_UNPARSEABLE


def test_redis_command():
    p = fb.validate_params({"tests": "set, GET", "requests": "10"}, redis.PARAMS)
    argv = redis.command(p, "/t/s")
    assert argv[:6] == ["redis-benchmark", "-s", "/t/s", "--csv", "-t", "set,get"]
    with pytest.raises(fb.BenchmarkError):
        redis.tests("set;flushall")


# ---------------------------------------------------------------- iperf3

iperf3 = load_exec("iperf3")


def test_iperf3_tcp_client():
    got = values(iperf3.parse_client(fixture("iperf3_client_tcp.json"), "tcp"))
    assert got == {"throughput": (12998871701.255764 / 1e9, "Gbit/s", "bigger")}


def test_iperf3_udp_reverse_and_de_locale():
    got = values(iperf3.parse_client(fixture("iperf3_client_udp.json"), "udp"))
    assert got["throughput"][0] == pytest.approx(0.1000002)
    assert got["jitter"][1:] == ("ms", "smaller") and got["jitter"][0] > 0
    assert got["loss"] == (0, "%", "smaller")
    for name in ("iperf3_client_tcp_reverse.json", "iperf3_client_tcp_de_DE.json"):
        assert iperf3.parse_client(fixture(name), "tcp")[0].value > 1


def test_iperf3_refused_is_retryable_and_other_failures_are_not():
    with pytest.raises(ConnectionError):
        iperf3.parse_client(fixture("iperf3_client_refused.json"), "tcp")
    with pytest.raises(fb.BenchmarkError) as exc:
        iperf3.parse_client(fixture("empty.txt"), "tcp")
    assert code_of(exc) == E.OUTPUT_UNPARSEABLE
    with pytest.raises(fb.BenchmarkError) as exc:
        iperf3.parse_client('{"error": "the server is busy running a test"}', "tcp")
    assert code_of(exc) == E.TOOL_FAILED


def test_iperf3_server_output_and_commands():
    assert iperf3.parse_json(fixture("iperf3_server_tcp.json"))["end"]
    p = fb.validate_params({"protocol": "udp", "time": "2", "reverse": "yes"}, iperf3.PARAMS)
    argv = iperf3.client_command(p, "10.0.0.2")
    assert argv[:3] == ["iperf3", "-c", "10.0.0.2"]
    assert argv[-4:] == ["-u", "-b", "1G", "-R"]
    assert iperf3.server_command(p)[:4] == ["iperf3", "-s", "-1", "-J"]
