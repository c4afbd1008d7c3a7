"""YAML loading that remembers where every value came from.

fastpath reads YAML 1.2 (core schema): ``on``/``yes`` are strings, not booleans.  Every
node's position is kept so that errors can name ``file:line:col``, and every scalar's
literal source text is kept so that benchmark ``params`` stay exactly as written
(``ver: 1.10`` is ``"1.10"``, never ``1.1``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fastpath.errors import Problem

JsonPath = tuple[str | int, ...]

MAX_BYTES = 4 * 1024 * 1024  # a plan or fragment larger than this is a mistake
MAX_NODES = 200_000  # bounds alias expansion ("billion laughs")

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_BOOL_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT10 = re.compile(r"^[-+]?[0-9]+$")
_INT8 = re.compile(r"^0o[0-7]+$")
_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


def resolve_plain(text: str) -> Any:
    """Resolve a plain (unquoted) scalar with the YAML 1.2 core schema."""
    if _NULL.match(text):
        return None
    if _BOOL_TRUE.match(text):
        return True
    if _BOOL_FALSE.match(text):
        return False
    if _INT10.match(text):
        return int(text)
    if _INT8.match(text):
        return int(text[2:], 8)
    if _INT16.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


@dataclass(frozen=True)
class Loc:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


def display_path(path: Path) -> str:
    """A path as users want to read it in messages: relative to cwd when below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


@dataclass
class Source:
    """Positions of values/keys and literal scalar text, by JSON path."""

    values: dict[JsonPath, Loc] = field(default_factory=dict)
    keys: dict[JsonPath, Loc] = field(default_factory=dict)
    raw: dict[JsonPath, str] = field(default_factory=dict)

    def graft(self, other: Source, at: JsonPath, *, overwrite: bool = True) -> None:
        """Copy ``other``'s entries (relative to its root) under path ``at``."""
        for mine, theirs in ((self.values, other.values), (self.keys, other.keys),
                             (self.raw, other.raw)):
            for path, loc in theirs.items():
                full = at + path
                if overwrite or full not in mine:
                    mine[full] = loc  # type: ignore[assignment]

    def locate(self, path: JsonPath) -> Loc | None:
        """The position of a value, else of its key, else of its nearest ancestor."""
        probe = tuple(path)
        while True:
            if probe in self.values:
                return self.values[probe]
            if probe in self.keys:
                return self.keys[probe]
            if not probe:
                return None
            probe = probe[:-1]


def format_path(path: JsonPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class YamlLoadError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(problem.render())
        self.problem = problem


def _mark_loc(file: str, mark: Any) -> Loc:
    return Loc(file, mark.line + 1, mark.column + 1)


def load_yaml(path: Path) -> tuple[Any, Source]:
    """Load one YAML document; raise :class:`YamlLoadError` with a located problem."""
    shown = display_path(path)
    try:
        if path.is_dir():
            raise YamlLoadError(Problem(shown, "", "is a directory, not a YAML file",
                                        "give the path of a .yaml file"))
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise YamlLoadError(Problem(shown, "", f"file is larger than {MAX_BYTES} bytes",
                                        "plans and fragments are small text files"))
        text = data.decode("utf-8")
    except FileNotFoundError as exc:
        raise YamlLoadError(Problem("", "", f"file {shown} does not exist")) from exc
    except UnicodeDecodeError as exc:
        raise YamlLoadError(Problem(shown, "", f"is not UTF-8 text (byte {exc.start})",
                                    "save the file as UTF-8")) from exc
    except OSError as exc:
        raise YamlLoadError(Problem(shown, "", f"cannot read the file: {exc.strerror}")) from exc
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = str(_mark_loc(shown, mark)) if mark else shown
        what = exc.problem or "invalid YAML"
        raise YamlLoadError(
            Problem(where, "", f"YAML syntax error: {what}",
                    "check indentation and quoting around this position")
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlLoadError(Problem(shown, "", f"YAML error: {exc}")) from exc
    if len(nodes) > 1:
        raise YamlLoadError(
            Problem(str(_mark_loc(shown, nodes[1].start_mark)), "",
                    "more than one YAML document", "keep a single document per file")
        )
    source = Source()
    if not nodes or nodes[0] is None:
        return None, source
    problems: list[Problem] = []
    budget = [MAX_NODES]
    try:
        value = _build(nodes[0], (), shown, source, problems, budget)
    except _TooBig:
        raise YamlLoadError(Problem(shown, "", f"expands to more than {MAX_NODES} values "
                                    "(YAML aliases)", "write the values out")) from None
    if problems:
        raise YamlLoadError(problems[0])
    return value, source


class _TooBig(Exception):
    pass


def _build(node: yaml.Node, path: JsonPath, file: str, src: Source, problems: list[Problem],
           budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig
    src.values[path] = _mark_loc(file, node.start_mark)
    if isinstance(node, yaml.ScalarNode):
        src.raw[path] = node.value
        # Plain scalars follow the YAML 1.2 core schema; quoted and block scalars are text.
        return resolve_plain(node.value) if node.style is None else node.value
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, path + (i,), file, src, problems, budget)
                for i, child in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                problems.append(Problem(str(_mark_loc(file, key_node.start_mark)),
                                        format_path(path), "YAML merge keys (<<) are not supported",
                                        "write the keys out or use include"))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(str(_mark_loc(file, key_node.start_mark)),
                                        format_path(path), "mapping keys must be plain strings"))
                continue
            key = key_node.value
            if key in out:
                problems.append(Problem(str(_mark_loc(file, key_node.start_mark)),
                                        format_path(path + (key,)), f"duplicate key '{key}'",
                                        "remove one of the two entries"))
                continue
            src.keys[path + (key,)] = _mark_loc(file, key_node.start_mark)
            out[key] = _build(value_node, path + (key,), file, src, problems, budget)
        return out
    return None  # pragma: no cover - no other node kinds exist
