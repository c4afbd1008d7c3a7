"""Run one boot session of a plan on an already booted SUT (DESIGN §4).

:func:`run_session` fingerprints the SUT, runs the plan's custom setup roles, makes the
images available, then for every benchmark with ``sessions >= session_index`` runs its
warm-ups (discarded) and repeats (kept) — all iterations of one benchmark in ONE Ansible
task per node — and ingests each kept iteration into the resultstore (one transaction per
iteration; ``session_uuid`` = the SUT's boot_id).  A failing iteration never stops the
session: it becomes an ERROR row with a distinct code, explained in the run log.

Work items use :func:`fastpath.rundir.item_key` keys; ``skip`` holds keys already done (they
are not run again) and ``on_item_done(key)`` is called after each item is safely stored
(warm-ups are "done" once run).  ``on_progress(Progress)`` is called once per run,
warm-ups included, live while the benchmark runs.
"""

from __future__ import annotations

import json
import logging
import shutil
import tarfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastpath import fingerprint as fpmod
from fastpath import render
from fastpath.errors import InfraError
from fastpath.execute import PlaybookOutcome, run_playbook
from fastpath.execute.ssh import RemoteTail, SshTarget, close_master, fetch_file
from fastpath.plan.model import sut_nodes, timeout_seconds
from fastpath.records import Batch, BenchmarkInfo, ErrorCode, ErrorRow, SutInfo, SwProfileInfo
from fastpath.results_csv import classify
from fastpath.rundir import item_key

log = logging.getLogger("fastpath.session")


@dataclass(frozen=True)
class Progress:
    """One finished benchmark run (warm-up or repeat)."""

    key: str
    benchmark_index: int
    benchmark: str  # suite/name
    iteration: str  # "w1", "r2"...
    ok: bool
    seconds: float | None = None
    message: str = ""


@dataclass
class SessionOutcome:
    boot_id: str
    sut: SutInfo
    swprofile: SwProfileInfo
    fingerprints: list[dict[str, Any]]
    results: int = 0
    errors: int = 0
    done: list[str] = field(default_factory=list)
    error_codes: dict[int, int] = field(default_factory=dict)
    copied_images: list[str] = field(default_factory=list)


def iteration_labels(bench: dict[str, Any]) -> list[str]:
    """Iteration number (1-based, as on the SUT) -> label: w1..wN then r1..rM."""
    w, r = int(bench["warmups"]), int(bench["repeats"])
    return [f"w{i + 1}" for i in range(w)] + [f"r{i + 1}" for i in range(r)]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:60]


def plan_roles_paths(plan_dir: Path | None) -> list[Path]:
    """The plan directory's ``roles/`` (searched after the ``global.roles`` preference)."""
    if plan_dir is not None and (Path(plan_dir) / "roles").is_dir():
        return [(Path(plan_dir) / "roles").resolve()]
    return []


