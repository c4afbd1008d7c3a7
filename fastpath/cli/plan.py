"""``fastpath plan show|exec``."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def plan() -> None:
    """Validate, show and execute plans."""


def show_plan(path: Path) -> str:
    """Use case: the normalised plan as YAML text (raises InvalidInput)."""
    from fastpath.plan import load_plan
    from fastpath.plan.dump import dump_yaml

    return dump_yaml(load_plan(path))


@plan.command("show")
@click.argument("plan_file", metavar="PLAN", type=click.Path(path_type=Path))
def show_cmd(plan_file: Path) -> None:
    """Validate PLAN and print it normalised: defaults applied, includes expanded,
    paths absolute.  Every problem is reported at once, with its place."""
    click.echo(show_plan(plan_file), nl=False)
