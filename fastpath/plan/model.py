"""Plan vocabulary shared by the plan modules and their users (pure, no I/O)."""

from __future__ import annotations

import re
from typing import Any

BENCHMARK_DEFAULTS: dict[str, Any] = {"repeats": 3, "sessions": 1, "warmups": 1, "timeout": "1h"}
DEFAULT_ROLE = "executor"

_DURATION = re.compile(r"^([0-9]+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def timeout_seconds(duration: str) -> int:
    """``"30m"`` → 1800.  Raises ValueError for anything else."""
    match = _DURATION.match(duration)
    if not match:
        raise ValueError(f"'{duration}' is not a duration")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def is_url(value: str) -> bool:
    return bool(_URL.match(value))


def infer_pkgtype(kernel: str) -> str:
    return "DEB" if kernel.endswith(".deb") else "RAW"


def swprofile_name(profile: dict[str, Any], index: int) -> Any:
    """The profile's name, or the one normalisation gives an unnamed profile."""
    return profile.get("name") or f"swprofile-{index + 1}"


def sut_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The SUT's nodes; a single-node SUT (``connection``) is one node named like the SUT."""
    sut = plan["sut"]
    if sut.get("nodes"):
        return list(sut["nodes"])
    return [{"name": sut.get("name"), "connection": sut["connection"]}]


def work_total(plan: dict[str, Any]) -> int:
    """Number of benchmark runs (warm-ups included) the plan executes: the progress total."""
    return sum(
        b["sessions"] * (b["warmups"] + b["repeats"])
        for _ in plan["swprofiles"]
        for b in plan["benchmarks"]
    )
