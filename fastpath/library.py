"""The benchmark library: fragments ``<library>/<suite>/<name>.yaml`` and their lookup.

Libraries are searched in this order: directories given on the command line, the
``global.library`` preference, then the built-in library shipped with fastpath.  Each
fragment is loaded with its includes resolved (``fastpath.plan.load_fragment``), so a
variant shows its inherited image, params and roles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastpath import preferences
from fastpath.errors import InvalidInput, UserError
from fastpath.paths import builtin_library


@dataclass(frozen=True)
class Fragment:
    ref: str  # path inside its library without ".yaml", e.g. "sysbench/cpu-1thread"
    path: Path
    library: Path
    benchmark: dict[str, Any]  # normalised benchmark object

    @property
    def suite_name(self) -> str:
        return f"{self.benchmark['suite']}/{self.benchmark['name']}"


def library_dirs(extra: Sequence[Path] = ()) -> list[Path]:
    """Library directories in search order, without duplicates."""
    out: list[Path] = []
    for d in [*extra, *preferences.library_paths(), builtin_library()]:
        resolved = Path(d).expanduser().resolve()
        if resolved not in out:
            out.append(resolved)
    return out


def _fragment_files(library: Path) -> list[Path]:
    if not library.is_dir():
        return []
    files = [p for p in library.rglob("*.yaml") if p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(library).with_suffix("").as_posix())


def list_fragments(extra: Sequence[Path] = ()) -> tuple[list[Fragment], list[InvalidInput]]:
    """Every fragment of every library, includes resolved; broken ones are returned apart."""
    from fastpath.plan import load_fragment

    dirs = library_dirs(extra)
    for d in extra:
        if not Path(d).expanduser().is_dir():
            raise UserError(f"library directory {d} does not exist",
                            hint="pass an existing directory to --library")
    search = [d for d in dirs if d != builtin_library().resolve()]
    fragments: list[Fragment] = []
    broken: list[InvalidInput] = []
    for library in dirs:
        for path in _fragment_files(library):
            try:
                bench = load_fragment(path, search)
            except InvalidInput as exc:
                broken.append(exc)
                continue
            ref = path.relative_to(library).with_suffix("").as_posix()
            fragments.append(Fragment(ref, path, library, bench))
    return fragments, broken


def find_fragment(name: str, extra: Sequence[Path] = ()) -> Fragment:
    """The fragment called ``name``: a ``suite/name`` of a benchmark, or a fragment path
    inside a library (``suite/file`` with or without ``.yaml``).  First library wins."""
    from fastpath.plan import load_fragment

    dirs = library_dirs(extra)
    search = [d for d in dirs if d != builtin_library().resolve()]
    ref = name[:-5] if name.endswith(".yaml") else name
    for library in dirs:  # a direct file hit is cheap and unambiguous
        path = library / f"{ref}.yaml"
        if path.is_file():
            return Fragment(ref, path, library, load_fragment(path, search))
    fragments, _ = list_fragments(extra)
    for frag in fragments:
        if frag.suite_name == ref:
            return frag
    known = sorted({f.suite_name for f in fragments})
    import difflib

    close = difflib.get_close_matches(ref, known, n=1)
    hint = f"did you mean {close[0]}?" if close else "run 'fastpath benchmark list'"
    raise UserError(f"no benchmark {name!r} in the library", hint=hint)
