"""User preferences: ``~/fastpathpreferences`` (INI) overridden by ``FASTPATH_<CATEGORY>_<NAME>``.

Precedence (highest first): command-line option (handled by callers) > environment >
preferences file > built-in default.  The file may hold tokens and database passwords,
so it is always written with mode 0600.
"""

from __future__ import annotations

import configparser
import difflib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fastpath.errors import UserError
from fastpath.redact import redact_url


@dataclass(frozen=True)
class Preference:
    category: str
    name: str
    default: str | None
    description: str
    secret: str = ""  # "url": mask a URL's password when shown; "all": mask the whole value

    @property
    def key(self) -> str:
        return f"{self.category}.{self.name}"

    @property
    def env_var(self) -> str:
        return f"FASTPATH_{self.category.upper()}_{self.name.upper()}"


KNOWN: dict[str, Preference] = {
    p.key: p
    for p in (
        Preference(
            "default",
            "resultstore",
            None,
            "Resultstore URL used when a command needs one and none is given.",
            "url",
        ),
        Preference(
            "global",
            "library",
            None,
            "Colon-separated paths of custom benchmark libraries searched for includes.",
        ),
        Preference(
            "global",
            "roles",
            None,
            "Colon-separated paths searched for custom Ansible roles (plan 'setup.roles').",
        ),
        Preference("sched", "url", None, "Scheduler base URL, e.g. http://127.0.0.1:5000.",
                   "url"),
        Preference("sched", "token", None, "Scheduler bearer token.", "all"),
    )
}


def preferences_file() -> Path:
    return Path.home() / "fastpathpreferences"


def lookup(category: str, name: str) -> Preference:
    key = f"{category}.{name}"
    pref = KNOWN.get(key)
    if pref is None:
        known = ", ".join(sorted(KNOWN))
        close = difflib.get_close_matches(key, list(KNOWN), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UserError(
            f"unknown preference '{key}'",
            hint=f"{hint}known preferences: {known}",
        )
    return pref


def _read_file(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    hint = "fix or delete the file; it is an INI file with one [category] per section"
    if path.is_dir():
        raise UserError("the preferences file is a directory", where=str(path), hint=hint)
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
            parser.read_string(text, source=path.name)
        except UnicodeDecodeError as exc:
            raise UserError("the preferences file is not UTF-8 text", where=str(path),
                            hint=hint) from exc
        except configparser.Error as exc:
            what = getattr(exc, "message", str(exc)).splitlines()[0]
            line = getattr(exc, "lineno", None)
            where = f"{path}:{line}" if line else str(path)
            raise UserError(f"cannot parse the preferences file ({type(exc).__name__}: "
                            f"{what})", where=where, hint=hint) from exc
        except OSError as exc:
            raise UserError(f"cannot read the preferences file: {exc.strerror}",
                            where=str(path), hint=hint) from exc
    return parser


def get(category: str, name: str) -> str | None:
    """The effective value: environment, then file, then built-in default."""
    pref = lookup(category, name)
    env = os.environ.get(pref.env_var)
    if env is not None and env != "":
        return env
    parser = _read_file(preferences_file())
    if parser.has_option(category, name):
        return parser.get(category, name)
    return pref.default


def source_of(category: str, name: str) -> str:
    pref = lookup(category, name)
    if os.environ.get(pref.env_var):
        return f"environment {pref.env_var}"
    if _read_file(preferences_file()).has_option(category, name):
        return str(preferences_file())
    return "default"


def set_value(category: str, name: str, value: str) -> None:
    """Write one preference to the file atomically with mode 0600."""
    lookup(category, name)
    if "\n" in value or "\r" in value:
        raise UserError(f"the value of {category}.{name} contains a line break",
                        hint="give the value on one line")
    path = preferences_file()
    parser = _read_file(path)
    if not parser.has_section(category):
        parser.add_section(category)
    parser.set(category, name, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fastpathpreferences.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            parser.write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)


def library_paths() -> list[Path]:
    value = get("global", "library")
    if not value:
        return []
    return [Path(p).expanduser() for p in value.split(":") if p]


def roles_paths() -> list[Path]:
    value = get("global", "roles")
    if not value:
        return []
    return [Path(p).expanduser() for p in value.split(":") if p]


def shown(category: str, name: str, value: str | None) -> str | None:
    """``value`` as it may be printed: passwords and tokens masked."""
    secret = lookup(category, name).secret
    if value is None or not secret:
        return value
    return "***" if secret == "all" else redact_url(value)
