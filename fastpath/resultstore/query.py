"""Read API over an open store connection (used by the CLI, the dashboard and bisect).

The caller owns the connection (``with store.connect() as conn:``).  Objects are described
by small frozen dataclasses; samples are streamed one group at a time, where a group is
(SUT, swprofile, benchmark, resultclass) — the unit the statistics work on — so memory does
not grow with the number of results.
"""

from __future__ import annotations

import fnmatch
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from fastpath.errors import UserError
from fastpath.resultstore.models import (
    Benchmark,
    Error,
    Node,
    Param,
    Result,
    ResultClass,
    Role,
    Sut,
    SutClass,
    SwProfile,
)

_STREAM = 20_000


@dataclass(frozen=True)
class NodeDesc:
    id: int
    name: str | None
    host_name: str
    architecture: str
    cpu_count: int
    numa_count: int
    ram_sz: int
    hypervisor: str
    product_name: str


@dataclass(frozen=True)
class SutDesc:
    id: int
    name: str | None
    sutclass: str | None
    nodes: tuple[NodeDesc, ...]

    @property
    def label(self) -> str:
        return self.name if self.name else f"#{self.id}"


@dataclass(frozen=True)
class SwProfileDesc:
    id: int
    name: str | None
    kernel_name: str
    kernel_git_sha: str | None
    kernel_kconfig_full_hash: str | None
    kernel_cmdline_full_hash: str
    userspace_name: str
    cmdline: str
    sysctl: str
    bootscript: str

    @property
    def label(self) -> str:
        return self.name if self.name else f"#{self.id}"


@dataclass(frozen=True)
class BenchmarkDesc:
    id: int
    suite: str
    name: str
    type: str
    image: str
    params: tuple[tuple[str, str], ...] = ()
    roles: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.suite}/{self.name}"


@dataclass(frozen=True)
class ResultClassDesc:
    id: int
    benchmark_id: int
    name: str
    unit: str
    improvement: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.unit})" if self.unit else self.name


@dataclass
class SampleSet:
    """Every sample of one (SUT, swprofile, benchmark, resultclass) group."""

    sut_id: int
    swprofile_id: int
    benchmark_id: int
    resultclass_id: int
    values: list[float] = field(default_factory=list)
    sessions: list[str] | None = None  # parallel to values when requested


# ---------------------------------------------------------------- objects


def suts(conn: Connection) -> list[SutDesc]:
    classes = dict(conn.execute(select(SutClass.id, SutClass.name)).all())
    nodes: dict[int, list[NodeDesc]] = defaultdict(list)
    for r in conn.execute(select(Node.__table__).order_by(Node.id)):
        nodes[r.sut_id].append(NodeDesc(r.id, r.name, r.host_name, r.architecture, r.cpu_count,
                                        r.numa_count, r.ram_sz, r.hypervisor, r.product_name))
    return [
        SutDesc(s.id, s.name, classes.get(s.sutclass_id), tuple(nodes.get(s.id, ())))
        for s in conn.execute(select(Sut.__table__).order_by(Sut.id))
    ]


def swprofiles(conn: Connection) -> list[SwProfileDesc]:
    return [
        SwProfileDesc(p.id, p.name, p.kernel_name, p.kernel_git_sha, p.kernel_kconfig_full_hash,
                      p.kernel_cmdline_full_hash, p.userspace_name, p.cmdline, p.sysctl,
                      p.bootscript)
        for p in conn.execute(select(SwProfile.__table__).order_by(SwProfile.id))
    ]


def benchmarks(conn: Connection) -> list[BenchmarkDesc]:
    params: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for p in conn.execute(select(Param.__table__).order_by(Param.id)):
        params[p.benchmark_id].append((p.name, p.value))
    roles: dict[int, list[str]] = defaultdict(list)
    for r in conn.execute(select(Role.__table__).order_by(Role.id)):
        roles[r.benchmark_id].append(r.name)
    return [
        BenchmarkDesc(b.id, b.suite, b.name, b.type, b.image, tuple(params.get(b.id, ())),
                      tuple(roles.get(b.id, ())))
        for b in conn.execute(select(Benchmark.__table__).order_by(Benchmark.id))
    ]


def resultclasses(conn: Connection, benchmark_ids: Iterable[int] | None = None
                  ) -> list[ResultClassDesc]:
    stmt = select(ResultClass.__table__).order_by(ResultClass.id)
    if benchmark_ids is not None:
        stmt = stmt.where(ResultClass.benchmark_id.in_(list(benchmark_ids)))
    return [ResultClassDesc(r.id, r.benchmark_id, r.name, r.unit, r.improvement)
            for r in conn.execute(stmt)]