class _RunLog:
    """Append-only run log (``<run>/fastpath.log``) plus the Python logger."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def __call__(self, message: str, level: int = logging.INFO) -> None:
        log.log(level, message)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {logging.getLevelName(level)} {message}\n")


def _benchmark_info(b: dict[str, Any]) -> BenchmarkInfo:
    return BenchmarkInfo(suite=b.get("suite") or "unknown", name=b["name"],
                         type=b.get("type") or "unknown", image=b["image"],
                         params={str(k): str(v) for k, v in (b.get("params") or {}).items()},
                         roles=tuple(b.get("roles") or ["executor"]))


def _rolemap(b: dict[str, Any]) -> dict[str, int]:
    roles = list(b.get("roles") or ["executor"])
    return {r: int((b.get("rolemap") or {}).get(r, 0)) for r in roles}


def _targets(nodes: list[dict[str, Any]], run_dir: Path) -> list[SshTarget]:
    extra = ("-o", f"UserKnownHostsFile={run_dir / 'known_hosts'}",
             "-o", "StrictHostKeyChecking=accept-new")
    return [SshTarget(host=p["host"], port=p["port"], user=p["user"], keyfile=p["keyfile"],
                      extra_args=extra) for p in render.ssh_params(nodes)]


def prepare(plan: dict[str, Any], swprofile: dict[str, Any] | None, run_dir: Path, *,
            images: Iterable[str], label: str, plan_dir: Path | None = None,
            ) -> tuple[PlaybookOutcome, list[dict[str, Any]]]:
    """Run ``session_setup.yml``: fingerprint + setup roles + docker/images."""
    nodes = sut_nodes(plan)
    inv = render.write_inventory(run_dir, nodes)
    fp_dir = run_dir / "artifacts" / "fingerprints" / label
    extravars = {
        "fastpath_setup_roles": list((plan.get("setup") or {}).get("roles") or []),
        "fastpath_docker_images": sorted(set(images)),
    }
    outcome = run_playbook("session_setup", inventory=inv, extravars=extravars,
                           run_dir=run_dir, ident=f"setup-{label}",
                           roles_paths=plan_roles_paths(plan_dir))
    outcome.raise_for_status(f"preparing the SUT ({label})")
    fps = []
    for i in range(len(nodes)):
        host = render.node_alias(i)
        fp = (outcome.facts.get(host) or {}).get("fastpath_fingerprint")
        if not fp:
            raise InfraError(f"no fingerprint came back from {host}",
                             where=str(outcome.artifact_dir))
        fps.append(fpmod.check(fp, where=f"fingerprint of {host}"))
        render.write_json(fp_dir / f"{host}.json", fp)
    return outcome, fps


class _Bench:
    """One benchmark of the session: its work items, progress and ingestion."""

    def __init__(self, ctx: _Ctx, bi: int, bench: dict[str, Any]):
        self.ctx, self.bi, self.bench = ctx, bi, bench
        self.labels = iteration_labels(bench)
        self.keys = {n: item_key(ctx.profile_name, ctx.session_index, bi, lab)
                     for n, lab in enumerate(self.labels, start=1)}
        self.todo = [n for n in self.keys if self.keys[n] not in ctx.skip]
        self.name = f"{bench.get('suite') or 'unknown'}/{bench['name']}"
        self.info = _benchmark_info(bench)
        self.rolemap = _rolemap(bench)
        self.used_nodes = sorted(set(self.rolemap.values()))
        self.timeout_s = timeout_seconds(str(bench.get("timeout") or "1h"))
        self.run_id = f"{_slug(ctx.label)}-b{bi}-{ctx.stamp}"
        self.fetch_dir = (ctx.run_dir / "artifacts" / "results" / ctx.label /
                          f"b{bi}-{_slug(bench.get('suite') or 'unknown')}-"
                          f"{_slug(bench['name'])}")
        self.reported: set[int] = set()
        self.seen: dict[int, set[int]] = {}
        self.done_nodes: set[int] = set()
        self.collected = False
        self.lock = threading.Lock()

    def progress_path(self, node: int) -> str:
        return f"{render.DEFAULT_WORKBASE}/{render.node_alias(node)}/{self.run_id}/progress.jsonl"

    def archive_path(self, node: int) -> str:
        return f"{render.DEFAULT_WORKBASE}/{render.node_alias(node)}/{self.run_id}/results.tar.gz"

    def session_item(self) -> dict[str, Any]:
        return {"spec": render.benchmark_object(self.bench), "iterations": self.todo,
                "timeout": self.timeout_s, "run_id": self.run_id, "nodes": self.used_nodes}

    # -- live progress (follower thread) --------------------------------------------
    def on_line(self, node: int, line: str) -> bool:
        """Handle one progress line; True when every used node has finished."""
        try:
            rec = json.loads(line)
        except ValueError:
            return False
        if rec.get("done"):
            with self.lock:
                self.done_nodes.add(node)
                return self.done_nodes >= set(self.used_nodes)
        n = int(rec.get("iteration", 0))
        if n not in self.keys:
            return False
        with self.lock:
            self.seen.setdefault(n, set()).add(node)
            complete = self.seen[n] >= set(self.used_nodes)
        if complete:
            conts = (rec.get("containers") or {}).values()
            ok = all(c.get("exit_code") == 0 and c.get("results_csv") for c in conts)
            secs = max((c.get("seconds") or 0 for c in conts), default=None)
            self.progress(n, ok, secs)
        return False

    def progress(self, n: int, ok: bool, seconds: float | None = None,
                 message: str = "") -> None:
        with self.lock:
            if n in self.reported:
                return
            self.reported.add(n)
        if self.ctx.on_progress is not None:
            self.ctx.on_progress(Progress(key=self.keys[n], benchmark_index=self.bi,
                                          benchmark=self.name, iteration=self.labels[n - 1],
                                          ok=ok, seconds=seconds, message=message))

    # -- ingestion (worker thread) ------------------------------------------------------
    def store_iteration(self, n: int, results: list, errors: list[ErrorRow]) -> None:
        ctx, lab = self.ctx, self.labels[n - 1]
        for e in errors:
            ctx.runlog(f"{self.name} {ctx.label} {lab} role {e.role}: ERROR {e.code} "
                       f"({_code_name(e.code)}): {e.message}", logging.WARNING)
        if lab.startswith("w"):
            ctx.runlog(f"{self.name} {ctx.label} {lab}: warm-up discarded "
                       f"({len(results)} results, {len(errors)} errors)")
        else:
            ctx.store.ingest(Batch(sut=ctx.sut, swprofile=ctx.swp, benchmark=self.info,
                                   rolemap=dict(self.rolemap), results=list(results),
                                   errors=list(errors)))
            ctx.outcome.results += len(results)
            ctx.outcome.errors += len(errors)
            for e in errors:
                ctx.outcome.error_codes[e.code] = ctx.outcome.error_codes.get(e.code, 0) + 1
        ctx.outcome.done.append(self.keys[n])
        if ctx.on_item_done is not None:
            ctx.on_item_done(self.keys[n])

    def fail_all(self, code: int, message: str) -> None:
        now = datetime.now(UTC)
        for n in self.todo:
            when = now + timedelta(milliseconds=n)  # the store deduplicates identical rows
            errs = [ErrorRow(code=int(code), timestamp=when, session_uuid=self.ctx.uuid,
                             role=r, message=message) for r in self.rolemap]
            self.progress(n, False, message=message)
            self.store_iteration(n, [], errs)

    def finish(self, code: int | None, message: str) -> None:
        """After the playbook: ERROR every run with ``code``, or collect what is there."""
        if code is None:
            self.collect(message)
            return
        with self.lock:
            if self.collected:
                return
            self.collected = True
        self.fail_all(code, message)

    def collect(self, reason: str = "") -> None:
        """Fetch this benchmark's archives and ingest every iteration (once)."""
        ctx = self.ctx
        with self.lock:
            if self.collected:
                return
            self.collected = True
        if self.fetch_dir.exists():
            shutil.rmtree(self.fetch_dir)
        self.fetch_dir.mkdir(parents=True)
        for i in self.used_nodes:
            archive = self.fetch_dir / f"{render.node_alias(i)}.tar.gz"
            if fetch_file(ctx.targets[i], self.archive_path(i), archive):
                with tarfile.open(archive) as tar:
                    tar.extractall(self.fetch_dir, filter="data")
        stamp = datetime.now(UTC)
        for n in self.todo:
            results: list = []
            errors: list[ErrorRow] = []
            stamp_n = stamp + timedelta(milliseconds=n)
            for role, node in self.rolemap.items():
                idir = self.fetch_dir / str(n) / role
                status_path = idir / "status.json"
                if not status_path.is_file():
                    why = reason or "the SUT-side runner produced no status"
                    errors.append(ErrorRow(
                        code=int(ErrorCode.RUN_FAILED), timestamp=stamp_n,
                        session_uuid=ctx.uuid, role=role,
                        message=f"iteration did not run on node{node}: {why}"))
                    continue
                status = json.loads(status_path.read_text(encoding="utf-8"))
                try:  # when the SUT saw the container finish (distinct per iteration)
                    when = datetime.fromisoformat(status["ended"])
                except (KeyError, TypeError, ValueError):
                    when = stamp_n
                parsed = classify(status, idir / "share" / "results.csv", timestamp=when,
                                  session_uuid=ctx.uuid, role=role, timeout_s=self.timeout_s)
                results += parsed.results
                if parsed.error is not None:
                    errors.append(parsed.error)
            if not results and not errors:
                errors.append(ErrorRow(code=int(ErrorCode.RESULTS_MISSING), timestamp=stamp_n,
                                       session_uuid=ctx.uuid, role=next(iter(self.rolemap)),
                                       message="no role reported any result (header-only "
                                               "results.csv everywhere)"))
            self.progress(n, not errors)
            self.store_iteration(n, results, errors)


