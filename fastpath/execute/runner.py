"""ansible-runner wrapper: one call = one playbook run recorded in a run directory."""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import yaml

from fastpath import paths, preferences
from fastpath.errors import InfraError, UserError

_STEP_LOCK = threading.Lock()
DEFAULT_ROTATE = 200


@dataclass(frozen=True)
class FailedTask:
    host: str
    task: str
    role: str | None
    message: str
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    action: str = ""

    def render(self) -> str:
        where = f"{self.role} : {self.task}" if self.role else self.task
        return f"{self.host}: task '{where}' failed: {self.message}"


@dataclass
class PlaybookOutcome:
    status: str  # successful | failed | timeout | canceled
    rc: int
    command: str
    artifact_dir: Path
    failed: list[FailedTask] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    host_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    duration: float = 0.0

    @property
    def final_failures(self) -> list[FailedTask]:
        """The last failure of each host (a block's rescue may have replaced earlier ones)."""
        last: dict[str, FailedTask] = {}
        for f in self.failed:
            last[f.host] = f
        return list(last.values())

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    @property
    def stdout_path(self) -> Path:
        return self.artifact_dir / "stdout"

    def stdout_tail(self, lines: int = 20) -> str:
        try:
            text = self.stdout_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def reason(self) -> str:
        """One human sentence explaining why the run was not ok ('' when ok)."""
        if self.ok:
            return ""
        parts = [f"{h}: unreachable: {m}" for h, m in self.unreachable.items()]
        parts += [f.render() for f in self.final_failures]
        if not parts:
            if self.status == "timeout":
                parts.append("the playbook timed out")
            else:
                tail = self.stdout_tail(5).strip()
                parts.append(f"ansible-playbook {self.status} (rc {self.rc})" +
                             (f": {tail}" if tail else ""))
        return "; ".join(parts)

    def raise_for_status(self, what: str) -> None:
        if not self.ok:
            raise InfraError(
                f"{what} failed: {self.reason()}",
                where=str(self.artifact_dir),
                hint=f"re-run by hand with: {self.command}",
            )


def roles_search_path(extra: Iterable[Path] = ()) -> list[Path]:
    """fastpath's own roles, then the ``global.roles`` preference, then ``extra``."""
    out: list[Path] = []
    for p in [paths.roles_dir(), *preferences.roles_paths(), *extra]:
        p = Path(p).expanduser().resolve()
        if p not in out:
            out.append(p)
    return out


def ansible_env(roles_paths: Iterable[Path] = ()) -> dict[str, str]:
    """Environment variables every fastpath ansible-playbook run uses."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        path = bindir + os.pathsep + path
    return {
        "ANSIBLE_CONFIG": str(paths.ansible_cfg()),
        "ANSIBLE_ROLES_PATH": os.pathsep.join(str(p) for p in roles_search_path(roles_paths)),
        "PATH": path,
        "ANSIBLE_NOCOLOR": "1",
    }


def playbook_path(playbook: str | Path) -> Path:
    """A playbook given as a path, or as a name under fastpath's ``playbooks/``."""
    p = Path(playbook)
    if p.is_file():
        return p.resolve()
    for cand in (paths.playbooks_dir() / p, paths.playbooks_dir() / f"{p}.yml"):
        if cand.is_file():
            return cand
    raise UserError(
        f"playbook '{playbook}' not found",
        hint=f"give a path or a name under {paths.playbooks_dir()}",
    )


