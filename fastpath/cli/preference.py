"""``fastpath preference get|set|list``."""

from __future__ import annotations

import click

from fastpath import preferences


def _line(category: str, name: str, value: str | None, *, reveal: bool = False) -> str:
    if not reveal:
        value = preferences.shown(category, name, value)
    return f"{category}.{name}: {'<None>' if value is None else value}"


@click.group()
def preference() -> None:
    """Get and set user preferences (~/fastpathpreferences, FASTPATH_<CATEGORY>_<NAME>)."""


@preference.command("get")
@click.option("--category", required=True, help="Preference category, e.g. default.")
@click.option("--name", required=True, help="Preference name, e.g. resultstore.")
@click.option("--reveal", is_flag=True,
              help="Print passwords and tokens instead of masking them with ***.")
def get_cmd(category: str, name: str, reveal: bool) -> None:
    """Print the effective value of one preference (secrets masked unless --reveal)."""
    click.echo(_line(category, name, preferences.get(category, name), reveal=reveal))


@preference.command("set")
@click.option("--category", required=True, help="Preference category, e.g. default.")
@click.option("--name", required=True, help="Preference name, e.g. resultstore.")
@click.argument("value")
def set_cmd(category: str, name: str, value: str) -> None:
    """Store VALUE in ~/fastpathpreferences (mode 0600)."""
    preferences.set_value(category, name, value)
    click.echo(_line(category, name, preferences.get(category, name)))


@preference.command("list")
def list_cmd() -> None:
    """Print every known preference, its effective value and where it comes from."""
    for pref in preferences.KNOWN.values():
        value = preferences.get(pref.category, pref.name)
        source = preferences.source_of(pref.category, pref.name)
        click.echo(f"{_line(pref.category, pref.name, value)}  ({source}) - {pref.description}")