@dataclass
class _Ctx:
    """What every benchmark of a session shares."""

    run_dir: Path
    label: str
    profile_name: str
    session_index: int
    skip: set[str]
    targets: list[SshTarget]
    runlog: _RunLog
    on_progress: Callable[[Progress], None] | None
    on_item_done: Callable[[str], None] | None
    stamp: str
    store: Any = None
    sut: SutInfo | None = None
    swp: SwProfileInfo | None = None
    uuid: str = ""
    outcome: SessionOutcome | None = None


def run_session(
    plan: dict[str, Any],
    swprofile: dict[str, Any],
    session_index: int,
    run_dir: Path,
    store_url: str,
    *,
    on_progress: Callable[[Progress], None] | None = None,
    on_item_done: Callable[[str], None] | None = None,
    skip: Iterable[str] = (),
    store: Any = None,
    plan_dir: Path | None = None,
) -> SessionOutcome:
    """Run session ``session_index`` (1-based) of ``swprofile`` on the booted SUT.

    One ``playbooks/session.yml`` run does everything on the SUT (fingerprint, setup roles,
    images, every benchmark); each benchmark's results are fetched and ingested as soon as
    it finishes, while the next one runs.  Raises :class:`InfraError` only when the SUT
    cannot be prepared at all (unreachable, no passwordless sudo, Docker unusable);
    everything after that is recorded as results or ERROR rows.  ``store`` may be an
    already open resultstore (else ``store_url`` is opened with ``create=True`` and closed
    at the end).  ``plan_dir`` is the plan file's directory: its ``roles/`` is searched for
    ``setup.roles`` after the ``global.roles`` preference paths.
    """
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    profile_name = swprofile.get("name") or "default"
    label = f"{_slug(profile_name)}-s{session_index}"
    nodes = sut_nodes(plan)
    ctx = _Ctx(run_dir=run_dir, label=label, profile_name=profile_name,
               session_index=session_index, skip=set(skip), targets=_targets(nodes, run_dir),
               runlog=_RunLog(run_dir / "fastpath.log"), on_progress=on_progress,
               on_item_done=on_item_done, stamp=str(int(time.time() * 1000) % 10**10))
    benches = [_Bench(ctx, bi, b) for bi, b in enumerate(plan["benchmarks"])
               if int(b["sessions"]) >= session_index]
    benches = [b for b in benches if b.todo]
    inv = render.write_inventory(run_dir, nodes)
    extravars = {
        "fastpath_setup_roles": list((plan.get("setup") or {}).get("roles") or []),
        "fastpath_docker_images": sorted({b.bench["image"] for b in benches}),
        "fastpath_benchmark_workbase": render.DEFAULT_WORKBASE,
        "fastpath_benchmark_nodes": render.node_addresses(nodes),
        "fastpath_benchmark_unpack": False,
        "fastpath_session_benchmarks": [b.session_item() for b in benches],
    }
    ctx.runlog(f"session {label}: {len(benches)} benchmark(s) on {len(nodes)} node(s)")

    # One worker thread opens the store (while Ansible starts) and ingests in order.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastpath-ingest")
    own_store = store is None

    def open_it() -> None:
        if own_store:
            from fastpath.resultstore import open_store

            ctx.store = open_store(store_url, create=True)
        else:
            ctx.store = store

    jobs = [pool.submit(open_it)]
    fps: dict[str, dict[str, Any]] = {}
    ready = threading.Event()
    problems: list[BaseException] = []

    def on_event(ev: dict[str, Any]) -> None:
        data = ev.get("event_data") or {}
        facts = (data.get("res") or {}).get("ansible_facts") or {}
        if ev.get("event") == "runner_on_ok" and "fastpath_fingerprint" in facts:
            fps[str(data.get("host"))] = facts["fastpath_fingerprint"]
            if len(fps) == len(nodes) and not ready.is_set() and not problems:
                try:
                    _fingerprinted(ctx, plan, swprofile, nodes, fps)
                    ready.set()
                except Exception as exc:  # never raise inside ansible-runner's loop
                    problems.append(exc)

    def on_line(bench: _Bench, node: int, line: str) -> None:
        if bench.on_line(node, line):
            jobs.append(pool.submit(bench.collect))

    followers = []
    for i in sorted({i for b in benches for i in b.used_nodes}):
        mine = [b for b in benches if i in b.used_nodes]
        limit = sum(b.timeout_s * len(b.todo) for b in mine) + 3600
        followers.append(RemoteTail(
            ctx.targets[i], [b.progress_path(i) for b in mine],
            lambda idx, line, i=i, mine=mine: on_line(mine[idx], i, line), max_seconds=limit))
    try:
        pb = run_playbook("session", inventory=inv, extravars=extravars, run_dir=run_dir,
                          ident=f"session-{label}", roles_paths=plan_roles_paths(plan_dir),
                          skip_tags=["fastpath_benchmark_images", "fastpath_benchmark_fetch"],
                          on_event=on_event)
    finally:
        for f in followers:
            f.stop(grace=0.3)
    try:
        if problems:
            raise problems[0]
        if not ready.is_set():
            # the SUT could not even be fingerprinted: nothing ran, nothing to store
            pb.raise_for_status(f"preparing the SUT ({label})")
            raise InfraError(f"no fingerprint came back from the SUT ({label})",
                             where=str(pb.artifact_dir))
        setup_phase = ("fastpath_fingerprint", "fastpath_docker")
        if any(f.role in setup_phase for f in pb.final_failures) or (
                pb.unreachable and not any(b.collected for b in benches)):
            # the SUT is not usable (Docker, sudo, SSH): an infrastructure failure
            pb.raise_for_status(f"preparing the SUT ({label})")
        for job in jobs:
            job.result()
        _after_playbook(ctx, pb, benches, nodes)
        for b in benches:
            jobs.append(pool.submit(b.finish, *_bench_verdict(ctx, pb, b)))
        for job in jobs:
            job.result()
    finally:
        pool.shutdown(wait=True)
        if own_store and ctx.store is not None:
            ctx.store.close()
    out = ctx.outcome
    assert out is not None
    ctx.runlog(f"session {label}: {out.results} results, {out.errors} errors")
    return out


