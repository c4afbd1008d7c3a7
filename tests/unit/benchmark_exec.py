"""Import the benchmark containers' exec.py modules (and their helper) in unit tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from fastpath.paths import containers_dir

FIXTURES = Path(__file__).parent / "fixtures" / "bench_outputs"
SUITES = ("sysbench", "stress-ng", "hackbench", "fio", "redis", "iperf3")


def helper() -> ModuleType:
    common = str(containers_dir() / "common")
    if common not in sys.path:
        sys.path.insert(0, common)
    import fastpath_bench

    return fastpath_bench


def load_exec(suite: str) -> ModuleType:
    helper()
    name = "fastpath_exec_" + suite.replace("-", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, containers_dir() / suite / "exec.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()
