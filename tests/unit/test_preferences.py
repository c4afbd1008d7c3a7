"""Preferences: file mode, precedence, unknown names, output format."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from fastpath import preferences
from fastpath.cli.main import main


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    for pref in preferences.KNOWN.values():
        monkeypatch.delenv(pref.env_var, raising=False)
    return tmp_path


def test_set_creates_file_with_mode_0600(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "mysql://fpuser:MyPassword@my.sql.server.com/fastpath-db"
    assert main(["preference", "set", "--category", "default", "--name", "resultstore",
                 url]) == 0
    assert capsys.readouterr().out == (
        "default.resultstore: mysql://fpuser:***@my.sql.server.com/fastpath-db\n")
    path = home / "fastpathpreferences"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert main(["preference", "get", "--category", "default", "--name", "resultstore",
                 "--reveal"]) == 0
    assert capsys.readouterr().out == f"default.resultstore: {url}\n"


def test_existing_file_mode_is_tightened(home: Path) -> None:
    path = home / "fastpathpreferences"
    path.write_text("[sched]\nurl = http://a\n")
    path.chmod(0o644)
    preferences.set_value("sched", "token", "secret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert preferences.get("sched", "url") == "http://a"
    assert preferences.get("sched", "token") == "secret"


def test_environment_overrides_file(home: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    preferences.set_value("global", "library", "/from/file")
    assert preferences.get("global", "library") == "/from/file"
    monkeypatch.setenv("FASTPATH_GLOBAL_LIBRARY", "/from/env:/second")
    assert preferences.get("global", "library") == "/from/env:/second"
    assert preferences.library_paths() == [Path("/from/env"), Path("/second")]
    assert main(["preference", "get", "--category", "global", "--name", "library"]) == 0
    assert capsys.readouterr().out == "global.library: /from/env:/second\n"


def test_unset_preference_prints_none(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preference", "get", "--category", "sched", "--name", "url"]) == 0
    assert capsys.readouterr().out == "sched.url: <None>\n"


def test_unknown_preference_lists_known_ones(home: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preference", "set", "--category", "default", "--name", "resultstor",
                 "x"]) == 2
    err = capsys.readouterr().err
    assert "unknown preference 'default.resultstor'" in err
    assert "did you mean default.resultstore?" in err
    for key in ("default.resultstore", "global.library", "sched.url", "sched.token"):
        assert key in err
    assert not (home / "fastpathpreferences").exists()


def test_list_shows_sources(home: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    preferences.set_value("sched", "url", "http://127.0.0.1:5000")
    monkeypatch.setenv("FASTPATH_SCHED_TOKEN", "tok-value")
    assert main(["preference", "list"]) == 0
    out = capsys.readouterr().out
    assert f"sched.url: http://127.0.0.1:5000  ({home / 'fastpathpreferences'})" in out
    assert "sched.token: ***  (environment FASTPATH_SCHED_TOKEN)" in out
    assert "tok-value" not in out
    assert "default.resultstore: <None>  (default)" in out


def test_secrets_are_masked_unless_revealed(home: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = "mysql://fp:s3cret@127.0.0.1:3306/results"
    assert main(["preference", "set", "--category", "default", "--name", "resultstore",
                 url]) == 0
    monkeypatch.setenv("FASTPATH_SCHED_TOKEN", "t0ken")
    assert main(["preference", "list"]) == 0
    assert main(["preference", "get", "--category", "default", "--name", "resultstore"]) == 0
    assert main(["preference", "get", "--category", "sched", "--name", "token"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out and "t0ken" not in out
    assert out.count("default.resultstore: mysql://fp:***@127.0.0.1:3306/results") == 3
    assert "sched.token: ***" in out
    assert main(["preference", "get", "--category", "default", "--name", "resultstore",
                 "--reveal"]) == 0
    assert capsys.readouterr().out == f"default.resultstore: {url}\n"
    assert preferences.get("default", "resultstore") == url


def test_corrupt_file_is_a_clear_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "fastpathpreferences").write_text("not an ini file\n")
    assert main(["preference", "get", "--category", "default", "--name", "resultstore"]) == 2
    err = capsys.readouterr().err
    assert "cannot parse the preferences file" in err and "Traceback" not in err