def _fingerprinted(ctx: _Ctx, plan: dict[str, Any], swprofile: dict[str, Any],
                   nodes: list[dict[str, Any]], fps: dict[str, dict[str, Any]]) -> None:
    ordered = []
    fp_dir = ctx.run_dir / "artifacts" / "fingerprints" / ctx.label
    for i in range(len(nodes)):
        host = render.node_alias(i)
        fp = fpmod.check(fps[host], where=f"fingerprint of {host}")
        render.write_json(fp_dir / f"{host}.json", fp)
        ordered.append(fp)
    ctx.sut = fpmod.sut_info(ordered, plan.get("sut"), [n.get("name") for n in nodes])
    ctx.swp = fpmod.swprofile_info(ordered[0], swprofile)
    ctx.uuid = fpmod.boot_id(ordered[0])
    ctx.outcome = SessionOutcome(boot_id=ctx.uuid, sut=ctx.sut, swprofile=ctx.swp,
                                 fingerprints=ordered)
    ctx.runlog(f"session {ctx.label}: boot_id {ctx.uuid}, kernel {ctx.swp.kernel_name}")


def _after_playbook(ctx: _Ctx, pb: PlaybookOutcome, benches: list[_Bench],
                    nodes: list[dict[str, Any]]) -> None:
    """Log what the session's setup did (image copies, setup failures, step failures)."""
    assert ctx.outcome is not None
    for i in range(len(nodes)):
        facts = pb.facts.get(render.node_alias(i)) or {}
        for image in facts.get("fastpath_docker_copied") or []:
            ctx.runlog(f"node{i}: image {image} was copied from the controller's Docker "
                       "(docker save | docker load)")
            ctx.outcome.copied_images.append(image)
        failed = facts.get("fastpath_setup_failed")
        if failed:
            ctx.runlog(f"setup role {failed.get('role')} failed on node{i}: "
                       f"{failed.get('msg')}; every benchmark of this session gets "
                       f"SETUP_ROLE_FAILED", logging.ERROR)
    if not pb.ok:
        ctx.runlog(f"session {ctx.label}: the session playbook failed: {pb.reason()} "
                   f"(re-run: {pb.command})", logging.ERROR)


