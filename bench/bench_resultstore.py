#!/usr/bin/env python3
"""Resultstore performance, printed as ratios against floors measured in the same run.

    .venv/bin/python bench/bench_resultstore.py [--results 1000000] [--mysql-url URL|--no-mysql]

Shape: 2 SUTs x 5 swprofiles x 20 benchmarks x 10 resultclasses x (results / 2000) samples.
Measured (each in its own subprocess, so peak RSS is per operation):
  * ``result show`` comparing the 5 swprofiles of one SUT (SQLite, MySQL) — floor: one SQL
    GROUP BY aggregate (count, sum, sum of squares, min, max) over the same rows.
    Goal: <= 1.5x the floor and < 3 s.
  * ``result merge`` SQLite -> new SQLite and CSV -> new SQLite — floor: INSERT ... SELECT of
    the result rows into an empty store.  Goal: >= 300,000 results/s.
  * peak RSS of each, minus the RSS of a process that only opened the store (merge from a
    big CSV store also prints the peak RSS of its parsing worker processes).
Without --mysql-url a private MariaDB is started (as the tests do) and stopped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUTS, PROFILES, BENCHMARKS, CLASSES = 2, 5, 20, 10


def rss_mib() -> float:
    """Peak RSS of this process image (VmHWM: unlike ru_maxrss it is not inherited from
    the parent across fork + exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------- data generation


def generate(url: str, results: int) -> None:
    import random

    from fastpath.records import (
        Batch,
        BenchmarkInfo,
        CpuInfo,
        NodeInfo,
        ResultRow,
        SutInfo,
        SwProfileInfo,
    )
    from fastpath.resultstore import open_store

    samples = max(2, results // (SUTS * PROFILES * BENCHMARKS * CLASSES))
    rng = random.Random(42)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with open_store(url, create=True) as store:
        for s in range(SUTS):
            node = NodeInfo(f"n{s}", f"host{s}", "x86_64", 8, "c" * 64, 1, 16 << 30, "", "",
                            "", "m" * 64, tuple(CpuInfo(i, "{}") for i in range(8)))
            sut = SutInfo(f"sut-{s}", "bench", (node,))
            for p in range(PROFILES):
                swp = SwProfileInfo(f"profile-{p}", f"6.{p}.0", None, None, "k" * 64, "Debian")
                batches = []
                for b in range(BENCHMARKS):
                    bench = BenchmarkInfo("suite", f"bench-{b:02d}", "cpu", "img:1",
                                          {"n": str(b)})
                    rows = []
                    for c in range(CLASSES):
                        mean = 100.0 * (c + 1) * (1 + 0.01 * p)
                        for i in range(samples):
                            rows.append(ResultRow(
                                f"class-{c}", "ops/s", "bigger", rng.gauss(mean, mean * 0.01),
                                t0 + timedelta(seconds=i, microseconds=c), f"s{s}{p}-{i % 3}"))
                    batches.append(Batch(sut, swp, bench, {"executor": 0}, rows))
                store.ingest_many(batches)


# ---------------------------------------------------------------- measurements (subprocess)


def _show(url: str) -> dict:
    from fastpath.resultstore import open_store
    from fastpath.resultstore.report import ShowRequest, build_report
    from fastpath.stats.summary import t_quantile

    start = time.perf_counter()
    t_quantile(0.975, 4)  # scipy import, reported separately
    import_s = time.perf_counter() - start
    with open_store(url, readonly=True) as store:
        base = rss_mib()
        start = time.perf_counter()
        report = build_report(store, ShowRequest(
            suts=["sut-0"], swprofiles=[f"profile-{p}" for p in range(PROFILES)]))
        elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "rows": len(report.rows), "rss_delta_mib": rss_mib() - base,
            "scipy_import_s": import_s}


def _show_floor(url: str) -> dict:
    from sqlalchemy import text

    from fastpath.resultstore import open_store

    with open_store(url, readonly=True) as store, store.connect() as conn:
        base = rss_mib()
        ids = [1, 2, 3, 4, 5]
        start = time.perf_counter()
        rows = conn.execute(text(
            "SELECT swprofile_id, resultclass_id, COUNT(*), SUM(value), SUM(value * value), "
            "MIN(value), MAX(value) FROM result WHERE sut_id = 1 AND swprofile_id IN "
            f"({', '.join(map(str, ids))}) GROUP BY swprofile_id, resultclass_id")).all()
        elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "groups": len(rows), "rss_delta_mib": rss_mib() - base}


