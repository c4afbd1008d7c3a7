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

    Raises :class:`InfraError` only when the SUT cannot be prepared at all (unreachable,
    no passwordless sudo, Docker unusable); everything after that is recorded as results
    or ERROR rows.  ``store`` may be an already open resultstore (else ``store_url`` is
    opened with ``create=True`` and closed at the end).  ``plan_dir`` is the plan file's
    directory: its ``roles/`` is searched for ``setup.roles`` after the ``global.roles``
    preference paths.
    """
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    runlog = _RunLog(run_dir / "fastpath.log")
    skip = set(skip)
    profile_name = swprofile.get("name") or "default"
    label = f"{_slug(profile_name)}-s{session_index}"
    nodes = sut_nodes(plan)
    targets = _targets(nodes, run_dir)
    benches = [(bi, b) for bi, b in enumerate(plan["benchmarks"])
               if int(b["sessions"]) >= session_index]

    runlog(f"session {label}: preparing the SUT ({len(nodes)} node(s))")
    prep, fps = prepare(plan, swprofile, run_dir, images=[b["image"] for _, b in benches],
                        label=label, plan_dir=plan_dir)
    names = [n.get("name") for n in nodes]
    sut = fpmod.sut_info(fps, plan.get("sut"), names)
    swp = fpmod.swprofile_info(fps[0], swprofile)
    uuid = fpmod.boot_id(fps[0])
    outcome = SessionOutcome(boot_id=uuid, sut=sut, swprofile=swp, fingerprints=fps)
    runlog(f"session {label}: boot_id {uuid}, kernel {swp.kernel_name}")

    setup_failed: dict[str, Any] = {}
    unavailable: dict[int, set[str]] = {}
    for i in range(len(nodes)):
        facts = prep.facts.get(render.node_alias(i)) or {}
        if facts.get("fastpath_setup_failed") and not setup_failed:
            setup_failed = dict(facts["fastpath_setup_failed"], node=i)
        unavailable[i] = set(facts.get("fastpath_docker_unavailable") or [])
        for image in facts.get("fastpath_docker_copied") or []:
            runlog(f"node{i}: image {image} was copied from the controller's Docker "
                   "(docker save | docker load)")
            outcome.copied_images.append(image)
    if setup_failed:
        runlog(f"setup role {setup_failed.get('role')} failed on node{setup_failed['node']}: "
               f"{setup_failed.get('msg')}; every benchmark of this session gets "
               f"SETUP_ROLE_FAILED", logging.ERROR)

    own_store = store is None
    if own_store:
        from fastpath.resultstore import open_store

        store = open_store(store_url, create=True)
    try:
        for bi, bench in benches:
            _run_benchmark(
                plan, profile_name, session_index, bi, bench, run_dir=run_dir, label=label,
                nodes=nodes, targets=targets, sut=sut, swp=swp, uuid=uuid, store=store,
                skip=skip, setup_failed=setup_failed, unavailable=unavailable,
                outcome=outcome, runlog=runlog, on_progress=on_progress,
                on_item_done=on_item_done,
            )
    finally:
        if own_store:
            store.close()
    runlog(f"session {label}: {outcome.results} results, {outcome.errors} errors")
    return outcome


def _run_benchmark(plan, profile_name, session_index, bi, bench, *, run_dir, label, nodes,
                   targets, sut, swp, uuid, store, skip, setup_failed, unavailable, outcome,
                   runlog, on_progress, on_item_done) -> None:
    labels = iteration_labels(bench)
    keys = {n: item_key(profile_name, session_index, bi, lab)
            for n, lab in enumerate(labels, start=1)}
    todo = [n for n in keys if keys[n] not in skip]
    if not todo:
        return
    bname = f"{bench.get('suite') or 'unknown'}/{bench['name']}"
    info = _benchmark_info(bench)
    rolemap = _rolemap(bench)
    timeout_s = timeout_seconds(str(bench.get("timeout") or "1h"))
    reported: set[int] = set()
    lock = threading.Lock()

    def progress(n: int, ok: bool, seconds: float | None = None, message: str = "") -> None:
        with lock:
            if n in reported:
                return
            reported.add(n)
        if on_progress is not None:
            on_progress(Progress(key=keys[n], benchmark_index=bi, benchmark=bname,
                                 iteration=labels[n - 1], ok=ok, seconds=seconds,
                                 message=message))

    def store_iteration(n: int, results: list, errors: list[ErrorRow]) -> None:
        lab = labels[n - 1]
        for e in errors:
            runlog(f"{bname} {label} {lab} role {e.role}: ERROR {e.code} "
                   f"({_code_name(e.code)}): {e.message}", logging.WARNING)
        if lab.startswith("w"):
            runlog(f"{bname} {label} {lab}: warm-up discarded "
                   f"({len(results)} results, {len(errors)} errors)")
        else:
            store.ingest(Batch(sut=sut, swprofile=swp, benchmark=info, rolemap=dict(rolemap),
                               results=list(results), errors=list(errors)))
            outcome.results += len(results)
            outcome.errors += len(errors)
            for e in errors:
                outcome.error_codes[e.code] = outcome.error_codes.get(e.code, 0) + 1
        outcome.done.append(keys[n])
        if on_item_done is not None:
            on_item_done(keys[n])

    def fail_all(code: int, message: str) -> None:
        now = datetime.now(UTC)
        for n in todo:
            # distinct timestamps: the store deduplicates identical rows
            when = now + timedelta(milliseconds=n)
            errs = [ErrorRow(code=int(code), timestamp=when, session_uuid=uuid, role=r,
                             message=message) for r in rolemap]
            progress(n, False, message=message)
            store_iteration(n, [], errs)

    if setup_failed:
        fail_all(ErrorCode.SETUP_ROLE_FAILED,
                 f"setup role {setup_failed.get('role')} failed: {setup_failed.get('msg')}")
        return
    used_nodes = sorted(set(rolemap.values()))
    missing = [i for i in used_nodes if bench["image"] in unavailable.get(i, set())]
    if missing:
        fail_all(ErrorCode.IMAGE_UNAVAILABLE,
                 f"image {bench['image']} is not on node(s) {missing}, cannot be pulled, and "
                 f"the controller's Docker does not have it")
        return

    run_id = f"{_slug(label)}-b{bi}-{int(time.time() * 1000) % 10**10}"
    fetch_dir = (run_dir / "artifacts" / "results" / label /
                 f"b{bi}-{_slug(bench.get('suite') or 'unknown')}-{_slug(bench['name'])}")
    if fetch_dir.exists():
        shutil.rmtree(fetch_dir)
    fetch_dir.mkdir(parents=True)
    extravars = render.benchmark_extravars(bench, nodes=nodes, run_id=run_id, iterations=todo,
                                           timeout_s=timeout_s, fetch_dir=fetch_dir,
                                           unpack=False)
    limit = ",".join(render.node_alias(i) for i in used_nodes)
    runlog(f"{bname} {label}: running {len(todo)} iteration(s) on {limit} "
           f"(image {bench['image']}, timeout {timeout_s}s)")

    # Live progress: tail each used node's progress file over the shared SSH master.
    seen: dict[int, set[int]] = {}

    def on_line(node: int, line: str) -> None:
        try:
            rec = json.loads(line)
        except ValueError:
            return
        n = int(rec.get("iteration", 0))
        if n not in keys:
            return
        with lock:
            seen.setdefault(n, set()).add(node)
            complete = seen[n] >= set(used_nodes)
        if complete:
            conts = rec.get("containers") or {}
            ok = all(c.get("exit_code") == 0 and c.get("results_csv") for c in conts.values())
            secs = max((c.get("seconds") or 0 for c in conts.values()), default=None)
            progress(n, ok, secs)

    tails = []
    for i in used_nodes:
        base = extravars["fastpath_benchmark_workbase"]
        path = f"{base}/{render.node_alias(i)}/{run_id}/progress.jsonl"
        tails.append(RemoteTail(targets[i], path, lambda line, i=i: on_line(i, line),
                                max_seconds=timeout_s * len(todo) + 600))
    try:
        pb = run_playbook("run_benchmark", inventory=run_dir / "inventory" / "hosts.yml",
                          extravars=extravars, run_dir=run_dir, limit=limit,
                          skip_tags=["fastpath_benchmark_images", "fastpath_benchmark_fetch"],
                          ident=f"bench-{label}-b{bi}", timeout=timeout_s * len(todo) + 600)
    finally:
        for t in tails:
            t.stop(grace=0.2)
    # Fetch each node's archive over the shared SSH master (cheaper than a fetch task).
    for i in used_nodes:
        host = render.node_alias(i)
        remote = f"{extravars['fastpath_benchmark_workbase']}/{host}/{run_id}/results.tar.gz"
        archive = fetch_dir / f"{host}.tar.gz"
        if fetch_file(targets[i], remote, archive):
            with tarfile.open(archive) as tar:
                tar.extractall(fetch_dir, filter="data")
    stamp = datetime.now(UTC)
    if not pb.ok:
        runlog(f"{bname} {label}: the benchmark step failed: {pb.reason()} "
               f"(re-run: {pb.command})", logging.ERROR)
    for n in todo:
        results: list = []
        errors: list[ErrorRow] = []
        stamp_n = stamp + timedelta(milliseconds=n)
        for role, node in rolemap.items():
            idir = fetch_dir / str(n) / role
            status_path = idir / "status.json"
            if not status_path.is_file():
                reason = pb.reason() or "the SUT-side runner produced no status"
                errors.append(ErrorRow(code=int(ErrorCode.RUN_FAILED), timestamp=stamp_n,
                                       session_uuid=uuid, role=role,
                                       message=f"iteration did not run on node{node}: {reason}"))
                continue
            status = json.loads(status_path.read_text(encoding="utf-8"))
            try:  # when the SUT saw the container finish (distinct per iteration)
                when = datetime.fromisoformat(status["ended"])
            except (KeyError, TypeError, ValueError):
                when = stamp_n
            parsed = classify(status, idir / "share" / "results.csv", timestamp=when,
                              session_uuid=uuid, role=role, timeout_s=timeout_s)
            results += parsed.results
            if parsed.error is not None:
                errors.append(parsed.error)
        if not results and not errors:
            first = next(iter(rolemap))
            errors.append(ErrorRow(code=int(ErrorCode.RESULTS_MISSING), timestamp=stamp_n,
                                   session_uuid=uuid, role=first,
                                   message="no role reported any result (header-only "
                                           "results.csv everywhere)"))
        progress(n, not errors)
        store_iteration(n, results, errors)


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
