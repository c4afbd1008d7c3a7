"""Plans: loading (YAML with positions, includes), validation and normalisation.

``load_plan(path)`` returns the normalised plan as plain dicts or raises
:class:`fastpath.errors.InvalidInput` listing every problem with its place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastpath.errors import InvalidInput, Problem
from fastpath.plan.yamlsrc import display_path


def check_plan_file(path: Path, *, library: list[Path] | None = None,
                    require_connection: bool = True) -> tuple[Any, list[Problem]]:
    """Read + validate; returns (expanded raw plan, problems)."""
    from fastpath.plan.load import read_plan
    from fastpath.plan.schema import check
    from fastpath.plan.semantic import check_plan

    data, src, problems = read_plan(path, library)
    if data is None and problems:
        return None, problems
    if not isinstance(data, dict):
        where = f"{display_path(path)}:1:1"
        return None, [Problem(where, "", "a plan must be a mapping with sut, swprofiles and "
                              "benchmarks", "see docs/examples/tutorial.yaml")]
    # A benchmark whose include failed lacks name/image only because of that failure.
    failed = {p.path.rsplit(".include", 1)[0] for p in problems
              if p.path.endswith(".include")}
    problems += [p for p in check("plan", data, src, path)
                 if not (p.path in failed and p.message.startswith("missing required key"))]
    problems += check_plan(data, src, path, require_connection=require_connection)
    return data, problems


def _sorted(problems: list[Problem]) -> list[Problem]:
    def key(p: Problem) -> tuple[str, int, int, str]:
        parts = p.where.rsplit(":", 2)
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            return (parts[0], int(parts[1]), int(parts[2]), p.path)
        return (p.where, 0, 0, p.path)

    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=key)


def load_plan(path: str | Path, *, library: list[Path] | None = None,
              require_connection: bool = True) -> dict[str, Any]:
    """Load, validate and normalise a plan file."""
    from fastpath.plan.normalise import normalise_plan

    plan_path = Path(path)
    data, problems = check_plan_file(plan_path, library=library,
                                     require_connection=require_connection)
    if problems:
        raise InvalidInput(display_path(plan_path), _sorted(problems))
    return normalise_plan(data, plan_path)


def load_fragment(path: str | Path, search_paths: list[Path] | None = None) -> dict[str, Any]:
    """A library fragment with its includes resolved and defaults applied.

    ``search_paths`` are extra library directories (searched after the fragment's own
    directory and the current directory, before the built-in library).
    """
    from fastpath.plan.load import read_fragment
    from fastpath.plan.model import BENCHMARK_DEFAULTS
    from fastpath.plan.normalise import normalise_benchmark
    from fastpath.plan.schema import check, check_fragment

    frag_path = Path(path)
    data, src, problems = read_fragment(frag_path, search_paths, check_fragment)
    if not problems and isinstance(data, dict):
        problems += check("benchmark", {k: v for k, v in data.items() if k != "include"},
                          src, frag_path)
        missing = [k for k in ("name", "image") if k not in data]
        if missing:
            problems += [Problem(f"{display_path(frag_path)}:1:1", "",
                                 f"missing required key '{k}' after resolving includes")
                         for k in missing]
    if problems:
        raise InvalidInput(display_path(frag_path), _sorted(problems))
    return normalise_benchmark(data, BENCHMARK_DEFAULTS, [None])
