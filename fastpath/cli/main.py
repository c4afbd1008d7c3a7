"""The ``fastpath`` entry point: global options, lazy nouns, and error → exit-code mapping.

Nouns are loaded only when used so that ``fastpath --help`` imports none of the heavy
libraries (ansible, sqlalchemy, scipy, dash, flask).  A noun whose module is not
present is simply not listed: only working commands are shown.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from dataclasses import dataclass

import click

from fastpath import __version__
from fastpath.errors import EXIT_USAGE, FastpathError, exit_code_for

# noun -> (module, attribute, one-line help shown in the root listing)
NOUNS: dict[str, tuple[str, str, str]] = {
    "plan": ("fastpath.cli.plan", "plan", "Validate, show and execute plans."),
    "result": ("fastpath.cli.result", "result", "List, show and merge resultstore contents."),
    "sut": ("fastpath.cli.sut", "sut", "Inspect a system under test."),
    "benchmark": ("fastpath.cli.benchmark", "benchmark", "Browse the benchmark library."),
    "preference": ("fastpath.cli.preference", "preference", "Get and set user preferences."),
    "dashboard": ("fastpath.cli.dashboard", "dashboard", "Serve the results dashboard."),
    "bisect": ("fastpath.cli.bisect", "bisect", "Bisect a kernel performance regression."),
    "sched": ("fastpath.cli.sched", "sched", "Talk to a fastpath scheduler."),
}


@dataclass
class Globals:
    debug: bool = False
    verbosity: int = 0  # -1 quiet, 0 normal, 1+ verbose


def _available(noun: str) -> bool:
    module = NOUNS[noun][0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in NOUNS if _available(n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in NOUNS or not _available(cmd_name):
            return None
        module_name, attr, _ = NOUNS[cmd_name]
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, NOUNS[n][2]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Nouns"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="fastpath")
@click.option("--debug", is_flag=True, help="Show tracebacks and Ansible output on errors.")
@click.option("-v", "--verbose", count=True, help="More output (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and requested data.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int, quiet: bool) -> None:
    """fastpath: run kernel performance plans on SUTs and analyse the results.

    Commands have the form: fastpath [global options] <noun> <verb> [options]
    """
    verbosity = -1 if quiet else verbose
    ctx.obj = Globals(debug=debug, verbosity=verbosity)
    level = logging.DEBUG if debug or verbosity > 1 else (
        logging.INFO if verbosity == 1 else (logging.ERROR if quiet else logging.WARNING)
    )
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)


def _debug_requested(argv: list[str]) -> bool:
    for arg in argv:
        if arg == "--debug":
            return True
        if not arg.startswith("-"):
            return False
    return False


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every exception is turned into a message and an exit code here."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    try:
        cli.main(args=args, prog_name="fastpath", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        return exit_code_for(KeyboardInterrupt())
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if exc.exit_code == 2 else exc.exit_code
    except FastpathError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        click.echo(f"error: {exc.render()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return exit_code_for(KeyboardInterrupt())
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an unexpected bug: say so, keep the traceback for --debug
        if debug:
            raise
        click.echo(
            f"error: internal error: {type(exc).__name__}: {exc} "
            "(re-run with --debug for a traceback and report it)",
            err=True,
        )
        return exit_code_for(exc)
    return 0


def run() -> None:  # pragma: no cover - console script shim
    sys.exit(main())
