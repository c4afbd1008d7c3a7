"""The data behind ``fastpath result show``: which groups to summarise or compare, and the
statistics of each (rendering is the CLI's job).

Modes (guide §1.2.5): one SUT and one swprofile -> a summary per result class; one SUT and
several swprofiles, or several SUTs and one swprofile -> a comparison whose first column is
the baseline.  Statistics come from :mod:`fastpath.stats` (STATISTICS.md §2-§3).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

from fastpath.errors import UserError
from fastpath.resultstore import query
from fastpath.resultstore.store import Store
from fastpath.stats import Comparison, Summary, compare_summaries
from fastpath.stats.compare import DEFAULT_NOISE_THRESHOLD
from fastpath.stats.summary import DEFAULT_CONFIDENCE, summarize_moments

DISPLAYS = ("all", "improvement", "regression", "change")


@dataclass
class ShowRequest:
    suts: Sequence[str] = ()
    swprofiles: Sequence[str] = ()
    benchmarks: Sequence[str] = ()
    resultclass: str | None = None  # glob on the result class name
    confidence: float = DEFAULT_CONFIDENCE
    noise_threshold: float = DEFAULT_NOISE_THRESHOLD  # fraction (0.01 = 1 %)
    display: str = "all"


@dataclass
class Column:
    sut: query.SutDesc
    swprofile: query.SwProfileDesc

    def label(self, mode: str) -> str:
        return self.sut.label if mode == "compare-suts" else self.swprofile.label


@dataclass
class Row:
    benchmark: query.BenchmarkDesc
    resultclass: query.ResultClassDesc | None  # None: the benchmark's error row
    summaries: list[Summary | None] = field(default_factory=list)  # one per column
    comparisons: list[Comparison | None] = field(default_factory=list)  # [0] is None
    errors: list[int] = field(default_factory=list)  # error rows: count per column

    @property
    def verdicts(self) -> list[str]:
        return [c.verdict for c in self.comparisons if c is not None]


@dataclass
class Report:
    mode: str  # "summary" | "compare-swprofiles" | "compare-suts"
    columns: list[Column]
    rows: list[Row]
    confidence: float
    noise_threshold: float

    @property
    def title(self) -> str:
        first = self.columns[0]
        if self.mode == "summary":
            return (f"Results for SUT {first.sut.label} and SW Profile "
                    f"{first.swprofile.label}:")
        if self.mode == "compare-swprofiles":
            return f"Results for SUT {first.sut.label}:"
        return f"Results for SW Profile {first.swprofile.label}:"

    @property
    def column_labels(self) -> list[str]:
        return [c.label(self.mode) for c in self.columns]


def _pick(candidates: list, patterns: Sequence[str], kind: str, option: str) -> list:
    if patterns:
        return query.select_objects(candidates, patterns, kind)
    if len(candidates) == 1:
        return candidates
    if not candidates:
        raise UserError(f"the resultstore holds no {kind}", hint="ingest or merge results first")
    listing = ", ".join(f"{o.id}:{o.label}" for o in candidates)
    raise UserError(f"the resultstore holds {len(candidates)} {kind}s; choose with {option}",
                    hint=f"candidates (id:name): {listing}")


def build_report(store: Store, req: ShowRequest) -> Report:
    if req.display not in DISPLAYS:
        raise UserError(f"unknown --display '{req.display}'", hint=f"use {', '.join(DISPLAYS)}")
    with store.connect() as conn:
        suts = _pick(query.suts(conn), req.suts, "sut", "--sut")
        swps = _pick(query.swprofiles(conn), req.swprofiles, "swprofile", "--swprofile")
        if len(suts) > 1 and len(swps) > 1:
            raise UserError("cannot compare several SUTs and several swprofiles at once",
                            hint="give one --sut with several --swprofile, or the reverse")
        mode = ("summary" if len(suts) == 1 and len(swps) == 1
                else "compare-suts" if len(suts) > 1 else "compare-swprofiles")
        if mode == "summary" and req.display != "all":
            raise UserError(f"--display {req.display} needs a comparison",
                            hint="give two or more --swprofile (or --sut)")
        columns = [Column(s, p) for s in suts for p in swps]
        all_benchmarks = query.benchmarks(conn)
        if req.benchmarks:
            benches = query.select_objects(all_benchmarks, req.benchmarks, "benchmark")
        else:
            benches = sorted(all_benchmarks, key=lambda b: (b.label, b.id))
        bench_ids = [b.id for b in benches]
        rcs = [rc for rc in query.resultclasses(conn, bench_ids)
               if req.resultclass is None or fnmatch.fnmatchcase(rc.name, req.resultclass)]
        if req.resultclass is not None and not rcs:
            known = sorted({rc.name for rc in query.resultclasses(conn, bench_ids)})
            raise UserError(f"no resultclass matches '{req.resultclass}'",
                            hint=f"known resultclasses: {', '.join(known) or 'none'}")
        col_index = {(c.sut.id, c.swprofile.id): i for i, c in enumerate(columns)}
        summaries: dict[int, list[Summary | None]] = {
            rc.id: [None] * len(columns) for rc in rcs
        }
        for m in query.moments(conn, [s.id for s in suts], [p.id for p in swps], rcs):
            i = col_index[(m.sut_id, m.swprofile_id)]
            summaries[m.resultclass_id][i] = summarize_moments(
                m.count, m.min, m.max, m.shift, m.sum_dev, m.sum_sq_dev, req.confidence)
        errors = query.error_counts(conn, [s.id for s in suts], [p.id for p in swps], bench_ids)

    rows: list[Row] = []
    for bench in benches:
        bench_rows = []
        for rc in sorted((rc for rc in rcs if rc.benchmark_id == bench.id),
                         key=lambda r: (r.name, r.unit, r.id)):
            sums = summaries[rc.id]
            if all(s is None for s in sums):
                continue
            comps: list[Comparison | None] = [None]
            for s in sums[1:]:
                base = sums[0]
                if base is None or s is None:
                    comps.append(None)
                else:
                    comps.append(compare_summaries(base, s, rc.improvement,
                                                   req.noise_threshold))
            row = Row(bench, rc, sums, comps if mode != "summary" else [])
            if _wanted(row, req.display):
                bench_rows.append(row)
        counts = [errors.get((c.sut.id, c.swprofile.id, bench.id), 0) for c in columns]
        if any(counts):
            bench_rows.append(Row(bench, None, [None] * len(columns), [], counts))
        rows += bench_rows
    return Report(mode, columns, rows, req.confidence, req.noise_threshold)


def _wanted(row: Row, display: str) -> bool:
    if display == "all":
        return True
    verdicts = set(row.verdicts)
    if display == "improvement":
        return "I" in verdicts
    if display == "regression":
        return "R" in verdicts
    return bool(verdicts & {"I", "R"})
