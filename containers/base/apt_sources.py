#!/usr/bin/env python3
"""Print the Debian bookworm apt sources this host uses, as one-line ``deb`` entries.

Reads /etc/apt/sources.list and /etc/apt/sources.list.d/*.list|*.sources (one-line and
deb822 formats) and keeps the entries whose suites are all ``bookworm`` or
``bookworm-*`` with a ``main`` component, so the base image uses exactly the mirror the
host's apt uses.  ``--mirror`` prints only the URI of the main (non-security) archive,
for debootstrap.  Usage: apt_sources.py [--root DIR] [--mirror]
"""

from __future__ import annotations

import sys
from pathlib import Path


def _deb822(text: str) -> list[tuple[str, list[str], list[str]]]:
    out = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
            continue
        for uri in fields.get("uris", "").split():
            suites = fields.get("suites", "").split()
            out.append((uri, suites, fields.get("components", "").split()))
    return out


def _oneline(text: str) -> list[tuple[str, list[str], list[str]]]:
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):  # options like [signed-by=...]
            while words and not words[0].endswith("]"):
                words.pop(0)
            words = words[1:]
        if len(words) >= 3:
            out.append((words[0], [words[1]], words[2:]))
    return out


def bookworm_sources(root: Path) -> list[tuple[str, list[str], list[str]]]:
    etc = root / "etc/apt"
    files = [etc / "sources.list"] + sorted((etc / "sources.list.d").glob("*"))
    entries = []
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            entries += _deb822(text)
        elif path.suffix == ".list":
            entries += _oneline(text)
    keep = []
    for uri, suites, comps in entries:
        debian = all(s == "bookworm" or s.startswith("bookworm-") for s in suites)
        if suites and debian and "main" in comps:
            keep.append((uri, suites, ["main"]))
    return keep


def main(argv: list[str]) -> int:
    root = Path("/")
    if "--root" in argv:
        root = Path(argv[argv.index("--root") + 1])
    entries = bookworm_sources(root)
    if not entries:
        print("apt_sources: no Debian bookworm source found in /etc/apt", file=sys.stderr)
        return 1
    if "--mirror" in argv:
        for uri, suites, _ in entries:
            if "bookworm" in suites:
                print(uri)
                return 0
        print("apt_sources: no source carries the 'bookworm' suite", file=sys.stderr)
        return 1
    for uri, suites, comps in entries:
        for suite in suites:
            print(f"deb {uri} {suite} {' '.join(comps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