def objects(conn: Connection, kind: str) -> list:
    if kind == "sut":
        return suts(conn)
    if kind == "swprofile":
        return swprofiles(conn)
    if kind == "benchmark":
        return benchmarks(conn)
    raise UserError(f"unknown object type '{kind}'", hint="use sut, swprofile or benchmark")


def matches(obj, pattern: str) -> bool:
    """Objects are addressed by numeric id or by a name glob (``suite/name`` for
    benchmarks; a pattern without '/' also matches the bare benchmark name)."""
    if pattern.isdigit():
        return obj.id == int(pattern)
    names = [obj.label]
    if isinstance(obj, BenchmarkDesc) and "/" not in pattern:
        names.append(obj.name)
    return any(fnmatch.fnmatchcase(n, pattern) for n in names)


def select_objects(candidates: Sequence, patterns: Sequence[str] | None, kind: str,
                   where: str = "") -> list:
    """The objects matching any of ``patterns``, in the order the patterns were given
    (each pattern's matches in id order).  A pattern matching nothing is an error."""
    if not patterns:
        return list(candidates)
    chosen: list = []
    for pattern in patterns:
        found = [o for o in candidates if matches(o, pattern)]
        if not found:
            known = ", ".join(f"{o.id}:{o.label}" for o in candidates) or "none"
            raise UserError(f"no {kind} matches '{pattern}'{where}",
                            hint=f"known {kind}s (id:name): {known}")
        chosen += [o for o in found if o not in chosen]
    return chosen


# ---------------------------------------------------------------- samples


def samples(conn: Connection, sut_ids: Iterable[int], swprofile_ids: Iterable[int],
            benchmark_ids: Iterable[int] | None = None,
            resultclass_ids: Iterable[int] | None = None,
            *, with_sessions: bool = False) -> Iterator[SampleSet]:
    """Stream the samples of every matching group, one :class:`SampleSet` at a time,
    ordered by (sut, swprofile, resultclass); values in (session, timestamp) order."""
    r, rc = Result.__table__.c, ResultClass.__table__.c
    cols = [r.sut_id, r.swprofile_id, rc.benchmark_id, r.resultclass_id, r.value]
    if with_sessions:
        cols.append(r.session_uuid)
    stmt = (
        select(*cols)
        .join_from(Result.__table__, ResultClass.__table__, r.resultclass_id == rc.id)
        .where(r.sut_id.in_(list(sut_ids)), r.swprofile_id.in_(list(swprofile_ids)))
        .order_by(r.sut_id, r.swprofile_id, r.resultclass_id, r.session_uuid, r.timestamp)
    )
    if benchmark_ids is not None:
        stmt = stmt.where(rc.benchmark_id.in_(list(benchmark_ids)))
    if resultclass_ids is not None:
        stmt = stmt.where(r.resultclass_id.in_(list(resultclass_ids)))
    current: SampleSet | None = None
    result = conn.execution_options(yield_per=_STREAM).execute(stmt)
    for part in result.partitions():
        for row in part:
            key = (row[0], row[1], row[3])
            if current is None or key != (current.sut_id, current.swprofile_id,
                                          current.resultclass_id):
                if current is not None:
                    yield current
                current = SampleSet(row[0], row[1], row[2], row[3], [],
                                    [] if with_sessions else None)
            current.values.append(row[4])
            if with_sessions:
                current.sessions.append(row[5])  # type: ignore[union-attr]
    if current is not None:
        yield current


@dataclass(frozen=True)
class Moments:
    """Shifted moments of one group: ``sum_dev = Σ(x − shift)``, ``sum_sq_dev = Σ(x − shift)²``
    (``fastpath.stats.summary.summarize_moments`` turns them into a summary)."""

    sut_id: int
    swprofile_id: int
    benchmark_id: int
    resultclass_id: int
    count: int
    min: float
    max: float
    shift: float
    sum_dev: float
    sum_sq_dev: float


_EPS = 2.220446049250313e-16
_MAX_REL_ERROR = 1e-9  # accepted relative error of a database-computed variance


def _ids(values: Iterable[int]) -> str:
    ids = sorted({int(v) for v in values})
    return ", ".join(str(i) for i in ids) if ids else "NULL"


