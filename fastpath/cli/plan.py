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


def _store_and_run_dir(plan_file: Path, output: Path | None, resultstore: str | None,
                       run_dir: Path | None) -> tuple[str, Path]:
    from fastpath.cli.common import SET_DEFAULT_STORE, default_resultstore
    from fastpath.errors import UserError

    if output is not None and resultstore is not None:
        raise UserError("give either --output or --resultstore, not both",
                        hint="--output DIR writes a CSV resultstore into DIR")
    if output is not None:
        out = output.expanduser().resolve()
        return f"csv://{out}", run_dir or out / "run"
    url = resultstore or default_resultstore(
        f"use --output DIR, --resultstore URL, or set the preference: {SET_DEFAULT_STORE}")
    default_run = Path.cwd() / "fastpath-runs" / plan_file.stem
    return url, (run_dir or default_run).expanduser().resolve()


@plan.command("exec")
@click.option("--output", type=click.Path(path_type=Path, file_okay=False),
              help="Directory for a CSV resultstore of this run (its run directory is "
                   "DIR/run).  Running again with the same DIR resumes an interrupted run.")
@click.option("--resultstore", metavar="URL",
              help="Publish into this resultstore (csv:///dir, sqlite:///file.db, "
                   "mysql://user:pw@host:port/db).  Default: the default.resultstore "
                   "preference.")
@click.option("--run-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Run directory (state, logs, artifacts).  Default: DIR/run with --output, "
                   "else ./fastpath-runs/<plan name>.  An unfinished run there is resumed.")
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
@click.argument("plan_file", metavar="PLAN", type=click.Path(path_type=Path))
@click.pass_obj
def exec_cmd(g, output: Path | None, resultstore: str | None, run_dir: Path | None,
             no_progress: bool, plan_file: Path) -> None:
    """Execute PLAN on its SUT: install each swprofile's kernel, reboot into it, run the
    benchmarks (warm-ups, repeats, sessions) and store every result.

    Interrupt it (Ctrl-C) and run the same command again to resume from the first
    unfinished run.
    """
    from fastpath.orchestrate import execute_plan

    store_url, rdir = _store_and_run_dir(plan_file, output, resultstore, run_dir)
    quiet = g is not None and g.verbosity < 0
    bar = None

    def on_start(total: int, done: int, resumed: bool) -> None:
        nonlocal bar
        if not quiet:
            verb = "Resuming" if resumed else "Executing"
            click.echo(f"{verb} {plan_file}..." + (f" ({done}/{total} runs already done)"
                                                  if resumed else ""), err=True)
        if not no_progress and not quiet:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=done, dynamic_ncols=True)

    def on_progress(n: int) -> None:
        if bar is not None:
            bar.update(n)

    try:
        summary = execute_plan(plan_file, store_url=store_url, run_dir=rdir,
                               on_start=on_start, on_progress=on_progress)
    finally:
        if bar is not None:
            bar.close()
    if not quiet:
        from fastpath.resultstore import parse_url

        shown = str(output) if output is not None else parse_url(store_url).display
        click.echo(f"Done: {summary.results} results and {summary.errors} errors stored in "
                   f"{shown}; run directory {rdir}", err=True)
        for name, why in summary.failed_profiles.items():
            click.echo(f"  swprofile {name} failed: {why}", err=True)
        click.echo(f"See them with: fastpath result show {shown}", err=True)