def _merge(src: str, dest: str) -> dict:
    from fastpath.resultstore import open_store
    from fastpath.resultstore.merge import merge

    base = rss_mib()
    watcher = _DescendantPeak()
    watcher.start()
    start = time.perf_counter()
    report = merge([src], dest)
    elapsed = time.perf_counter() - start
    watcher.stop()
    with open_store(dest, readonly=True):
        pass
    # merge from a big CSV store parses in worker processes (children of a forkserver, so
    # not in RUSAGE_CHILDREN): their peak (absolute) RSS, sampled from /proc
    return {"seconds": elapsed, "results": report.results_added,
            "rss_delta_mib": rss_mib() - base, "workers_rss_mib": watcher.peak_mib}


class _DescendantPeak:
    """Largest VmHWM (peak RSS) of any descendant process, sampled every 20 ms."""

    def __init__(self) -> None:
        self.peak_mib = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while True:
            self._sample(me)
            if self._done.wait(0.02):
                return

    def _sample(self, me: int) -> None:
        parents: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        for pid in parents:
            up, hops = parents.get(pid), 0
            while up not in (None, 0, 1, me) and hops < 8:
                up, hops = parents.get(up), hops + 1
            if up != me:
                continue
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_mib = max(self.peak_mib, int(line.split()[1]) / 1024.0)


def _merge_floor(src_db: str, dest_db: str) -> dict:
    """INSERT ... SELECT of the result rows into a store holding only the objects."""
    import sqlite3

    from fastpath.resultstore import open_store
    from fastpath.resultstore.models import DATA_TABLES

    with open_store(f"sqlite:///{dest_db}", create=True):
        pass
    con = sqlite3.connect(dest_db, isolation_level=None)
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("ATTACH DATABASE ? AS src", (src_db,))
    con.execute("BEGIN")
    for table in DATA_TABLES:
        if table.name not in ("result", "error"):
            con.execute(f'INSERT INTO main."{table.name}" SELECT * FROM src."{table.name}"')
    con.execute("COMMIT")
    base = rss_mib()
    start = time.perf_counter()
    con.execute("BEGIN")
    n = con.execute("INSERT INTO main.result SELECT * FROM src.result").rowcount
    con.execute("COMMIT")
    elapsed = time.perf_counter() - start
    con.close()
    return {"seconds": elapsed, "results": n, "rss_delta_mib": rss_mib() - base}


def _open_only(url: str) -> dict:
    from fastpath.resultstore import open_store

    base = rss_mib()
    with open_store(url, readonly=True):
        pass
    return {"rss_delta_mib": rss_mib() - base, "rss_mib": rss_mib()}


MEASURES = {"show": _show, "show-floor": _show_floor, "merge": _merge,
            "merge-floor": _merge_floor, "open": _open_only}


def measure(name: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "_measure", name, *args],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(name: str, *args: str, repeat: int = 3, prepare=None) -> dict:
    runs = []
    for _ in range(repeat):
        if prepare:
            prepare()
        runs.append(measure(name, *args))
    return min(runs, key=lambda r: r.get("seconds", 0.0))