def moments(conn: Connection, sut_ids: Iterable[int], swprofile_ids: Iterable[int],
            resultclasses_: Iterable[ResultClassDesc]) -> Iterator[Moments]:
    """Per-group moments computed by the database with one ``GROUP BY``.

    The one-pass sums (Σx, Σx²) are exact enough for most data; a group whose estimated
    relative error of the variance exceeds 1e-9 (low spread relative to the mean, e.g.
    values ≈ 1e9 differing by 1) gets a second, shifted aggregate over its own rows,
    centred on the first pass's mean (and, if even that is not enough, an exact two-pass
    computation from its samples).  Memory is bounded by the number of groups.
    """
    from sqlalchemy import text

    sut_list, swp_list = _ids(sut_ids), _ids(swprofile_ids)
    rcs = {rc.id: rc for rc in resultclasses_}
    if not rcs:
        return
    rows = conn.execute(text(
        "SELECT r.sut_id, r.swprofile_id, r.resultclass_id, COUNT(*), MIN(r.value), "
        "MAX(r.value), SUM(r.value), SUM(r.value * r.value) FROM result r "
        f"WHERE r.sut_id IN ({sut_list}) AND r.swprofile_id IN ({swp_list}) "
        f"AND r.resultclass_id IN ({_ids(rcs)}) "
        "GROUP BY r.sut_id, r.swprofile_id, r.resultclass_id"
    )).all()
    shifted = text(
        "SELECT COUNT(*), SUM(r.value - :k), SUM((r.value - :k) * (r.value - :k)) "
        "FROM result r WHERE r.sut_id = :s AND r.swprofile_id = :p AND r.resultclass_id = :rc"
    )
    for sut_id, swp_id, rc_id, n, lo, hi, s1, s2 in rows:
        rc = rcs[rc_id]
        m = Moments(int(sut_id), int(swp_id), rc.benchmark_id, rc.id, int(n), float(lo),
                    float(hi), 0.0, float(s1), float(s2))
        if _ill_conditioned(m):
            k = min(max(m.sum_dev / m.count, m.min), m.max)
            n2, t1, t2 = conn.execute(shifted, {"k": k, "s": m.sut_id, "p": m.swprofile_id,
                                                "rc": m.resultclass_id}).one()
            m = Moments(m.sut_id, m.swprofile_id, m.benchmark_id, m.resultclass_id, int(n2),
                        m.min, m.max, k, float(t1), float(t2))
            if _ill_conditioned(m):
                m = _exact(conn, m)
        yield m


def _ill_conditioned(m: Moments) -> bool:
    """Estimated relative error of the variance from shifted one-pass sums too large?"""
    if m.count < 2 or m.min == m.max:
        return False
    d = m.sum_dev / m.count
    m2 = m.sum_sq_dev - m.sum_dev * d
    if not m2 > 0:
        return True
    return math.sqrt(m.count) * _EPS * (m.sum_sq_dev / m2) > _MAX_REL_ERROR


def _exact(conn: Connection, m: Moments) -> Moments:
    r = Result.__table__.c
    values = [float(v) for v in conn.execute(
        select(r.value).where(r.sut_id == m.sut_id, r.swprofile_id == m.swprofile_id,
                              r.resultclass_id == m.resultclass_id)).scalars()]
    mean = math.fsum(values) / len(values)
    ss = math.fsum((v - mean) ** 2 for v in values)
    return Moments(m.sut_id, m.swprofile_id, m.benchmark_id, m.resultclass_id, len(values),
                   min(values), max(values), mean, 0.0, ss)


def error_counts(conn: Connection, sut_ids: Iterable[int], swprofile_ids: Iterable[int],
                 benchmark_ids: Iterable[int] | None = None) -> dict[tuple[int, int, int], int]:
    """Number of ERROR rows per (sut, swprofile, benchmark)."""
    e = Error.__table__.c
    stmt = (
        select(e.sut_id, e.swprofile_id, e.benchmark_id, func.count())
        .where(e.sut_id.in_(list(sut_ids)), e.swprofile_id.in_(list(swprofile_ids)))
        .group_by(e.sut_id, e.swprofile_id, e.benchmark_id)
    )
    if benchmark_ids is not None:
        stmt = stmt.where(e.benchmark_id.in_(list(benchmark_ids)))
    return {(a, b, c): int(n) for a, b, c, n in conn.execute(stmt)}


def error_codes(conn: Connection, sut_id: int, swprofile_id: int, benchmark_id: int
                ) -> dict[int, int]:
    """code -> count for one (sut, swprofile, benchmark)."""
    e = Error.__table__.c
    stmt = (select(e.error, func.count())
            .where(e.sut_id == sut_id, e.swprofile_id == swprofile_id,
                   e.benchmark_id == benchmark_id)
            .group_by(e.error))
    return {int(c): int(n) for c, n in conn.execute(stmt)}


def result_count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(Result.__table__)).scalar_one())
