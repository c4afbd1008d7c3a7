"""results.csv of one container run -> ResultRow / ErrorRow (guide §1.3.1 container contract).

A container writes ``/fastpath-share/results.csv`` with the columns ``name``, ``unit``,
``improvement`` (``bigger``|``smaller``), ``value`` and ``error`` (0 = ok).  One
invocation yields either results or exactly one error (guide §1.2.10, ERROR table).  A
header-only file is valid (no results: e.g. the server role of a client/server benchmark);
the session runner records ``RESULTS_MISSING`` when no role of an iteration reported any.

:func:`classify` turns everything known about one container run (timeout, OOM kill, exit
code, the CSV) into that outcome, with a distinct :class:`ErrorCode` per failure and a
message for the run log.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fastpath.records import ErrorCode, ErrorRow, ResultRow

REQUIRED_COLUMNS = ("name", "unit", "improvement", "value", "error")
IMPROVEMENTS = ("bigger", "smaller")
CONTAINER_CODES = range(1, 100)


@dataclass
class Parsed:
    """Results of one container run, or the single error it produced."""

    results: list[ResultRow] = field(default_factory=list)
    error: ErrorRow | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Bad(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    if not text.strip():
        raise _Bad(ErrorCode.RESULTS_MALFORMED, "results.csv is empty")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        table = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise _Bad(ErrorCode.RESULTS_MALFORMED, f"results.csv is not valid CSV: {exc}") from exc
    header = [h.strip().lower() for h in table[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise _Bad(ErrorCode.RESULTS_MALFORMED,
                   f"results.csv header lacks column(s) {', '.join(missing)} "
                   f"(header: {','.join(table[0])}; needs {','.join(REQUIRED_COLUMNS)})")
    if len(set(header)) != len(header):
        raise _Bad(ErrorCode.RESULTS_MALFORMED, "results.csv header repeats a column")
    rows = []
    for lineno, raw in enumerate(table[1:], start=2):
        if len(raw) != len(header):
            raise _Bad(ErrorCode.RESULTS_MALFORMED,
                       f"results.csv row {lineno} has {len(raw)} fields, header has "
                       f"{len(header)}")
        rows.append({h: v.strip() for h, v in zip(header, raw, strict=True)} |
                    {"__line__": str(lineno)})
    return header, rows


def _error_code(row: dict[str, str]) -> int:
    text = row["error"] or "0"
    try:
        code = int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            f = math.nan
        if not f.is_integer():
            raise _Bad(ErrorCode.RESULTS_MALFORMED,
                       f"results.csv row {row['__line__']}: error '{text}' is not an "
                       f"integer") from None
        code = int(f)
    return code


def parse_text(text: str, *, timestamp: datetime, session_uuid: str,
               role: str = "executor") -> Parsed:
    """Parse and validate results.csv text (no exceptions: problems become the error)."""

    def err(code: int, message: str) -> Parsed:
        return Parsed(error=ErrorRow(code=int(code), timestamp=timestamp,
                                     session_uuid=session_uuid, role=role, message=message))

    try:
        _header, rows = _rows(text)
        # The container's own error code wins over anything else in the file.
        for row in rows:
            code = _error_code(row)
            if code != 0:
                if code not in CONTAINER_CODES:
                    return err(ErrorCode.RESULTS_MALFORMED,
                               f"results.csv row {row['__line__']}: error code {code} is "
                               f"outside the containers' range 1..99")
                detail = f" ({row['name']})" if row.get("name") else ""
                return err(code, f"the container reported error {code}{detail}")
        results = []
        for row in rows:
            line = row["__line__"]
            if not row["name"]:
                raise _Bad(ErrorCode.RESULTS_MALFORMED, f"results.csv row {line}: empty name")
            imp = row["improvement"].lower()
            if imp not in IMPROVEMENTS:
                raise _Bad(ErrorCode.RESULTS_MALFORMED,
                           f"results.csv row {line}: improvement '{row['improvement']}' is "
                           f"not bigger or smaller")
            try:
                value = float(row["value"])
            except ValueError:
                raise _Bad(ErrorCode.RESULTS_MALFORMED,
                           f"results.csv row {line}: value '{row['value']}' is not a "
                           f"number") from None
            if not math.isfinite(value):
                raise _Bad(ErrorCode.VALUE_NOT_FINITE,
                           f"results.csv row {line}: value '{row['value']}' of "
                           f"{row['name']} is not finite")
            results.append(ResultRow(resultclass=row["name"], unit=row["unit"],
                                     improvement=imp, value=value, timestamp=timestamp,
                                     session_uuid=session_uuid, role=role))
        return Parsed(results=results)
    except _Bad as bad:
        return err(bad.code, bad.message)


def classify(status: dict, csv_path: Path | None, *, timestamp: datetime,
             session_uuid: str, role: str = "executor", timeout_s: int | None = None) -> Parsed:
    """Outcome of one container run from its status record and (maybe) results.csv.

    ``status`` is what the SUT-side runner recorded: ``exit_code``, ``timed_out``,
    ``oom_killed``, ``docker_log_tail``.  Precedence: timeout, OOM kill, the container's
    own error code, non-zero exit, missing results.csv, malformed/non-finite CSV.
    """

    def err(code: int, message: str) -> Parsed:
        return Parsed(error=ErrorRow(code=int(code), timestamp=timestamp,
                                     session_uuid=session_uuid, role=role, message=message))

    if status.get("timed_out"):
        limit = f" of {timeout_s}s" if timeout_s else ""
        return err(ErrorCode.TIMEOUT, f"container killed after the timeout{limit}")
    if status.get("oom_killed"):
        return err(ErrorCode.OOM_KILLED, "the kernel OOM-killed the container")
    parsed: Parsed | None = None
    if csv_path is not None and csv_path.is_file():
        text = csv_path.read_text(encoding="utf-8", errors="replace")
        parsed = parse_text(text, timestamp=timestamp, session_uuid=session_uuid, role=role)
        if parsed.error is not None and parsed.error.code in CONTAINER_CODES:
            return parsed
    exit_code = status.get("exit_code", 0)
    if exit_code not in (0, None):
        tail = (status.get("docker_log_tail") or "").strip().splitlines()
        last = f": {tail[-1]}" if tail else ""
        return err(ErrorCode.CONTAINER_EXIT, f"container exited with code {exit_code}{last}")
    if parsed is None:
        return err(ErrorCode.RESULTS_MISSING, "the container wrote no results.csv")
    return parsed
