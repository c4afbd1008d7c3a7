"""results.csv parsing and the classification of one container run."""

from datetime import UTC, datetime

import pytest

from fastpath.records import ErrorCode
from fastpath.results_csv import classify, parse_text

TS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
UUID = "0b9f6c1e-1d7e-4a6f-9a59-2f1f5a0c7d11"


def parse(text, role="executor"):
    return parse_text(text, timestamp=TS, session_uuid=UUID, role=role)


def test_good_file_gives_results_with_unit_and_improvement():
    p = parse("name,unit,improvement,value,error\n"
              "latency,us,smaller,12.5,0\nthroughput,ops/s,Bigger,1e3,0\n", role="client")
    assert p.ok
    assert [(r.resultclass, r.unit, r.improvement, r.value, r.role) for r in p.results] == [
        ("latency", "us", "smaller", 12.5, "client"),
        ("throughput", "ops/s", "bigger", 1000.0, "client"),
    ]
    assert all(r.session_uuid == UUID and r.timestamp == TS for r in p.results)


def test_column_order_and_extra_columns_are_accepted():
    p = parse("value,error,name,improvement,unit,note\n3,0,x,bigger,s,hello\n")
    assert p.ok and p.results[0].value == 3.0 and p.results[0].unit == "s"


def test_header_only_is_valid_and_empty():
    p = parse("name,unit,improvement,value,error\n")
    assert p.ok and p.results == []


def test_container_error_code_is_kept_as_is():
    p = parse("name,unit,improvement,value,error\nx,s,bigger,,7\n")
    assert p.error.code == 7 and p.results == []


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("", ErrorCode.RESULTS_MALFORMED, "empty"),
        ("name,unit,value,error\nx,s,1,0\n", ErrorCode.RESULTS_MALFORMED, "improvement"),
        ("name,unit,improvement,value,error\nx,s,faster,1,0\n", ErrorCode.RESULTS_MALFORMED,
         "faster"),
        ("name,unit,improvement,value,error\nx,s,bigger,abc,0\n", ErrorCode.RESULTS_MALFORMED,
         "abc"),
        ("name,unit,improvement,value,error\nx,s,bigger,1\n", ErrorCode.RESULTS_MALFORMED,
         "fields"),
        ("name,unit,improvement,value,error\n,s,bigger,1,0\n", ErrorCode.RESULTS_MALFORMED,
         "empty name"),
        ("name,unit,improvement,value,error\nx,s,bigger,1,x\n", ErrorCode.RESULTS_MALFORMED,
         "not an integer"),
        ("name,unit,improvement,value,error\nx,s,bigger,1,250\n", ErrorCode.RESULTS_MALFORMED,
         "1..99"),
        ("name,unit,improvement,value,error\nx,s,bigger,nan,0\n", ErrorCode.VALUE_NOT_FINITE,
         "nan"),
        ("name,unit,improvement,value,error\nx,s,bigger,-inf,0\n", ErrorCode.VALUE_NOT_FINITE,
         "-inf"),
    ],
)
def test_malformed_files_give_one_error(text, code, fragment):
    p = parse(text)
    assert p.results == []
    assert p.error.code == code
    assert fragment in p.error.message


def _csv(tmp_path, text):
    path = tmp_path / "results.csv"
    path.write_text(text)
    return path


GOOD = "name,unit,improvement,value,error\nx,s,bigger,1.5,0\n"


def run(status, path):
    return classify(status, path, timestamp=TS, session_uuid=UUID, role="server",
                    timeout_s=30)


def test_classify_precedence(tmp_path):
    good = _csv(tmp_path, GOOD)
    assert run({"exit_code": 0}, good).results[0].value == 1.5
    assert run({"exit_code": 137, "timed_out": True}, good).error.code == ErrorCode.TIMEOUT
    assert "30s" in run({"timed_out": True}, None).error.message
    assert run({"exit_code": 137, "oom_killed": True}, good).error.code == ErrorCode.OOM_KILLED
    assert run({"exit_code": 3, "docker_log_tail": "boom\n"}, good).error.code == (
        ErrorCode.CONTAINER_EXIT)
    assert "boom" in run({"exit_code": 3, "docker_log_tail": "boom\n"}, None).error.message
    assert run({"exit_code": 0}, tmp_path / "nope.csv").error.code == ErrorCode.RESULTS_MISSING
    assert run({"exit_code": 0}, None).error.code == ErrorCode.RESULTS_MISSING
    own = _csv(tmp_path, "name,unit,improvement,value,error\nx,s,bigger,,4\n")
    # the container's own code beats its non-zero exit
    assert run({"exit_code": 1}, own).error.code == 4
    bad = _csv(tmp_path, "name,unit,improvement,value,error\nx,s,up,1,0\n")
    assert run({"exit_code": 0}, bad).error.code == ErrorCode.RESULTS_MALFORMED
    assert run({"exit_code": 0}, bad).error.role == "server"
