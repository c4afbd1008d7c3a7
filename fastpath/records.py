"""Plain records exchanged between the layers (no I/O, no heavy imports).

The SUT session runner produces these from fingerprints and results.csv files; the
resultstore ingests them.  Field names follow the resultstore schema (guide §1.2.10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum


class ErrorCode(IntEnum):
    """fastpath's own ERROR codes (>= 100).

    Codes 1..99 are reserved for benchmark containers: a non-zero ``error`` column in a
    container's results.csv is stored as that container's own code (see the benchmark
    library docs).  Each code below has one meaning and is explained in the run log.
    """

    CONTAINER_EXIT = 101  # container exited non-zero and reported no error code itself
    RESULTS_MISSING = 102  # no results.csv after the container finished
    RESULTS_MALFORMED = 103  # bad header, non-numeric value, bad improvement, empty file
    TIMEOUT = 104  # killed after the benchmark's timeout
    OOM_KILLED = 105  # the kernel OOM-killed the container
    IMAGE_UNAVAILABLE = 106  # image neither on the SUT, pullable, nor on the controller
    VALUE_NOT_FINITE = 107  # a NaN or infinite value in results.csv
    RUN_FAILED = 108  # the SUT-side runner itself failed (docker unusable, ssh lost...)
    KERNEL_INSTALL_FAILED = 110
    BOOT_FAILED = 111  # the profile's kernel did not come up; SUT recovered on default
    KERNEL_MISMATCH = 112  # uname -r after reboot is not the profile's kernel
    CMDLINE_MISMATCH = 113  # a requested cmdline option is missing from /proc/cmdline
    SYSCTL_MISMATCH = 114  # a requested sysctl does not have its value after boot
    BOOTSCRIPT_FAILED = 115  # the profile's bootscript exited non-zero
    SETUP_ROLE_FAILED = 116  # a user's custom setup role failed


@dataclass(frozen=True)
class CpuInfo:
    cpu_index: int
    desc: str  # arch-specific descriptor, JSON text


@dataclass(frozen=True)
class NodeInfo:
    name: str | None
    host_name: str
    architecture: str
    cpu_count: int
    cpu_info_hash: str
    numa_count: int
    ram_sz: int
    hypervisor: str
    product_name: str
    product_serial: str
    mac_addrs_hash: str
    cpus: tuple[CpuInfo, ...] = ()


@dataclass(frozen=True)
class SutInfo:
    name: str | None
    sutclass: str | None
    nodes: tuple[NodeInfo, ...]


@dataclass(frozen=True)
class SwProfileInfo:
    name: str | None
    kernel_name: str  # uname -r
    kernel_git_sha: str | None
    kernel_kconfig_full_hash: str | None
    kernel_cmdline_full_hash: str
    userspace_name: str  # lsb_release -d
    cmdline: tuple[str, ...] = ()  # as in the plan (the store keeps them sorted)
    sysctl: tuple[str, ...] = ()
    bootscript: tuple[str, ...] = ()


@dataclass(frozen=True)
class BenchmarkInfo:
    suite: str
    name: str
    type: str
    image: str
    params: dict[str, str] = field(default_factory=dict)
    roles: tuple[str, ...] = ("executor",)


@dataclass(frozen=True)
class ResultRow:
    resultclass: str
    unit: str
    improvement: str  # "bigger" | "smaller"
    value: float
    timestamp: datetime
    session_uuid: str
    role: str = "executor"


@dataclass(frozen=True)
class ErrorRow:
    code: int
    timestamp: datetime
    session_uuid: str
    role: str = "executor"
    message: str = ""  # for logs only; the store keeps the code


@dataclass
class Batch:
    """One ingest transaction: everything one benchmark iteration (or more) produced.

    ``rolemap`` maps each role of the benchmark to a node index of ``sut.nodes``.
    """

    sut: SutInfo
    swprofile: SwProfileInfo
    benchmark: BenchmarkInfo
    rolemap: dict[str, int]
    results: list[ResultRow] = field(default_factory=list)
    errors: list[ErrorRow] = field(default_factory=list)
