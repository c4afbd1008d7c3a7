"""The CLI shell: --help everywhere, lazy imports, global options, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from fastpath import __version__
from fastpath.cli.main import cli, main

HEAVY = ("ansible", "ansible_runner", "sqlalchemy", "scipy", "dash", "flask", "jsonschema",
         "pymysql", "tabulate")


def _all_commands() -> list[list[str]]:
    out: list[list[str]] = [[]]
    ctx = click.Context(cli)
    for noun in cli.list_commands(ctx):
        group = cli.get_command(ctx, noun)
        out.append([noun])
        if isinstance(group, click.Group):
            for verb in group.list_commands(ctx):
                out.append([noun, verb])
    return out


def test_root_help_imports_no_heavy_library() -> None:
    code = (
        "import sys, json\n"
        "from fastpath.cli.main import main\n"
        "rc = main(['--help'])\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(json.dumps({'rc': rc, 'heavy': heavy}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"rc": 0, "heavy": []}
    assert "Nouns:" in proc.stdout and "plan" in proc.stdout and "preference" in proc.stdout


@pytest.mark.parametrize("words", _all_commands(), ids=lambda w: " ".join(w) or "root")
def test_help_on_every_command(words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*words, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: fastpath")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fastpath, version {__version__}"


def test_unknown_noun_and_bad_option_are_usage_errors(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nosuchnoun"]) == 2
    assert "No such command 'nosuchnoun'" in capsys.readouterr().err
    assert main(["plan", "show", "--bogus"]) == 2
    assert "No such option '--bogus'" in capsys.readouterr().err


def test_debug_shows_traceback(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text("[1, 2]\n")
    assert main(["plan", "show", str(plan)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["--debug", "plan", "show", str(plan)]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_console_script_runs() -> None:
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "fastpath")
    proc = subprocess.run([exe, "plan", "show", "/nonexistent.yaml"], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr


@pytest.mark.parametrize("args, fragment", [
    (["--port", "0"], "0 is not in the range 1<=x<=65535"),
    (["--port", "-5"], "-5 is not in the range 1<=x<=65535"),
    (["--port", "ssh"], "'ssh' is not a valid integer"),
    (["--keyfile", "/nonexistent/id_ed25519"], "'/nonexistent/id_ed25519' does not exist"),
])
def test_sut_fingerprint_bad_options_are_usage_errors(args, fragment, capsys):
    assert main(["sut", "fingerprint", *args, "127.0.0.1"]) == 2
    assert fragment in capsys.readouterr().err
