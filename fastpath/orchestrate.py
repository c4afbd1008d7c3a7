"""Execute a plan (DESIGN §4): for each swprofile deploy its kernel, then for each boot
session reboot into it, verify, run the benchmarks, ingest; finally restore the SUT.

One callable, :func:`execute_plan`, that the CLI (and tests) call.  A run directory
(:mod:`fastpath.rundir`) records completed work items, so an interrupted execution resumes
from the first unfinished item with no result lost or stored twice.  Failures that belong
to one swprofile (kernel install, a kernel that does not boot, wrong cmdline, sysctl or
bootscript) become ERROR rows for that swprofile's remaining runs and the plan goes on;
failures of the SUT itself (unreachable, no power-cycle command) stop the plan with a
message (exit code 1) and leave the run resumable.
"""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastpath.plan.model import sut_nodes, work_total
from fastpath.records import Batch, BenchmarkInfo, ErrorRow, SutInfo, SwProfileInfo
from fastpath.rundir import RunDir, work_items

log = logging.getLogger("fastpath.orchestrate")


@dataclass
class ExecSummary:
    run_dir: Path
    store_url: str
    total: int
    already_done: int = 0
    results: int = 0
    errors: int = 0
    failed_profiles: dict[str, str] = field(default_factory=dict)
    restored: bool = False


class _RunLog:
    def __init__(self, path: Path):
        self.path = path

    def __call__(self, message: str, level: int = logging.INFO) -> None:
        log.log(level, message)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {logging.getLevelName(level)} {message}\n")


def _profile_record(profile: dict[str, Any], release: str) -> SwProfileInfo:
    """The swprofile as far as it is known without a successful boot."""
    return SwProfileInfo(
        name=profile["name"], kernel_name=release, kernel_git_sha=profile.get("gitsha"),
        kernel_kconfig_full_hash=None, kernel_cmdline_full_hash="",
        userspace_name="", cmdline=tuple(profile["cmdline"]), sysctl=tuple(profile["sysctl"]),
        bootscript=tuple(profile["bootscript"]),
    )


def _fingerprint_sut(plan: dict[str, Any], run_dir: Path) -> SutInfo:
    """Fingerprint the SUT as it is now (used to record errors of a profile that never ran)."""
    from fastpath import fingerprint as fpmod
    from fastpath import render
    from fastpath.execute import run_playbook

    nodes = sut_nodes(plan)
    inv = render.write_inventory(run_dir, nodes)
    outcome = run_playbook("fingerprint", inventory=inv, extravars={}, run_dir=run_dir,
                           ident="fingerprint-errors")
    outcome.raise_for_status("fingerprinting the SUT")
    fps = [fpmod.check(outcome.facts[render.node_alias(i)]["fastpath_fingerprint"])
           for i in range(len(nodes))]
    return fpmod.sut_info(fps, plan.get("sut"), [n.get("name") for n in nodes])