def _write_once(directory: Path, stem: str, suffix: str, text: str) -> Path:
    """Content-addressed file in ``directory`` (same content -> same file)."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = sha256(text.encode()).hexdigest()[:12]
    target = directory / f"{stem}-{digest}{suffix}"
    if not target.exists():
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    return target


def _next_ident(run_dir: Path, base: str) -> str:
    steps = run_dir / "steps.jsonl"
    count = 0
    if steps.exists():
        with steps.open(encoding="utf-8") as fh:
            count = sum(1 for line in fh if '"event": "start"' in line)
    return f"{count + 1:04d}-{base}"


def _message(res: dict[str, Any]) -> str:
    msg = str(res.get("msg") or "").strip()
    stderr = str(res.get("stderr") or "").strip()
    if not msg and isinstance(res.get("results"), list):
        inner = [_message(r) for r in res["results"] if isinstance(r, dict) and r.get("failed")]
        msg = "; ".join(m for m in inner if m)
    if stderr and stderr not in msg:
        msg = f"{msg}: {stderr}" if msg else stderr
    if not msg and res.get("rc") not in (None, 0):
        msg = f"exit code {res.get('rc')}"
    return msg or "failed"


def _command_line(env: dict[str, str], args: list[str]) -> str:
    pre = [f"{k}={shlex.quote(env[k])}" for k in ("ANSIBLE_CONFIG", "ANSIBLE_ROLES_PATH")]
    return " ".join([*pre, *(shlex.quote(a) for a in args)])


def run_playbook(
    playbook: str | Path,
    *,
    inventory: dict[str, Any] | Path | str,
    extravars: dict[str, Any] | None = None,
    run_dir: Path,
    tags: list[str] | None = None,
    skip_tags: list[str] | None = None,
    limit: str | list[str] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    roles_paths: Iterable[Path] = (),
    ident: str | None = None,
    timeout: int | None = None,
    rotate_artifacts: int = DEFAULT_ROTATE,
    verbosity: int = 0,
) -> PlaybookOutcome:
    """Run one playbook with ansible-runner; never raises for a failing playbook.

    Raises :class:`UserError` for a missing playbook and :class:`InfraError` when
    ansible-runner itself cannot start.  Check ``outcome.ok`` / ``raise_for_status``.
    """
    import ansible_runner  # heavy; only here

    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    pb = playbook_path(playbook)
    roles_paths = list(roles_paths)
    env = ansible_env(roles_paths)

    with _STEP_LOCK:
        step_ident = _next_ident(run_dir, ident or pb.stem)
        if isinstance(inventory, dict):
            inv_path = _write_once(
                run_dir / "inventory", "hosts", ".yml",
                yaml.safe_dump(inventory, sort_keys=False, default_flow_style=False),
            )
        else:
            inv_path = Path(inventory).resolve()
        args = ["ansible-playbook", "-i", str(inv_path)]
        ev_path = None
        if extravars:
            ev_path = _write_once(
                run_dir / "vars", "extravars", ".json",
                json.dumps(extravars, indent=2, sort_keys=True, default=str) + "\n",
            )
            args += ["-e", f"@{ev_path}"]
        limit_text = ",".join(limit) if isinstance(limit, list) else limit
        if limit_text:
            args += ["--limit", limit_text]
        if tags:
            args += ["--tags", ",".join(tags)]
        if skip_tags:
            args += ["--skip-tags", ",".join(skip_tags)]
        if verbosity:
            args.append("-" + "v" * verbosity)
        args.append(str(pb))
        command = _command_line(env, args)
        with (run_dir / "commands.sh").open("a", encoding="utf-8") as fh:
            if fh.tell() == 0:
                fh.write("#!/bin/sh\n# Every ansible-playbook step of this run, in order; "
                         "run from anywhere to repeat a step by hand.\n")
            fh.write(f"\n# step {step_ident} ({datetime.now(UTC).isoformat(timespec='seconds')})\n")
            fh.write(command + "\n")
        # Reserve the ident now so concurrent callers get distinct ones.
        with (run_dir / "steps.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"ident": step_ident, "playbook": str(pb),
                                 "command": command, "event": "start"}) + "\n")

    failed: list[FailedTask] = []
    unreachable: dict[str, str] = {}
    stats: dict[str, Any] = {}
    host_stats: dict[str, dict[str, int]] = {}
    facts: dict[str, dict[str, Any]] = {}

    def handler(ev: dict[str, Any]) -> bool:
        kind = ev.get("event")
        data = ev.get("event_data") or {}
        if kind == "runner_on_failed" and not data.get("ignore_errors"):
            res = data.get("res") or {}
            failed.append(FailedTask(
                host=str(data.get("host", "")),
                task=str(data.get("task", "")),
                role=data.get("role") or None,
                message=_message(res),
                rc=res.get("rc") if isinstance(res.get("rc"), int) else None,
                stdout=str(res.get("stdout") or ""),
                stderr=str(res.get("stderr") or ""),
                action=str(data.get("task_action", "")),
            ))
        elif kind in ("runner_on_ok", "runner_item_on_ok"):
            res = data.get("res") or {}
            if isinstance(res.get("ansible_facts"), dict):
                facts.setdefault(str(data.get("host", "")), {}).update(res["ansible_facts"])
        elif kind == "runner_on_unreachable":
            res = data.get("res") or {}
            unreachable[str(data.get("host", ""))] = str(res.get("msg") or "unreachable").strip()
        elif kind == "playbook_on_stats":
            stats.update(data.get("artifact_data") or {})
            for key in ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored"):
                for host, n in (data.get(key) or {}).items():
                    host_stats.setdefault(host, {})[key] = n
        if on_event is not None:
            on_event(ev)
        return True

    started = time.monotonic()
    kwargs: dict[str, Any] = dict(
        private_data_dir=str(run_dir),
        artifact_dir=str(run_dir / "artifacts" / "ansible"),
        playbook=str(pb),
        inventory=str(inv_path),
        ident=step_ident,
        envvars=env,
        quiet=True,
        rotate_artifacts=rotate_artifacts,
        event_handler=handler,
        verbosity=verbosity or None,
    )
    if ev_path is not None:
        kwargs["cmdline"] = f"-e @{shlex.quote(str(ev_path))}"
    if limit_text:
        kwargs["limit"] = limit_text
    if tags:
        kwargs["tags"] = ",".join(tags)
    if skip_tags:
        kwargs["skip_tags"] = ",".join(skip_tags)
    if timeout:
        kwargs["timeout"] = int(timeout)
    try:
        r = ansible_runner.run(**kwargs)
    except Exception as exc:  # ansible-runner config/launch errors
        raise InfraError(
            f"could not start ansible-playbook: {exc}",
            hint=f"try the step by hand: {command}",
        ) from exc
    duration = time.monotonic() - started
    artifact_dir = Path(r.config.artifact_dir)

    outcome = PlaybookOutcome(
        status=str(r.status),
        rc=int(r.rc if r.rc is not None else -1),
        command=command,
        artifact_dir=artifact_dir,
        failed=failed,
        unreachable=unreachable,
        facts=facts,
        stats=stats,
        host_stats=host_stats,
        duration=duration,
    )
    with _STEP_LOCK, (run_dir / "steps.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"ident": step_ident, "event": "end", "status": outcome.status,
                             "rc": outcome.rc, "seconds": round(duration, 3),
                             "reason": outcome.reason()}) + "\n")
    return outcome
