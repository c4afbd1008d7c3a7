"""Keep secrets out of output: passwords in URLs, tokens."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^@]*@")


def redact_url(url: str) -> str:
    """Mask the password of ``scheme://user:password@host``."""
    return _URL_PASSWORD.sub(r"\1:***@", url)
