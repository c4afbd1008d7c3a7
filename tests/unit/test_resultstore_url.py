"""Resultstore URLs: accepted forms, rejected forms, passwords never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastpath.errors import UserError
from fastpath.resultstore import open_store, parse_url
from fastpath.resultstore.url import redact


def test_accepted_forms():
    assert parse_url("csv:///data/results").path == Path("/data/results")
    assert parse_url("results/").kind == "csv"
    assert parse_url("results/").path == Path("results/")
    assert parse_url("sqlite:///r.db").path == Path("r.db")
    assert parse_url("sqlite:////abs/r.db").path == Path("/abs/r.db")
    m = parse_url("mysql://fp:s3cr%40t@db.example:3307/results")
    assert (m.kind, m.user, m.password, m.host, m.port, m.database) == (
        "mysql", "fp", "s3cr@t", "db.example", 3307, "results")
    assert parse_url("mysql://fp:pw@db/results").port == 3306


def test_display_never_shows_password():
    url = "mysql://fp:topsecret@db:3306/results"
    assert "topsecret" not in parse_url(url).display
    assert redact(url) == "mysql://fp:***@db:3306/results"


@pytest.mark.parametrize("url, why", [
    ("postgres://fp:topsecret@db/results", "unknown scheme 'postgres'"),
    ("sqlite://r.db", "expected sqlite:///<dbfile>"),
    ("sqlite:///:memory:", "in-memory"),
    ("mysql://fp:topsecret@db:3306/", "database name"),
    ("mysql://fp:topsecret@db:notaport/x", "bad port"),
    ("mysql://:topsecret@db:3306/x", "no user"),
    ("", "empty"),
])
def test_bad_urls(url, why):
    with pytest.raises(UserError) as err:
        parse_url(url)
    text = err.value.render()
    assert why in text
    assert "topsecret" not in text
    assert "csv:///<directory>" in text and "sqlite:///<dbfile>" in text and "mysql://" in text
    assert err.value.exit_code == 2


def test_missing_stores_are_user_errors(tmp_path):
    for url in (str(tmp_path / "nothing"), f"sqlite:///{tmp_path / 'nothing.db'}"):
        with pytest.raises(UserError, match="does not exist"):
            open_store(url, readonly=True)
    assert not (tmp_path / "nothing.db").exists()
    assert not (tmp_path / "nothing").exists()


def test_non_store_directory_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="not a fastpath resultstore"):
        open_store(str(tmp_path), create=True)
