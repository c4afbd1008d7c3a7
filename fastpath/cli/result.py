"""``fastpath result list | show | merge`` (guide §1.2.5).

Each verb parses its options and calls one use-case function (``list_objects``,
``show_results``, ``merge_stores``) that tests may call directly.  sqlalchemy, scipy and
the resultstore are imported inside the functions so that ``fastpath --help`` stays fast.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from fastpath.cli.common import SET_DEFAULT_STORE, default_resultstore
from fastpath.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from fastpath.resultstore.merge import MergeReport
    from fastpath.resultstore.report import Report, ShowRequest

FORMATS = ("fancy", "ascii", "csv", "json")
OBJECTS = ("sut", "swprofile", "benchmark")
RED, GREEN, RESET = "\x1b[31m", "\x1b[32m", "\x1b[0m"


# ---------------------------------------------------------------- helpers


def resolve_store(store: str | None) -> str:
    """The STORE argument, or the ``default.resultstore`` preference."""
    if store:
        return store
    return default_resultstore(f"pass STORE, or set one with '{SET_DEFAULT_STORE}'")


def use_colour(fmt: str, stream=None) -> bool:
    """Colours only for the fancy format on a terminal, and never with NO_COLOR set."""
    stream = stream or sys.stdout
    if fmt != "fancy" or os.environ.get("NO_COLOR", "") != "":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def fmt_num(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or abs(value) >= 0.01:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_pct(value: float | None, sign: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}%" if sign else f"{value:.2f}%"


def _tabulate(rows: list[list[str]], headers: list[str], fmt: str) -> str:
    from tabulate import tabulate

    table_fmt = "fancy_grid" if fmt == "fancy" else "grid"
    return tabulate(rows, headers=headers, tablefmt=table_fmt, disable_numparse=True)


def _csv_text(records: list[dict[str, Any]]) -> str:
    buf = io.StringIO(newline="")
    if not records:
        return ""
    writer = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\r\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: "" if v is None else (repr(v) if isinstance(v, float) else v)
                         for k, v in rec.items()})
    return buf.getvalue()


def _json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------- list


def _object_records(kind: str, objs: list) -> list[dict[str, Any]]:
    out = []
    for o in objs:
        if kind == "sut":
            out.append({
                "id": o.id, "name": o.name, "sutclass": o.sutclass, "nodes": len(o.nodes),
                "node_names": [n.name for n in o.nodes],
                "host_names": [n.host_name for n in o.nodes],
                "arch": sorted({n.architecture for n in o.nodes}),
                "cpus": sum(n.cpu_count for n in o.nodes),
                "numa": sum(n.numa_count for n in o.nodes),
                "ram_bytes": sum(n.ram_sz for n in o.nodes),
                "hypervisor": sorted({n.hypervisor for n in o.nodes if n.hypervisor}),
                "product": sorted({n.product_name for n in o.nodes if n.product_name}),
            })
        elif kind == "swprofile":
            out.append({
                "id": o.id, "name": o.name, "kernel": o.kernel_name,
                "gitsha": o.kernel_git_sha, "cmdline": o.cmdline.split("\n") if o.cmdline else [],
                "sysctl": o.sysctl.split("\n") if o.sysctl else [],
                "bootscript": o.bootscript.split("\n") if o.bootscript else [],
                "userspace": o.userspace_name,
                "kconfig_hash": o.kernel_kconfig_full_hash,
                "cmdline_full_hash": o.kernel_cmdline_full_hash,
            })
        else:
            out.append({
                "id": o.id, "suite": o.suite, "name": o.name, "type": o.type, "image": o.image,
                "params": dict(o.params), "roles": list(o.roles),
            })
    return out


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "\n".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return "\n".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)


def list_objects(url: str | None, kind: str, pattern: str | None = None,
                 fmt: str = "fancy") -> str:
    """Use case of ``result list``: the objects of one kind (optionally an id glob)."""
    from fastpath.resultstore import open_store, query

    if kind not in OBJECTS:
        raise UserError(f"unknown object type '{kind}'", hint=f"use {', '.join(OBJECTS)}")
    with open_store(resolve_store(url), readonly=True) as store, store.connect() as conn:
        objs = query.objects(conn, kind)
    if pattern:
        matching = [o for o in objs if query.matches(o, pattern)]
        if objs and not matching:
            raise UserError(f"no {kind} matches '{pattern}'",
                            hint=f"run without --id to see the {kind}s of the store")
        objs = matching
    records = _object_records(kind, objs)
    if fmt == "json":
        return _json_text(records)
    if fmt == "csv":
        return _csv_text([{k: (_cell(v) if isinstance(v, (list, dict)) else v)
                           for k, v in r.items()} for r in records])
    if kind == "sut":
        headers = ["ID", "Name", "SUT Class", "Nodes", "Arch", "CPUs", "NUMA", "RAM",
                   "Hypervisor", "Product"]
        rows = [[str(r["id"]), _cell(r["name"]), _cell(r["sutclass"]), str(r["nodes"]),
                 _cell(r["arch"]), str(r["cpus"]), str(r["numa"]), _gib(r["ram_bytes"]),
                 _cell(r["hypervisor"]), _cell(r["product"])] for r in records]
    elif kind == "swprofile":
        headers = ["ID", "Name", "Kernel", "Git SHA", "Cmdline", "Sysctl", "Bootscript",
                   "Userspace"]
        rows = [[str(r["id"]), _cell(r["name"]), r["kernel"], _cell(r["gitsha"]),
                 _cell(r["cmdline"]), _cell(r["sysctl"]), _cell(r["bootscript"]),
                 r["userspace"]] for r in records]
    else:
        headers = ["ID", "Suite", "Name", "Type", "Image", "Params", "Roles"]
        rows = [[str(r["id"]), r["suite"], r["name"], r["type"], r["image"],
                 _cell(r["params"]), _cell(r["roles"])] for r in records]
    return _tabulate(rows, headers, fmt)


# ---------------------------------------------------------------- show


def _summary_table(report: Report, relative: bool, fmt: str) -> str:
    from fastpath.stats.summary import ci_label

    ci = ci_label(report.confidence)
    headers = ["Benchmark", "Result Class", "min", f"{ci}min", "mean", f"{ci}max", "max",
               "cv", "count"]
    rows, last = [], None
    for row in report.rows:
        bench = row.benchmark.label if row.benchmark.id != last else ""
        last = row.benchmark.id
        if row.resultclass is None:
            rows.append([bench, "ERRORS", "", "", f"{row.errors[0]} error(s)", "", "", "", ""])
            continue
        s = row.summaries[0]
        assert s is not None
        if relative:
            lo, cil, ciu, hi = (fmt_pct(s.rel_min_pct), fmt_pct(s.rel_ci_lower_pct),
                                fmt_pct(s.rel_ci_upper_pct), fmt_pct(s.rel_max_pct))
        else:
            lo, cil, ciu, hi = (fmt_num(s.min), fmt_num(s.ci_lower), fmt_num(s.ci_upper),
                                fmt_num(s.max))
        rows.append([bench, row.resultclass.label, lo, cil, fmt_num(s.mean), ciu, hi,
                     fmt_pct(s.cv_pct), str(s.count)])
    return _tabulate(rows, headers, fmt)


def _compare_table(report: Report, relative: bool, fmt: str, colour: bool) -> str:
    headers = ["Benchmark", "Result Class", *report.column_labels]
    rows, last = [], None
    for row in report.rows:
        bench = row.benchmark.label if row.benchmark.id != last else ""
        last = row.benchmark.id
        if row.resultclass is None:
            rows.append([bench, "ERRORS", *[f"{n} error(s)" if n else "-" for n in row.errors]])
            continue
        cells = [fmt_num(row.summaries[0].mean if row.summaries[0] else None)]
        for s, c in zip(row.summaries[1:], row.comparisons[1:], strict=True):
            if s is None:
                cells.append("-")
                continue
            if relative:
                text = fmt_pct(c.change_pct) if c is not None else "-"
            else:
                text = fmt_num(s.mean)
            verdict = c.verdict if c is not None else "?"
            if verdict in ("I", "R"):
                if colour:
                    text = f"{GREEN if verdict == 'I' else RED}{text}{RESET}"
                else:  # ascii, or no colour available: a change must never be invisible
                    text = f"({verdict}) {text}"
            cells.append(text)
        rows.append([bench, row.resultclass.label, *cells])
    return _tabulate(rows, headers, fmt)


def _summary_record(s) -> dict[str, Any]:
    if s is None:
        return {"count": 0}
    d = s.as_dict()
    d.pop("confidence", None)
    return d


def _report_records(report: Report) -> list[dict[str, Any]]:
    records = []
    labels = report.column_labels
    for row in report.rows:
        for i, col in enumerate(report.columns):
            rec: dict[str, Any] = {
                "sut": col.sut.label, "sut_id": col.sut.id,
                "swprofile": col.swprofile.label, "swprofile_id": col.swprofile.id,
                "benchmark": row.benchmark.label, "benchmark_id": row.benchmark.id,
            }
            if row.resultclass is None:
                rec.update({"resultclass": None, "unit": None, "improvement": None,
                            "errors": row.errors[i]})
                records.append(rec)
                continue
            rec.update({"resultclass": row.resultclass.name, "unit": row.resultclass.unit,
                        "improvement": row.resultclass.improvement})
            rec.update(_summary_record(row.summaries[i]))
            if report.mode != "summary":
                c = row.comparisons[i]
                rec["baseline"] = labels[0]
                rec["change_pct"] = c.change_pct if c else None
                rec["ci_overlap"] = c.ci_overlap if c else None
                rec["exceeds_noise"] = c.exceeds_noise if c else None
                rec["verdict"] = c.verdict if c else (None if i == 0 else "?")
            records.append(rec)
    return records


def render_report(report: Report, *, relative: bool = False, fmt: str = "fancy",
                  colour: bool = False) -> str:
    if fmt == "json":
        return _json_text({
            "title": report.title, "mode": report.mode, "confidence": report.confidence,
            "noise_threshold_pct": 100.0 * report.noise_threshold,
            "columns": report.column_labels, "records": _report_records(report),
        })
    if fmt == "csv":
        records = _report_records(report)
        keys: list[str] = []
        for r in records:
            keys += [k for k in r if k not in keys]
        return _csv_text([{k: r.get(k) for k in keys} for r in records])
    if not report.rows:
        return f"{report.title}\n\n(no results)"
    if report.mode == "summary":
        table = _summary_table(report, relative, fmt)
    else:
        table = _compare_table(report, relative, fmt, colour)
    return f"{report.title}\n\n{table}"


def show_results(url: str | None, request: ShowRequest, *, relative: bool = False,
                 fmt: str = "fancy", colour: bool = False) -> str:
    """Use case of ``result show``: the summary or comparison table as text."""
    from fastpath.resultstore import open_store
    from fastpath.resultstore.report import build_report

    with open_store(resolve_store(url), readonly=True) as store:
        report = build_report(store, request)
    return render_report(report, relative=relative, fmt=fmt, colour=colour)


# ---------------------------------------------------------------- merge


def merge_stores(sources: Sequence[str], destination: str, *, append: bool = False,
                 suts: Sequence[str] = (), swprofiles: Sequence[str] = (),
                 benchmarks: Sequence[str] = ()) -> MergeReport:
    """Use case of ``result merge``."""
    from fastpath.resultstore.merge import Selection, merge

    sel = Selection(list(suts) or None, list(swprofiles) or None, list(benchmarks) or None)
    return merge(list(sources), destination, append=append, selection=sel)


# ---------------------------------------------------------------- click


def _confidence(_ctx, _param, value: float) -> float:
    if not (0.0 < value < 1.0):
        raise click.BadParameter(f"{value} is not between 0 and 1 (exclusive), e.g. 0.95")
    return value


def _noise(_ctx, _param, value: float) -> float:
    if not (value >= 0.0) or math.isinf(value):
        raise click.BadParameter(f"{value} is not a percentage >= 0, e.g. 1")
    return value


@click.group()
def result() -> None:
    """List, show and merge resultstore contents.

    STORE is a resultstore URL: csv:///<dir> (or a bare directory), sqlite:///<dbfile>
    or mysql://<user>:<password>@<host>:<port>/<db>.  It may be omitted when the
    default.resultstore preference is set.
    """


@result.command("list")
@click.argument("store", required=False)
@click.option("--object", "kind", type=click.Choice(OBJECTS), required=True,
              help="Type of object to list.")
@click.option("--id", "pattern", metavar="GLOB", help="Only objects whose name (or id) match.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="fancy",
              show_default=True, help="Output format.")
def list_cmd(store: str | None, kind: str, pattern: str | None, fmt: str) -> None:
    """List the SUTs, swprofiles or benchmarks of STORE with their ids and metadata."""
    click.echo(list_objects(store, kind, pattern, fmt))


@result.command("show")
@click.argument("store", required=False)
@click.option("--sut", "suts", multiple=True, metavar="ID",
              help="SUT name glob or id (repeatable: compares SUTs).")
@click.option("--swprofile", "swprofiles", multiple=True, metavar="ID",
              help="swprofile name glob or id (repeatable: the first is the baseline).")
@click.option("--benchmark", "benchmarks", multiple=True, metavar="GLOB",
              help="suite/name glob or id (repeatable).")
@click.option("--resultclass", metavar="GLOB", help="Only result classes matching GLOB.")
@click.option("--relative", is_flag=True,
              help="Show min/CI/max as % of the mean, comparisons as % change.")
@click.option("--confidence", type=float, default=0.95, show_default=True,
              callback=_confidence, help="Confidence level of the intervals, in (0, 1).")
@click.option("--noise-threshold", type=float, default=1.0, show_default=True,
              callback=_noise, help="Smallest significant change, in % of the baseline mean.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="fancy",
              show_default=True, help="Output format (ascii marks (I)/(R) instead of colour).")
@click.option("--display", type=click.Choice(["all", "improvement", "regression", "change"]),
              default="all", show_default=True, help="Which comparison rows to show.")
def show_cmd(store, suts, swprofiles, benchmarks, resultclass, relative, confidence,
             noise_threshold, fmt, display) -> None:
    """Summarise one swprofile, or compare swprofiles (or SUTs), result class by class.

    A change is significant when the confidence intervals do not overlap and the means
    differ by more than the noise threshold; it is not a t-test.
    """
    from fastpath.resultstore.report import ShowRequest

    request = ShowRequest(suts=suts, swprofiles=swprofiles, benchmarks=benchmarks,
                          resultclass=resultclass, confidence=confidence,
                          noise_threshold=noise_threshold / 100.0, display=display)
    click.echo(show_results(store, request, relative=relative, fmt=fmt,
                            colour=use_colour(fmt)), color=True)


@result.command("merge")
@click.argument("stores", nargs=-1, required=True, metavar="SRC... DEST")
@click.option("--append", is_flag=True, help="Merge into an existing DEST.")
@click.option("--sut", "suts", multiple=True, metavar="ID", help="Only this SUT (repeatable).")
@click.option("--swprofile", "swprofiles", multiple=True, metavar="ID",
              help="Only this swprofile (repeatable).")
@click.option("--benchmark", "benchmarks", multiple=True, metavar="ID",
              help="Only this benchmark (repeatable).")
def merge_cmd(stores, append, suts, swprofiles, benchmarks) -> None:
    """Copy the results of one or more SRC resultstores into DEST (created if missing).

    Objects and results are kept exactly once, so merging twice adds nothing; any failure
    leaves DEST exactly as it was.
    """
    if len(stores) < 2:
        raise click.UsageError("give at least one SRC and a DEST")
    report = merge_stores(stores[:-1], stores[-1], append=append, suts=suts,
                          swprofiles=swprofiles, benchmarks=benchmarks)
    verb = "created" if report.created else "updated"
    click.echo(f"{report.destination}: {verb}; {report.results_added} result(s) and "
               f"{report.errors_added} error(s) added "
               f"({report.results_read} result(s) read from {len(report.sources)} source(s))")
