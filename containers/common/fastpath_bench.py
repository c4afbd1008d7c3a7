"""Shared helper for fastpath benchmark containers (copied to /fastpath in every image).

A suite's ``exec.py`` declares its parameters, runs its tool and parses the output; this
module does the rest of the container contract (guide §1.3.1):

* read and validate ``/fastpath-share/benchmark.yaml`` (suite, params, role, nodes);
* log to ``/fastpath-share/output/exec.log`` (and stderr);
* ALWAYS write ``/fastpath-share/results.csv`` with the header
  ``name,unit,improvement,value,error`` - result rows on success, one error row (empty
  value, non-zero ``error``) on failure.  A header-only file means "no results, no error"
  (e.g. the server role of a two-role benchmark whose client reports the numbers).

Container error codes (the ``error`` column; fastpath's own codes start at 100):

== ===================== =========================================================
1  GENERIC               unexpected failure inside exec.py (a bug; see exec.log)
2  INVALID_BENCHMARK     benchmark.yaml missing, unreadable, wrong suite, bad role/nodes
3  INVALID_PARAMS        unknown parameter, or a value of the wrong form or range
4  TOOL_FAILED           the workload tool could not start or exited non-zero
5  OUTPUT_UNPARSEABLE    the tool's output lacked an expected metric or was not finite
6  PEER_UNREACHABLE      two-role benchmark: the other role never became reachable
== ===================== =========================================================

The container's exit status repeats the code (0 on success) for operators running it by
hand; fastpath reads the code from results.csv.

Only the standard library and PyYAML are used, so parsers can be unit-tested on any host.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
import math
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import yaml

SHARE = Path(os.environ.get("FASTPATH_SHARE", "/fastpath-share"))
HEADER = ("name", "unit", "improvement", "value", "error")
DEFAULT_ROLE = "executor"  # the role of a single-role benchmark (guide: "executer")

log = logging.getLogger("fastpath.bench")


class ErrorCode(IntEnum):
    GENERIC = 1
    INVALID_BENCHMARK = 2
    INVALID_PARAMS = 3
    TOOL_FAILED = 4
    OUTPUT_UNPARSEABLE = 5
    PEER_UNREACHABLE = 6


class BenchmarkError(Exception):
    """A failure with a container error code; the message goes to exec.log."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Result:
    name: str
    unit: str
    improvement: str  # "bigger" | "smaller"
    value: float

    def __post_init__(self) -> None:
        if self.improvement not in ("bigger", "smaller"):
            raise ValueError(f"improvement must be bigger or smaller, not {self.improvement!r}")


# ---------------------------------------------------------------- numbers


_NUMBER = re.compile(r"^[+-]?(\d[\d.,]*|[.,]\d+)([eE][+-]?\d+)?$")


