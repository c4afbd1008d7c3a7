"""A plan execution's run directory: inputs, state, artifacts, logs (fixed file names).

Layout::

    <run>/plan.yaml        the normalised plan being executed
    <run>/state.json       completed work items and per-profile progress (atomic writes)
    <run>/commands.sh      exact ansible-playbook command lines of every step (execute layer)
    <run>/fastpath.log     the run log (errors explained, image copies, reboots...)
    <run>/artifacts/...    ansible-runner artifacts, fingerprints, results.csv per iteration
    <run>/lock             held while a ``plan exec`` runs in this directory

Work item keys are ``<swprofile>/<session>/<benchmark index>/<iteration>`` strings; an
iteration counts warm-ups first (``w1``, ``w2``...) then repeats (``r1``...).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastpath.errors import UserError

STATE_VERSION = 1


def plan_digest(plan: dict[str, Any]) -> str:
    text = json.dumps(plan, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class RunState:
    plan_digest: str
    done: set[str] = field(default_factory=set)
    # profile name -> {"deployed": {...} | None, "finished": bool}
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    restored: bool = False

    def to_json(self) -> str:
        return json.dumps({
            "version": STATE_VERSION,
            "plan_digest": self.plan_digest,
            "done": sorted(self.done),
            "profiles": self.profiles,
            "restored": self.restored,
        }, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: Path) -> RunState:
        try:
            data = json.loads(text)
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"state version {data.get('version')}")
            return cls(plan_digest=data["plan_digest"], done=set(data["done"]),
                       profiles=dict(data.get("profiles", {})),
                       restored=bool(data.get("restored", False)))
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(f"the run state is unreadable ({exc})", where=str(where),
                            hint="delete the run directory to start the plan afresh") from exc


class RunDir:
    """Owns one run directory; use as a context manager (takes the lock)."""

    def __init__(self, path: Path):
        self.path = path
        self.state_path = path / "state.json"
        self.state: RunState | None = None
        self._lock_fd: int | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> RunDir:
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise UserError("another 'fastpath plan exec' is running in this run directory",
                            where=str(self.path),
                            hint="wait for it to finish or use another --output") from exc
        self._lock_fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- state ----------------------------------------------------------------------------
    def start(self, plan: dict[str, Any], plan_text: str) -> tuple[RunState, bool]:
        """Load the state of a previous run of the same plan, or start a new one.
        Returns (state, resumed)."""
        digest = plan_digest(plan)
        if self.state_path.exists():
            state = RunState.from_json(self.state_path.read_text(encoding="utf-8"),
                                       self.state_path)
            if state.plan_digest != digest and state.restored:
                # the previous run finished: keep its state for the record, start anew
                stamp = int(self.state_path.stat().st_mtime)
                os.replace(self.state_path, self.path / f"state-{stamp}.json")
                return self._fresh(digest, plan_text), False
            if state.plan_digest != digest:
                raise UserError(
                    "this run directory holds an unfinished run of a different plan",
                    where=str(self.path),
                    hint="use a new --output/--run-dir, or delete this run directory "
                         "to abandon the old run",
                )
            self.state = state
            return state, True
        return self._fresh(digest, plan_text), False

    def _fresh(self, digest: str, plan_text: str) -> RunState:
        self.state = RunState(plan_digest=digest)
        atomic_write(self.path / "plan.yaml", plan_text)
        self.save()
        return self.state

    def save(self) -> None:
        assert self.state is not None
        atomic_write(self.state_path, self.state.to_json())

    def mark_done(self, key: str) -> None:
        assert self.state is not None
        self.state.done.add(key)
        self.save()

    def profile_state(self, name: str) -> dict[str, Any]:
        assert self.state is not None
        return self.state.profiles.setdefault(name, {"deployed": None, "finished": False})

    def log_path(self) -> Path:
        return self.path / "fastpath.log"


def item_key(profile: str, session: int, bench_index: int, iteration: str) -> str:
    return f"{profile}/{session}/{bench_index}/{iteration}"


def iterations(bench: dict[str, Any]) -> list[str]:
    return [f"w{i + 1}" for i in range(bench["warmups"])] + [
        f"r{i + 1}" for i in range(bench["repeats"])
    ]


def work_items(plan: dict[str, Any], profile: dict[str, Any], session: int) -> list[str]:
    """The keys of every run of ``profile`` in boot session ``session`` (1-based)."""
    keys = []
    for b_index, bench in enumerate(plan["benchmarks"]):
        if bench["sessions"] >= session:
            keys += [item_key(profile["name"], session, b_index, it) for it in iterations(bench)]
    return keys
