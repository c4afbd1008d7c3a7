"""``fastpath sut ...``: inspect a system under test."""

from __future__ import annotations

import json

import click


@click.group()
def sut() -> None:
    """Inspect a system under test (SUT)."""


@sut.command("fingerprint")
@click.option("--user", "-u", default=None, help="SSH login user (default: SSH's own default).")
@click.option("--port", "-p", type=click.IntRange(1, 65535), default=None,
              help="SSH port (default: SSH's own).")
@click.option("--keyfile", "-k", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Private key for the SSH login.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format.")
@click.argument("host")
def fingerprint_cmd(user: str | None, port: int | None, keyfile: str | None, fmt: str,
                    host: str) -> None:
    """Print every hardware and software detail of HOST, checking the SUT requirements.

    Exits non-zero naming the requirement that is not met: SSH login with a key,
    passwordless sudo, or Docker usable by the user (guide 1.2.2).
    """
    from fastpath.fingerprint import table_rows
    from fastpath.session import fingerprint_host

    fp = fingerprint_host(host, user=user, port=port, keyfile=keyfile)
    if fmt == "json":
        click.echo(json.dumps(fp, indent=2, sort_keys=True))
        return
    from tabulate import tabulate

    click.echo(tabulate(table_rows(fp), headers=["field", "value"], tablefmt="simple"))
