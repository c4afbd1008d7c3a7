"""``fastpath benchmark list|show``: browse the benchmark library."""

from __future__ import annotations

from pathlib import Path

import click

_LIBRARY = click.option(
    "--library", "libraries", multiple=True, type=click.Path(path_type=Path),
    help="Extra library directory, searched before the global.library preference and the "
         "built-in library (repeatable).",
)


@click.group()
def benchmark() -> None:
    """Browse the benchmark library (fragments that plans can include)."""


def list_table(libraries: tuple[Path, ...] = ()) -> tuple[str, list[str]]:
    """Use case: the library as a text table, plus one message per broken fragment."""
    from tabulate import tabulate

    from fastpath.library import list_fragments

    fragments, broken = list_fragments(libraries)
    rows = []
    for f in fragments:
        b = f.benchmark
        params = " ".join(f"{k}={v}" for k, v in b["params"].items())
        rows.append([f.suite_name, b["type"], b["image"], ",".join(b["roles"]), params])
    table = tabulate(rows, headers=["benchmark", "type", "image", "roles", "params"],
                     tablefmt="simple", disable_numparse=True)
    return table, [e.render() for e in broken]


def show_yaml(name: str, libraries: tuple[Path, ...] = ()) -> str:
    """Use case: one fragment, normalised (includes expanded, defaults filled), as YAML."""
    from fastpath.library import find_fragment
    from fastpath.plan.dump import dump_yaml

    return dump_yaml(find_fragment(name, libraries).benchmark)


@benchmark.command("list")
@_LIBRARY
def list_cmd(libraries: tuple[Path, ...]) -> None:
    """List the library's benchmarks (suite/name, type, image, roles, params), with
    includes resolved.  Broken fragments are reported on stderr (exit status 2)."""
    table, problems = list_table(libraries)
    click.echo(table)
    if problems:
        from fastpath.errors import UserError

        for p in problems:
            click.echo(p, err=True)
        raise UserError(f"{len(problems)} library fragment(s) are invalid (see above)",
                        hint="fix or remove them")


@benchmark.command("show")
@_LIBRARY
@click.argument("name", metavar="SUITE/NAME")
def show_cmd(name: str, libraries: tuple[Path, ...]) -> None:
    """Print one benchmark normalised, as a plan would use it.  SUITE/NAME is a
    benchmark's suite and name, or a fragment path inside a library."""
    click.echo(show_yaml(name, libraries), nl=False)