def parse_number(text: str | float | int) -> float:
    """A finite float from a tool's number text, tolerating a decimal comma.

    ``"1234.5"``, ``"1234,5"`` (decimal comma, e.g. a de_DE locale), ``"1.234,5"`` and
    ``"1,234.5"`` (thousands separators: the LAST of ``.``/``,`` is the decimal mark).
    Raises ``ValueError`` for anything else, including NaN and infinities.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        s = str(text).strip()
        if not _NUMBER.match(s):
            raise ValueError(f"not a number: {text!r}")
        mantissa, exp = s, ""
        m = re.search(r"[eE][+-]?\d+$", s)
        if m:
            mantissa, exp = s[: m.start()], m.group(0)
        last_dot, last_comma = mantissa.rfind("."), mantissa.rfind(",")
        if last_comma > last_dot:  # comma is the decimal mark; dots group thousands
            mantissa = mantissa.replace(".", "").replace(",", ".")
        else:
            mantissa = mantissa.replace(",", "")
        if mantissa.count(".") > 1:
            raise ValueError(f"not a number: {text!r}")
        value = float(mantissa + exp)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def find_number(pattern: str, text: str, what: str, flags: int = re.MULTILINE) -> float:
    """The number captured by group 1 of ``pattern`` in ``text`` (OUTPUT_UNPARSEABLE if absent)."""
    m = re.search(pattern, text, flags)
    if not m:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"{what} not found in the tool output")
    try:
        return parse_number(m.group(1))
    except ValueError as exc:
        raise BenchmarkError(ErrorCode.OUTPUT_UNPARSEABLE, f"{what}: {exc}") from None


# ---------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Param:
    """One declared parameter: its default (a string, None = optional without default)."""

    default: str | None = None
    kind: str = "str"  # str | int | float | choice | size | bool
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""

    def convert(self, key: str, raw: str) -> Any:
        def bad(why: str) -> BenchmarkError:
            return BenchmarkError(ErrorCode.INVALID_PARAMS, f"param {key}={raw!r}: {why}")

        if self.kind == "choice":
            if raw not in self.choices:
                raise bad(f"must be one of {', '.join(self.choices)}")
            return raw
        if self.kind == "bool":
            low = raw.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise bad("must be true or false")
        if self.kind == "size":
            if not re.fullmatch(r"\d+[KMGT]?", raw):
                raise bad("must be a size like 4096, 64K, 1M or 2G")
            return raw
        if self.kind in ("int", "float"):
            try:
                value: float = int(raw, 10) if self.kind == "int" else parse_number(raw)
            except ValueError:
                raise bad(f"must be an {'integer' if self.kind == 'int' else 'number'}") from None
            if self.minimum is not None and value < self.minimum:
                raise bad(f"must be >= {self.minimum:g}")
            if self.maximum is not None and value > self.maximum:
                raise bad(f"must be <= {self.maximum:g}")
            return value
        if not raw or any(c in raw for c in "\n\0"):
            raise bad("must be a non-empty single-line string")
        return raw


def validate_params(raw: Mapping[str, Any], spec: Mapping[str, Param]) -> dict[str, Any]:
    """Check ``raw`` (strings from benchmark.yaml) against ``spec``; defaults filled in."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in spec:
            hint = difflib.get_close_matches(str(key), list(spec), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise BenchmarkError(
                ErrorCode.INVALID_PARAMS,
                f"unknown param {key!r}{extra}; known: {', '.join(sorted(spec))}",
            )
        if value is None or isinstance(value, (dict, list)):
            raise BenchmarkError(ErrorCode.INVALID_PARAMS, f"param {key} must be a scalar string")
        out[key] = spec[key].convert(key, str(value))
    for key, p in spec.items():
        if key not in out and p.default is not None:
            out[key] = p.convert(key, p.default)
    return out


def online_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpus_param(value: int) -> int:
    """``0`` means all online CPUs."""
    return value if value > 0 else online_cpus()


# ---------------------------------------------------------------- benchmark.yaml


@dataclass
class Benchmark:
    suite: str
    name: str
    params: dict[str, Any]  # validated and converted
    raw_params: dict[str, str]
    role: str
    roles: list[str]
    rolemap: dict[str, int]
    nodes: list[dict[str, Any]]
    doc: dict[str, Any] = field(default_factory=dict)
    output: Path = SHARE / "output"

    def address_of(self, role: str) -> str:
        """The network address of the node that plays ``role``."""
        if role not in self.rolemap:
            raise BenchmarkError(ErrorCode.INVALID_BENCHMARK, f"rolemap has no role {role!r}")
        index = self.rolemap[role]
        for node in self.nodes:
            if node.get("index") == index:
                address = node.get("address")
                if not address:
                    break
                return str(address)
        raise BenchmarkError(
            ErrorCode.INVALID_BENCHMARK, f"no address for node {index} (role {role}) in nodes"
        )


def load_benchmark(
    doc: Any, suite: str, spec: Mapping[str, Param], roles: Sequence[str] = (DEFAULT_ROLE,)
) -> Benchmark:
    """Validate a parsed benchmark.yaml against the suite's expectations."""

    def invalid(msg: str) -> BenchmarkError:
        return BenchmarkError(ErrorCode.INVALID_BENCHMARK, f"benchmark.yaml: {msg}")

    if not isinstance(doc, dict):
        raise invalid("top level must be a mapping")
    if doc.get("suite") != suite:
        raise invalid(f"suite is {doc.get('suite')!r}, this image runs suite {suite!r}")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise invalid("name must be a non-empty string")
    params = doc.get("params") or {}
    if not isinstance(params, dict):
        raise invalid("params must be a mapping")
    role = doc.get("role") or DEFAULT_ROLE
    if role == "executer" and DEFAULT_ROLE in roles:  # the guide's spelling
        role = DEFAULT_ROLE
    if role not in roles:
        raise invalid(f"role {role!r} is not one of this benchmark's roles {list(roles)}")
    rolemap = doc.get("rolemap") or {}
    if not isinstance(rolemap, dict):
        raise invalid("rolemap must be a mapping")
    nodes = doc.get("nodes") or []
    if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
        raise invalid("nodes must be a list of mappings")
    try:
        rolemap = {str(k): int(v) for k, v in rolemap.items()}
    except (TypeError, ValueError):
        raise invalid("rolemap values must be node indexes") from None
    return Benchmark(
        suite=suite,
        name=name,
        params=validate_params(params, spec),
        raw_params={str(k): str(v) for k, v in params.items()},
        role=str(role),
        roles=list(roles),
        rolemap=rolemap,
        nodes=nodes,
        doc=doc,
        output=SHARE / "output",
    )


# ---------------------------------------------------------------- results.csv


def results_csv(results: Sequence[Result]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    for r in results:
        value = parse_number(r.value)  # refuses NaN/inf before anything is written
        w.writerow((r.name, r.unit, r.improvement, repr(value), 0))
    return buf.getvalue()


def error_csv(code: int) -> str:
    return ",".join(HEADER) + "\n" + f"error,,,,{int(code)}\n"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- running tools


def run_tool(
    argv: Sequence[str],
    log_name: str,
    output: Path | None = None,
    timeout: float | None = None,
    ok_codes: Sequence[int] = (0,),
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a tool in the C locale, save its stdout+stderr to ``output/<log_name>``.

    Returns stdout; raises TOOL_FAILED on a start failure, timeout or bad exit status.
    """
    out_dir = output or SHARE / "output"
    full_env = dict(os.environ, LC_ALL="C", LANG="C")
    full_env.update(env or {})
    log.info("running: %s", " ".join(argv))
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, env=full_env,
            errors="replace",
        )
    except FileNotFoundError:
        raise BenchmarkError(ErrorCode.TOOL_FAILED, f"{argv[0]}: not found in the image") from None
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkError(
            ErrorCode.TOOL_FAILED, f"{argv[0]} did not finish within {exc.timeout:g}s"
        ) from None
    try:
        (out_dir / log_name).write_text(
            f"$ {' '.join(argv)}\n# exit status {proc.returncode}\n--- stdout\n{proc.stdout}"
            f"--- stderr\n{proc.stderr}"
        )
    except OSError as exc:
        log.warning("could not save tool output: %s", exc)
    if proc.returncode not in ok_codes:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-5:]
        raise BenchmarkError(
            ErrorCode.TOOL_FAILED,
            f"{argv[0]} exited with status {proc.returncode}: {' | '.join(tail) or 'no output'}",
        )
    return proc.stdout


def retry_until(
    attempt: Callable[[], Any], seconds: float, interval: float = 0.5, what: str = "peer"
) -> Any:
    """Call ``attempt`` until it does not raise ``ConnectionError``, for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return attempt()
        except ConnectionError as exc:
            if time.monotonic() >= deadline:
                raise BenchmarkError(
                    ErrorCode.PEER_UNREACHABLE, f"{what} not reachable after {seconds:g}s: {exc}"
                ) from None
            time.sleep(interval)


# ---------------------------------------------------------------- entry point


Workload = Callable[[Benchmark], Sequence[Result]]


def _invoke(share: Path, suite: str, spec: Mapping[str, Param], workload: Workload,
            roles: Sequence[str], output: Path) -> tuple[str, int]:
    """The results.csv text of one invocation and its error code; never raises."""
    try:
        try:
            with open(share / "benchmark.yaml") as f:
                doc = yaml.safe_load(f)
        except OSError as exc:
            raise BenchmarkError(
                ErrorCode.INVALID_BENCHMARK, f"cannot read benchmark.yaml: {exc}"
            ) from None
        except yaml.YAMLError as exc:
            raise BenchmarkError(
                ErrorCode.INVALID_BENCHMARK, f"benchmark.yaml is not YAML: {exc}"
            ) from None
        bench = load_benchmark(doc, suite, spec, roles)
        bench.output = output
        log.info("benchmark %s/%s role=%s params=%s", suite, bench.name, bench.role, bench.params)
        results = list(workload(bench))
        text = results_csv(results)
        for r in results:
            log.info("result %s = %r %s (%s is better)", r.name, r.value, r.unit, r.improvement)
        if not results:
            log.info("no results from this role (header-only results.csv)")
    except BenchmarkError as exc:
        log.error("error %d (%s): %s", exc.code, exc.code.name, exc.message)
        return error_csv(exc.code), int(exc.code)
    except ValueError as exc:  # e.g. a non-finite value reaching results_csv
        log.error("error %d (OUTPUT_UNPARSEABLE): %s", ErrorCode.OUTPUT_UNPARSEABLE, exc)
        return error_csv(ErrorCode.OUTPUT_UNPARSEABLE), int(ErrorCode.OUTPUT_UNPARSEABLE)
    except Exception:  # noqa: BLE001 - the contract says: always write results.csv
        log.error("error %d (GENERIC): unexpected failure\n%s", ErrorCode.GENERIC,
                  traceback.format_exc())
        return error_csv(ErrorCode.GENERIC), int(ErrorCode.GENERIC)
    return text, 0


def main(
    suite: str,
    spec: Mapping[str, Param],
    workload: Workload,
    roles: Sequence[str] = (DEFAULT_ROLE,),
    share: Path | None = None,
) -> int:
    """Run one benchmark invocation end to end; returns the process exit status.

    The exit status is the error code written to results.csv (0 on success), so an
    operator running the container by hand sees it too; fastpath itself reads the code
    from results.csv.  If results.csv cannot be written the status is GENERIC (1).
    """
    share = share or SHARE
    output = share / "output"
    results_path = share / "results.csv"
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    try:
        output.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(output / "exec.log"))
    except OSError as exc:
        print(f"fastpath_bench: cannot create {output}: {exc}", file=sys.stderr)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    log.setLevel(logging.INFO)

    try:
        text, code = _invoke(share, suite, spec, workload, roles, output)
        try:
            _write_atomic(results_path, text)
        except OSError as exc:
            log.error("cannot write %s: %s", results_path, exc)
            return int(ErrorCode.GENERIC)
        return code
    finally:
        for h in handlers:
            log.removeHandler(h)
            h.close()
