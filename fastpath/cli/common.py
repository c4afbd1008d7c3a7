"""Helpers shared by several nouns' commands."""

from __future__ import annotations

from fastpath import preferences
from fastpath.errors import UserError

SET_DEFAULT_STORE = "fastpath preference set --category default --name resultstore URL"


def default_resultstore(hint: str) -> str:
    """The ``default.resultstore`` preference, checked; ``hint`` says what to do if unset."""
    value = preferences.get("default", "resultstore")
    if not value:
        raise UserError("no resultstore given", hint=hint)
    from fastpath.resultstore.url import parse_url

    try:
        parse_url(value)
    except UserError as exc:
        source = preferences.source_of("default", "resultstore")
        raise UserError(f"{exc.message} (from the default.resultstore preference, {source})",
                        hint=f"{exc.hint}; fix it with '{SET_DEFAULT_STORE}'") from None
    return value