def _bench_verdict(ctx: _Ctx, pb: PlaybookOutcome, b: _Bench) -> tuple[int | None, str]:
    """(error code for every run, message) when the benchmark could not run, else
    (None, the reason to give for iterations without a status)."""
    for i in range(len(ctx.targets)):
        failed = (pb.facts.get(render.node_alias(i)) or {}).get("fastpath_setup_failed")
        if failed:
            return (int(ErrorCode.SETUP_ROLE_FAILED),
                    f"setup role {failed.get('role')} failed: {failed.get('msg')}")
    missing = [i for i in b.used_nodes
               if b.bench["image"] in ((pb.facts.get(render.node_alias(i)) or {})
                                       .get("fastpath_docker_unavailable") or [])]
    if missing:
        return (int(ErrorCode.IMAGE_UNAVAILABLE),
                f"image {b.bench['image']} is not on node(s) {missing}, cannot be pulled, "
                f"and the controller's Docker does not have it")
    for i in b.used_nodes:
        why = (pb.facts.get(render.node_alias(i)) or {}).get("fastpath_benchmark_failure")
        if why:
            return None, f"node{i}: {why}"
    return None, pb.reason()


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return "container's own code"


def fingerprint_host(host: str, *, user: str | None = None, port: int | None = None,
                     keyfile: str | None = None, run_dir: Path | None = None) -> dict[str, Any]:
    """Fingerprint one host and check the SUT requirements (``fastpath sut fingerprint``).

    Returns the fingerprint dict (``node``, ``swprofile``, ``boot_id``, plus ``docker``:
    the server version line).  Raises :class:`InfraError` naming the failing requirement:
    SSH login, passwordless sudo, or Docker usable by the user.
    """
    import tempfile

    if run_dir is None:
        base = Path(tempfile.gettempdir()) / "fastpath-sut-fingerprint"
        base.mkdir(parents=True, exist_ok=True)
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    run_dir = Path(run_dir).resolve()
    params = {"host": host, "user": user, "port": port,
              "keyfile": str(Path(keyfile).expanduser().resolve()) if keyfile else None}
    nodes = [{"name": None, "connection": {"method": "SSH", "params": params}}]
    inv = render.write_inventory(run_dir, nodes)
    # A fresh login proves the SSH requirement (not a master opened earlier with other keys).
    close_master(SshTarget(host=host, port=port, user=user))
    outcome = run_playbook("fingerprint", inventory=inv, run_dir=run_dir)
    who = f"{user}@{host}" if user else host
    where = f"{who}" + (f" port {port}" if port else "")
    if outcome.unreachable:
        msg = next(iter(outcome.unreachable.values()))
        raise InfraError(
            f"cannot log in to {where} over SSH: {msg}",
            hint="a SUT needs key-based SSH login for its fastpath user (guide 1.2.2); "
                 "check --user, --port and --keyfile")
    for f in outcome.final_failures:
        raise InfraError(f"{where}: {f.message}", hint=f"details: {outcome.stdout_path}")
    if not outcome.ok:
        raise InfraError(f"{where}: {outcome.reason()}", hint=f"details: {outcome.stdout_path}")
    fp = (outcome.facts.get(render.node_alias(0)) or {}).get("fastpath_fingerprint")
    if not fp:
        raise InfraError(f"{where}: the fingerprint role returned nothing",
                         hint=f"details: {outcome.stdout_path}")
    return fpmod.check(fp, where=f"fingerprint of {where}")
