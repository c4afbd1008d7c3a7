"""JSON Schema validation of plans and fragments, turned into located, readable problems."""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path
from typing import Any

from fastpath.errors import Problem
from fastpath.paths import schemas_dir
from fastpath.plan.yamlsrc import JsonPath, Source, display_path, format_path

# Spellings seen in the PDF user guide, mapped to the canonical keys (DESIGN §3).
ALIASES = {
    "sw-profiles": "swprofiles", "sw_profiles": "swprofiles", "key-file": "keyfile",
    "key_file": "keyfile", "sut-class": "sutclass", "sut_class": "sutclass",
    "warmup": "warmups", "bootscrip": "bootscript", "pkg-type": "pkgtype", "git-sha": "gitsha",
    "cmd-line": "cmdline", "role-map": "rolemap", "repeat": "repeats", "session": "sessions",
}

REQUIRED_HINTS = {
    "sut": "describe the system under test: sut: {name: ..., connection: {...}}",
    "swprofiles": "list the software profiles, each with at least a kernel",
    "benchmarks": "list the benchmarks, e.g. '- include: sysbench/cpu.yaml'",
    "kernel": "give the path or URL of the kernel Image or .deb package",
    "name": "give the benchmark a name, or include a library fragment that has one",
    "image": "give the container image, e.g. fastpath/sysbench:1.0, or include a fragment",
    "host": "give the SUT's host name or IP address",
    "method": "use method: SSH",
    "params": "give the SSH parameters: params: {host: ..., user: ..., keyfile: ...}",
    "connection": "give the node's connection: {method: SSH, params: {host: ...}}",
}

_TYPE_NAMES = {
    "object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "true or false", "null": "empty",
}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


@cache
def _validators() -> dict[str, Any]:
    from jsonschema import Draft202012Validator, validators
    from referencing import Registry, Resource

    schemas = {}
    for name in ("plan", "benchmark"):
        with open(schemas_dir() / f"{name}.schema.json", encoding="utf-8") as fh:
            schemas[name] = json.load(fh)
    registry = Registry().with_resources(
        (f"{name}.schema.json", Resource.from_contents(schema))
        for name, schema in schemas.items()
    ).with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    # YAML's 3.0 is a float: JSON Schema would call it an integer, a plan must not.
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _c, x: isinstance(x, int) and not isinstance(x, bool))
    strict = validators.extend(Draft202012Validator, type_checker=checker)
    return {name: strict(schema, registry=registry) for name, schema in schemas.items()}


def _where(src: Source, path: JsonPath, fallback: str) -> str:
    loc = src.locate(path)
    return str(loc) if loc else fallback


def _problems_for(error: Any, src: Source, fallback: str, base: JsonPath) -> list[Problem]:
    path: JsonPath = base + tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    hint = schema.get("x-hint")
    validator = error.validator
    value = error.instance
    if validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        out = []
        extras = [k for k in value if k not in schema.get("properties", {})]
        for key in extras:
            key_path = path + (key,)
            canonical = ALIASES.get(key)
            if canonical is None:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                canonical = close[0] if close else None
            if canonical:
                key_hint = f"did you mean '{canonical}'?"
            else:
                key_hint = f"known keys here: {', '.join(allowed)}"
            loc = src.keys.get(key_path) or src.locate(key_path)
            out.append(Problem(str(loc) if loc else fallback, format_path(key_path),
                               f"unknown key '{key}'", key_hint))
        return out
    if validator == "required":
        missing = [k for k in error.validator_value if k not in value]
        return [Problem(_where(src, path, fallback), format_path(path),
                        f"missing required key '{k}'", REQUIRED_HINTS.get(k))
                for k in missing]
    if validator == "type":
        expected = error.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names if n != "null")
        if "string" in names and isinstance(value, bool | int | float):
            kind = "a boolean" if isinstance(value, bool) else "a number"
            wanted += f" (YAML read it as {kind}: put the value in quotes)"
        return [Problem(_where(src, path, fallback), format_path(path),
                        f"{_show(value)} is not {wanted}", hint)]
    if validator == "pattern":
        what = schema.get("x-what", f"matching {error.validator_value}")
        return [Problem(_where(src, path, fallback), format_path(path),
                        f"{_show(value)} is not {what}", hint)]
    if validator == "enum":
        options = ", ".join(_show(v) for v in error.validator_value if v is not None)
        return [Problem(_where(src, path, fallback), format_path(path),
                        f"{_show(value)} is not one of {options}", hint)]
    if validator in ("minimum", "maximum"):
        word = "less" if validator == "minimum" else "more"
        return [Problem(_where(src, path, fallback), format_path(path),
                        f"{_show(value)} is {word} than {error.validator_value}", hint)]
    if validator == "minItems":
        return [Problem(_where(src, path, fallback), format_path(path),
                        "must not be empty", hint)]
    if validator == "minLength":
        return [Problem(_where(src, path, fallback), format_path(path),
                        "must not be an empty string", hint)]
    if validator == "uniqueItems":
        return [Problem(_where(src, path, fallback), format_path(path),
                        "contains the same entry twice", "remove the duplicate")]
    return [Problem(_where(src, path, fallback), format_path(path), error.message, hint)]


def check(kind: str, data: Any, src: Source, file: Path, base: JsonPath = ()) -> list[Problem]:
    """Validate ``data`` against the ``plan`` or ``benchmark`` schema."""
    validator = _validators()[kind]
    fallback = display_path(file)
    problems: list[Problem] = []
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        problems.extend(_problems_for(error, src, fallback, base))
    return problems


def check_fragment(data: Any, src: Source, file: Path) -> list[Problem]:
    return check("benchmark", data, src, file)
