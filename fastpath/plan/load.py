"""Reading plans and benchmark fragments: YAML with positions, includes, literal params.

Includes are searched in the including file's directory, the current directory, each
``global.library`` path, then the built-in library.  The including mapping overrides the
included one; ``params`` are merged key by key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastpath import preferences
from fastpath.errors import Problem
from fastpath.paths import builtin_library
from fastpath.plan.yamlsrc import (
    JsonPath,
    Source,
    YamlLoadError,
    display_path,
    format_path,
    load_yaml,
)


def search_paths(including_dir: Path, library: list[Path] | None = None) -> list[Path]:
    libs = preferences.library_paths() if library is None else library
    paths = [including_dir, Path.cwd(), *libs, builtin_library()]
    seen: list[Path] = []
    for p in paths:
        resolved = p.expanduser().resolve()
        if resolved not in seen:
            seen.append(resolved)
    return seen


def _where(src: Source, path: JsonPath) -> str:
    loc = src.locate(path)
    return str(loc) if loc else ""


def literalise_params(obj: dict[str, Any], src: Source, at: JsonPath,
                      problems: list[Problem], shown_at: JsonPath = ()) -> None:
    """Replace every ``params`` value by its literal source text (always a string).
    ``at`` is the object's path in ``src``; ``shown_at`` its path in messages."""
    params = obj.get("params")
    if params is None and "params" in obj:
        obj["params"] = {}
        return
    if not isinstance(params, dict):
        return  # the schema reports the wrong type
    for key, value in list(params.items()):
        path = at + ("params", key)
        if isinstance(value, dict | list):
            problems.append(Problem(_where(src, path),
                                    format_path(shown_at + ("params", key)),
                                    "params values must be strings, not nested maps or lists",
                                    "flatten it into one string value, e.g. 'a,b,c'"))
            del params[key]
            continue
        params[key] = src.raw.get(path, "" if value is None else str(value))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if key == "include":
            continue
        if key == "params" and isinstance(value, dict) and isinstance(merged.get("params"), dict):
            merged["params"] = {**merged["params"], **value}
        else:
            merged[key] = value
    return merged


def sub_source(src: Source, at: JsonPath) -> Source:
    """The part of ``src`` below ``at``, with paths made relative to ``at``."""
    out = Source()
    for name in ("values", "keys", "raw"):
        table, dest = getattr(src, name), getattr(out, name)
        for path, item in table.items():
            if path[: len(at)] == at:
                dest[path[len(at):]] = item
    return out


def expand(obj: Any, src: Source, file: Path, chain: tuple[Path, ...],
           library: list[Path] | None, problems: list[Problem], *,
           validate_fragment: Any = None, at: JsonPath = ()) -> tuple[Any, Source]:
    """Resolve ``obj``'s include chain.  ``src`` holds positions relative to ``obj``;
    ``at`` is only used to name paths in messages.  When ``validate_fragment`` is given,
    ``obj`` is a fragment file's root and is validated on its own before merging."""
    if not isinstance(obj, dict):
        return obj, src
    literalise_params(obj, src, (), problems, at)
    if validate_fragment is not None:
        problems.extend(validate_fragment(obj, src, file))
    include = obj.get("include")
    if not isinstance(include, str) or not include:
        return obj, src  # no include (or a wrong type, which the schema reports)
    where = _where(src, ("include",))
    candidates = [d / include for d in search_paths(file.parent, library)]
    target = next((c for c in candidates if c.is_file()), None)
    if target is None:
        searched = ", ".join(display_path(c.parent) for c in candidates)
        problems.append(Problem(where, format_path(at + ("include",)),
                                f"include '{include}' not found",
                                f"searched {searched}; fix the name or add its library to "
                                "the global.library preference"))
        return obj, src
    target = target.resolve()
    if target in chain:
        names = " -> ".join(display_path(p) for p in (*chain, target))
        problems.append(Problem(where, format_path(at + ("include",)),
                                f"include cycle: {names}", "remove one of these includes"))
        return obj, src
    try:
        frag, frag_src = load_yaml(target)
    except YamlLoadError as exc:
        problems.append(exc.problem)
        return obj, src
    if not isinstance(frag, dict):
        problems.append(Problem(f"{display_path(target)}:1:1", "",
                                "a benchmark fragment must be a mapping of benchmark keys",
                                f"included from {where or display_path(file)}"))
        return obj, src
    inner, inner_src = expand(frag, frag_src, target, (*chain, target), library, problems,
                              validate_fragment=validate_fragment or _no_check, at=())
    merged = _merge(inner, obj)
    merged_src = Source()
    merged_src.graft(inner_src, ())
    own = Source()
    for name in ("values", "keys", "raw"):
        table, dest = getattr(src, name), getattr(own, name)
        for path, item in table.items():
            if path and path[0] != "include":
                dest[path] = item
    merged_src.graft(own, ())
    if () in src.values:
        merged_src.values[()] = src.values[()]
    return merged, merged_src


def _no_check(obj: Any, src: Source, file: Path) -> list[Problem]:
    return []


def read_plan(path: Path, library: list[Path] | None = None) -> tuple[Any, Source, list[Problem]]:
    """Load a plan file and expand its benchmark includes.  Never raises for plan
    content: every problem is returned (a YAML syntax error is the only problem then)."""
    try:
        data, src = load_yaml(path)
    except YamlLoadError as exc:
        return None, Source(), [exc.problem]
    problems: list[Problem] = []
    plan_file = path.resolve()
    if isinstance(data, dict) and isinstance(data.get("benchmarks"), list):
        for i, bench in enumerate(data["benchmarks"]):
            at: JsonPath = ("benchmarks", i)
            bench_src = sub_source(src, at)
            merged, merged_src = expand(bench, bench_src, plan_file, (plan_file,), library,
                                        problems, at=at)
            data["benchmarks"][i] = merged
            for name in ("values", "keys", "raw"):
                table = getattr(src, name)
                for p in [p for p in table if p[:2] == at]:
                    del table[p]
            src.graft(merged_src, at)
            if at not in src.values and at in bench_src.values:
                src.values[at] = bench_src.values[()]
    return data, src, problems


def read_fragment(path: Path, library: list[Path] | None = None,
                  validate_fragment: Any = None) -> tuple[Any, Source, list[Problem]]:
    """Load one library fragment (a file) with its includes resolved."""
    try:
        data, src = load_yaml(path)
    except YamlLoadError as exc:
        return None, Source(), [exc.problem]
    if not isinstance(data, dict):
        return data, src, [Problem(f"{display_path(path)}:1:1", "",
                                   "a benchmark fragment must be a mapping of benchmark keys")]
    problems: list[Problem] = []
    resolved = path.resolve()
    merged, merged_src = expand(data, src, resolved, (resolved,), library, problems,
                                validate_fragment=validate_fragment or _no_check)
    return merged, merged_src, problems