class PlanExecutor:
    def __init__(self, plan: dict[str, Any], plan_path: Path, store_url: str, rundir: RunDir,
                 *, on_progress: Callable[[int], None] | None = None):
        self.plan = plan
        self.plan_path = plan_path
        self.store_url = store_url
        self.rundir = rundir
        self.run_dir = rundir.path
        self.on_progress = on_progress or (lambda n: None)
        self.runlog = _RunLog(rundir.log_path())
        self.nodes = sut_nodes(plan)
        self.powercycle = plan["sut"].get("powercycle")
        self.summary = ExecSummary(run_dir=rundir.path, store_url=store_url,
                                   total=work_total(plan))
        self._sut_info: SutInfo | None = None

    # -- helpers ---------------------------------------------------------------------------
    @property
    def state(self):  # noqa: ANN201 - RunState
        assert self.rundir.state is not None
        return self.rundir.state

    def _mark(self, key: str) -> None:
        self.rundir.mark_done(key)
        self.on_progress(1)

    def _record_profile_failure(self, profile: dict[str, Any], sessions: list[int], code: int,
                                message: str, release: str) -> None:
        """One ERROR per benchmark and session for every remaining run of ``profile``."""
        self.runlog(f"swprofile {profile['name']}: ERROR {code}: {message}", logging.ERROR)
        self.summary.failed_profiles[profile["name"]] = message
        if self._sut_info is None:
            self._sut_info = _fingerprint_sut(self.plan, self.run_dir)
        swp = _profile_record(profile, release)
        from fastpath.resultstore import open_store

        now = datetime.now(UTC)
        with open_store(self.store_url, create=True) as store:
            for s in sessions:
                keys = [k for k in work_items(self.plan, profile, s) if k not in self.state.done]
                if not keys:
                    continue
                session_uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL,
                                                 f"fastpath:{self.state.plan_digest}:"
                                                 f"{profile['name']}:{s}"))
                bench_indexes = sorted({int(k.split("/")[2]) for k in keys})
                batches = []
                for bi in bench_indexes:
                    bench = self.plan["benchmarks"][bi]
                    roles = tuple(bench["roles"])
                    batches.append(Batch(
                        sut=self._sut_info, swprofile=swp,
                        benchmark=BenchmarkInfo(suite=bench["suite"], name=bench["name"],
                                                type=bench["type"], image=bench["image"],
                                                params=dict(bench["params"]), roles=roles),
                        rolemap=dict(bench["rolemap"]),
                        errors=[ErrorRow(code=int(code), timestamp=now,
                                         session_uuid=session_uuid, role=r, message=message)
                                for r in roles]))
                store.ingest_many(batches)
                self.summary.errors += len(batches)
                for key in keys:
                    self._mark(key)

    # -- the plan ----------------------------------------------------------------------------
    def run(self) -> ExecSummary:
        from fastpath import kernel

        done_before = len(self.state.done)
        self.summary.already_done = done_before
        for profile in self.plan["swprofiles"]:
            self._run_profile(profile, kernel)
        if not self.state.restored:
            deployed_any = any(p.get("deployed") for p in self.state.profiles.values())
            if deployed_any:
                self.runlog("restoring the SUT's original kernel")
                for node in self.nodes:
                    kernel.restore(node["connection"], self.run_dir,
                                   powercycle=self.powercycle)
            self.state.restored = True
            self.rundir.save()
        self.summary.restored = True
        return self.summary

    def _run_profile(self, profile: dict[str, Any], kernel: Any) -> None:
        from fastpath import session as sessmod

        name = profile["name"]
        max_sessions = max(b["sessions"] for b in self.plan["benchmarks"])
        pending = [s for s in range(1, max_sessions + 1)
                   if any(k not in self.state.done for k in work_items(self.plan, profile, s))]
        if not pending:
            return
        pstate = self.rundir.profile_state(name)
        deployed = pstate.get("deployed")
        if deployed:
            dks = [kernel.DeployedKernel(**{**d, "cmdline": tuple(d["cmdline"]),
                                            "sysctl": tuple(d["sysctl"])}) for d in deployed]
        else:
            self.runlog(f"swprofile {name}: deploying {profile['pkgtype']} kernel "
                        f"{profile['kernel']}")
            try:
                dks = [kernel.deploy_profile(n["connection"], profile, self.run_dir)
                       for n in self.nodes]
            except kernel.KernelError as exc:
                self._record_profile_failure(profile, pending, exc.code, exc.render(),
                                             exc.release or "")
                return
            pstate["deployed"] = [asdict(d) for d in dks]
            self.rundir.save()
            self.runlog(f"swprofile {name}: kernel {dks[0].release} installed in "
                        f"{dks[0].deploy_seconds:.0f}s")
        for s in pending:
            try:
                self._boot(profile, s, dks, kernel)
            except kernel.KernelError as exc:
                self._record_profile_failure(profile, [p for p in pending if p >= s],
                                             exc.code, exc.render(), dks[0].release)
                return
            outcome = sessmod.run_session(
                self.plan, profile, s, self.run_dir, self.store_url,
                on_progress=lambda _p: self.on_progress(1),  # live, once per run
                on_item_done=self.rundir.mark_done,  # once its results are stored
                skip=set(self.state.done),
                plan_dir=self.plan_path.resolve().parent)
            self.summary.results += outcome.results
            self.summary.errors += outcome.errors

    def _boot(self, profile: dict[str, Any], session: int, dks: list[Any], kernel: Any) -> None:
        name = profile["name"]
        pstate = self.rundir.profile_state(name)
        records = []
        for index, (node, dk) in enumerate(zip(self.nodes, dks, strict=True)):
            boot = kernel.reboot_and_verify(node["connection"], dk, profile, self.run_dir,
                                            powercycle=self.powercycle)
            self.runlog(f"swprofile {name} session {session}: node {index} booted "
                        f"{boot.release} (boot_id {boot.boot_id}) in {boot.seconds:.0f}s"
                        f"{' after a power-cycle' if boot.powercycled else ''}")
            after = kernel.post_boot(node["connection"], profile, self.run_dir)
            records.append({"node": index, "boot_id": boot.boot_id, "release": boot.release,
                            "cmdline": boot.cmdline, "seconds": round(boot.seconds, 1),
                            "powercycled": boot.powercycled,
                            "sysctl": after.get("sysctl", [])})
        # what each boot really was, for operators (and tests) to check afterwards
        # (a session resumed after an interruption boots again: both boots are listed)
        pstate.setdefault("boots", {}).setdefault(str(session), []).extend(records)
        self.rundir.save()


def execute_plan(plan_path: Path, *, store_url: str, run_dir: Path,
                 on_start: Callable[[int, int, bool], None] | None = None,
                 on_progress: Callable[[int], None] | None = None) -> ExecSummary:
    """Load ``plan_path`` and execute it into ``store_url`` using ``run_dir``.

    ``on_start(total, already_done, resumed)`` is called once before any SUT work;
    ``on_progress(n)`` after every finished run (warm-ups included).
    """
    from fastpath.plan import load_plan
    from fastpath.plan.dump import dump_yaml
    from fastpath.resultstore import open_store

    plan = load_plan(plan_path)
    with open_store(store_url, create=True):
        pass  # a bad URL or unreachable database fails now, before any SUT work
    with RunDir(run_dir) as rundir:
        state, resumed = rundir.start(plan, dump_yaml(plan))
        executor = PlanExecutor(plan, plan_path, store_url, rundir, on_progress=on_progress)
        all_keys = {k for p in plan["swprofiles"]
                    for s in range(1, max(b["sessions"] for b in plan["benchmarks"]) + 1)
                    for k in work_items(plan, p, s)}
        if on_start is not None:
            on_start(executor.summary.total, len(state.done & all_keys), resumed)
        if resumed:
            executor.runlog(f"resuming: {len(state.done & all_keys)} of "
                            f"{executor.summary.total} runs already done")
        return executor.run()
