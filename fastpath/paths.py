"""Where fastpath's shipped data lives (schemas, benchmark library, playbooks, roles...).

In a wheel the data trees are inside the package (``fastpath/_data``); in a source
checkout or editable install they are at the repository top level.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def data_root() -> Path:
    """Directory holding ``schemas/``, ``benchmarks/``, ``playbooks/``, ``roles/``..."""
    bundled = _PACKAGE_DIR / "_data"
    if (bundled / "schemas").is_dir():
        return bundled
    return _PACKAGE_DIR.parent


def schemas_dir() -> Path:
    return data_root() / "schemas"


def builtin_library() -> Path:
    return data_root() / "benchmarks"


def playbooks_dir() -> Path:
    return data_root() / "playbooks"


def roles_dir() -> Path:
    return data_root() / "roles"


def containers_dir() -> Path:
    return data_root() / "containers"


def ansible_cfg() -> Path:
    return data_root() / "ansible.cfg"


def examples_dir() -> Path:
    bundled = data_root() / "examples"
    return bundled if bundled.is_dir() else data_root() / "docs" / "examples"


def cache_dir() -> Path:
    """Per-user cache (VM images, built artefacts); ``FASTPATH_CACHE_DIR`` overrides."""
    override = os.environ.get("FASTPATH_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fastpath"
