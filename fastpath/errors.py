"""Every error fastpath reports, and the one place that maps them to exit codes.

A :class:`UserError` is bad input (plan, CLI option, resultstore URL, CSV file...):
exit code 2.  An :class:`InfraError` is a runtime/infrastructure failure (SSH,
Ansible, a database server that went away...): exit code 1.  Messages are one clear
sentence; ``where`` names the place (``file:line:col`` or a JSON path) and ``hint``
says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_INFRA = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class FastpathError(Exception):
    """Base class; never raised directly."""

    exit_code = EXIT_INFRA

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def render(self) -> str:
        text = self.message
        if self.where:
            text = f"{self.where}: {text}"
        if self.hint:
            text = f"{text} — {self.hint}"
        return text


class UserError(FastpathError):
    """Bad input from the user: exit code 2, nothing written."""

    exit_code = EXIT_USAGE


class InfraError(FastpathError):
    """The environment failed (SSH, Ansible, database, SUT): exit code 1."""

    exit_code = EXIT_INFRA


@dataclass(frozen=True)
class Problem:
    """One problem found in an input document (e.g. a plan)."""

    where: str  # "demo.yaml:14:14" or "" when no position is known
    path: str  # JSON path like "benchmarks[1].timeout", "" for the document root
    message: str
    hint: str | None = None

    def render(self) -> str:
        parts = [p for p in (self.where, self.path) if p]
        text = ": ".join([*parts, self.message])
        if self.hint:
            text = f"{text} — {self.hint}"
        return text


class InvalidInput(UserError):
    """A document with one or more problems, all reported at once."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source} has {count} {noun}")

    def render(self) -> str:
        lines = [f"{self.message}:"]
        lines += [f"  {p.render()}" for p in self.problems]
        return "\n".join(lines)


def exit_code_for(exc: BaseException) -> int:
    """The single mapping from exceptions to process exit codes."""
    if isinstance(exc, FastpathError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_INFRA
