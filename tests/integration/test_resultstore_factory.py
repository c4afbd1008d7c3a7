"""Builders of realistic ingest batches shared by the resultstore tests (no tests here)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from fastpath.records import (
    Batch,
    BenchmarkInfo,
    CpuInfo,
    ErrorRow,
    NodeInfo,
    ResultRow,
    SutInfo,
    SwProfileInfo,
)

T0 = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def node(name: str = "node0", host: str = "sut-a", cpus: int = 2, ram: int = 8 << 30) -> NodeInfo:
    return NodeInfo(
        name=name, host_name=host, architecture="x86_64", cpu_count=cpus,
        cpu_info_hash=h(f"cpu-{host}"), numa_count=1, ram_sz=ram, hypervisor="kvm",
        product_name="Standard PC (Q35 + ICH9, 2009)", product_serial="",
        mac_addrs_hash=h(f"mac-{host}"),
        cpus=tuple(CpuInfo(i, json.dumps({"model": "QEMU \"Virtual\" CPU, v2", "mhz": 2400.0}))
                   for i in range(cpus)),
    )


def sut(name: str = "sut-a", nodes: int = 1, sutclass: str | None = "qemu-vm") -> SutInfo:
    return SutInfo(name=name, sutclass=sutclass,
                   nodes=tuple(node(f"n{i}", f"{name}-{i}") for i in range(nodes)))


def swprofile(name: str = "baseline", kernel: str = "6.1.0-13-amd64",
              cmdline: tuple[str, ...] = ("quiet", "mitigations=off")) -> SwProfileInfo:
    return SwProfileInfo(
        name=name, kernel_name=kernel, kernel_git_sha="a" * 40 if name != "baseline" else None,
        kernel_kconfig_full_hash=h(f"kconfig-{kernel}"),
        kernel_cmdline_full_hash=h(" ".join(cmdline)), userspace_name="Debian GNU/Linux 12",
        cmdline=cmdline, sysctl=("vm.swappiness=10", "kernel.numa_balancing=0"),
        bootscript=("echo 1 > /proc/sys/vm/drop_caches", "echo ok, \"quoted\""),
    )


def benchmark(suite: str = "mmtests", name: str = "kernbench",
              params: dict[str, str] | None = None,
              roles: tuple[str, ...] = ("executor",)) -> BenchmarkInfo:
    return BenchmarkInfo(suite=suite, name=name, type="cpu",
                         image=f"fastpath/{suite}-{name}:1.0",
                         params={"iterations": "3", "ver": "1.10"} if params is None else params,
                         roles=roles)


def results(values: dict[tuple[str, str, str], list[float]], session: str = "sess-1",
            start: datetime = T0, role: str = "executor") -> list[ResultRow]:
    """values: (resultclass, unit, improvement) -> samples."""
    rows = []
    for (rc, unit, imp), samples in values.items():
        for i, v in enumerate(samples):
            rows.append(ResultRow(rc, unit, imp, v, start + timedelta(seconds=i), session, role))
    return rows


def batch(sut_: SutInfo | None = None, swp: SwProfileInfo | None = None,
          bench: BenchmarkInfo | None = None, values=None, errors=(), session="sess-1",
          rolemap=None, start: datetime = T0) -> Batch:
    s = sut_ or sut()
    b = bench or benchmark()
    return Batch(
        sut=s, swprofile=swp or swprofile(), benchmark=b,
        rolemap=rolemap if rolemap is not None else {r: 0 for r in b.roles},
        results=results(values or {}, session, start),
        errors=[ErrorRow(code, start + timedelta(seconds=30 + i), session)
                for i, code in enumerate(errors)],
    )


def demo_batches() -> list[Batch]:
    """Two SUTs, three profiles, two benchmarks, awkward text and float values."""
    out = []
    s_a, s_b = sut("sut-a"), sut("sut-b", nodes=2, sutclass=None)
    profiles = [swprofile("baseline"), swprofile("with-mthp", "6.8.0-fp"),
                swprofile("no-mitig", "6.8.0-fp", ("quiet",))]
    kb = benchmark()
    sp = benchmark("speedometer", "v2.1", params={"browser": "chromium, \"headless\"\nx"})
    for si, s in enumerate((s_a, s_b)):
        for pi, p in enumerate(profiles):
            shift = 1.0 + 0.05 * pi + 0.01 * si
            out.append(batch(s, p, kb, {
                ("elapsed", "seconds", "smaller"): [389.8 * shift + d for d in
                                                    (0.1, -0.2, 0.3, 0.0, 0.1 / 3, 1e-9)],
                ("sys", "seconds", "smaller"): [2155.99 * shift, 2156.5 * shift, 2155.0 * shift],
            }, session=f"s{si}{pi}-a", start=T0 + timedelta(hours=si * 10 + pi)))
            out.append(batch(s, p, sp, {
                ("score", "runs/min", "bigger"): [162.0 / shift + d for d in (0.5, -0.25, 0.75)],
            }, errors=(104,) if pi == 2 else (), session=f"s{si}{pi}-b",
                start=T0 + timedelta(hours=si * 10 + pi, minutes=30)))
    return out