# ---------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_measure":
        print(json.dumps(MEASURES[sys.argv[2]](*sys.argv[3:])))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=int, default=1_000_000)
    ap.add_argument("--mysql-url", help="an empty MySQL database to use")
    ap.add_argument("--no-mysql", action="store_true")
    ap.add_argument("--workdir", help="keep the generated stores here")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["show", "merge"], help="run one group of measurements")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="fp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    src_db = work / "src.db"
    src = f"sqlite:///{src_db}"
    csv_dir = work / "csv"
    print(f"# workdir {work}; {args.results:,} results requested")
    if not src_db.exists():
        start = time.perf_counter()
        generate(src, args.results)
        print(f"generate (ingest API, SQLite): {time.perf_counter() - start:.1f} s")
    from fastpath.resultstore import open_store, query
    from fastpath.resultstore.merge import merge

    with open_store(src, readonly=True) as st, st.connect() as conn:
        n = query.result_count(conn)
    print(f"results in store: {n:,}")
    if not csv_dir.exists():
        start = time.perf_counter()
        merge([src], str(csv_dir))
        print(f"merge SQLite -> CSV: {time.perf_counter() - start:.1f} s")

    stores = {"sqlite": src}
    server_proc = None
    if not args.no_mysql and args.only != "merge":
        mysql = args.mysql_url
        if mysql is None:
            from tests.integration import mariadb

            server_proc, server = mariadb._start(Path(tempfile.mkdtemp(prefix="fp-bench-db-")))
            server.execute(
                f"CREATE USER '{server.rw_user}'@'%' IDENTIFIED BY '{server.rw_password}'",
                f"GRANT ALL PRIVILEGES ON *.* TO '{server.rw_user}'@'%'",
            )
            server.create_database("bench")
            mysql = server.url("bench")
        start = time.perf_counter()
        merge([src], mysql, append=True)
        print(f"merge SQLite -> MySQL: {time.perf_counter() - start:.1f} s")
        stores["mysql"] = mysql
    try:
        if args.only != "merge":
            show_section(stores, n, args.repeat)
        if args.only != "show":
            merge_section(work, src, src_db, csv_dir, n, args.repeat)
    finally:
        if server_proc is not None:
            from tests.integration import mariadb

            mariadb._stop(server_proc)


def show_section(stores: dict[str, str], n: int, repeat: int) -> None:
    print("\n## result show, 5 swprofiles compared on one SUT "
          f"({n // SUTS:,} results)")
    for kind, url in stores.items():
        floor = best("show-floor", url, repeat=repeat)
        got = best("show", url, repeat=repeat)
        base = measure("open", url)
        print(f"{kind:6s} show {got['seconds']:.3f} s | floor GROUP BY "
              f"{floor['seconds']:.3f} s | ratio {got['seconds'] / floor['seconds']:.2f}x "
              f"(goal <= 1.5x, < 3 s) | + scipy import {got['scipy_import_s']:.2f} s once "
              f"| peak RSS +{got['rss_delta_mib']:.0f} MiB "
              f"(open only +{base['rss_delta_mib']:.0f} MiB)")


def merge_section(work: Path, src: str, src_db: Path, csv_dir: Path, n: int,
                  repeat: int) -> None:
    print(f"\n## result merge into a new SQLite store ({n:,} results)")
    dest_db = work / "dest.db"
    floor_db = work / "floor.db"

    def clean():
        for p in (dest_db, floor_db):
            p.unlink(missing_ok=True)

    floor = best("merge-floor", str(src_db), str(floor_db), repeat=repeat,
                 prepare=clean)
    floor_rate = floor["results"] / floor["seconds"]
    print(f"floor INSERT ... SELECT: {floor['seconds']:.2f} s = {floor_rate:,.0f} results/s")
    for label, source in (("SQLite -> SQLite", src), ("CSV -> SQLite", str(csv_dir))):
        got = best("merge", source, f"sqlite:///{dest_db}", repeat=repeat,
                   prepare=clean)
        rate = got["results"] / got["seconds"]
        workers = (f" (worker processes: peak RSS {got['workers_rss_mib']:.0f} MiB each)"
                   if got["workers_rss_mib"] else "")
        print(f"{label}: {got['seconds']:.2f} s = {rate:,.0f} results/s | "
              f"{floor_rate / rate:.2f}x the floor's time | goal >= 300,000/s | "
              f"peak RSS +{got['rss_delta_mib']:.0f} MiB{workers}")
    clean()


if __name__ == "__main__":
    main()
