"""`plan exec` input errors: caught before any SUT work, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastpath.cli.main import main
from fastpath.rundir import RunDir, item_key, work_items

PLAN = """\
sut:
  connection: {method: SSH, params: {host: 127.0.0.1, port: 1}}
swprofiles:
  - {name: a, kernel: Image}
  - {name: b, kernel: Image, cmdline: [x=1]}
benchmarks:
  - {name: n, image: i:1, warmups: 1, repeats: 2, sessions: 2}
  - {name: m, image: i:1, warmups: 0, repeats: 1}
"""


@pytest.fixture()
def plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASTPATH_DEFAULT_RESULTSTORE", raising=False)
    (tmp_path / "Image").write_bytes(b"k")
    path = tmp_path / "p.yaml"
    path.write_text(PLAN)
    return path


def test_no_resultstore_is_a_usage_error(plan: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["plan", "exec", str(plan)]) == 2
    err = capsys.readouterr().err
    assert "no resultstore given" in err and "--output DIR" in err
    assert not (plan.parent / "fastpath-runs").exists()


def test_output_and_resultstore_together(plan: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["plan", "exec", "--output", "o", "--resultstore", "sqlite:///x.db",
                 str(plan)]) == 2
    assert "either --output or --resultstore" in capsys.readouterr().err


def test_bad_store_url_fails_before_any_sut_work(plan: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    assert main(["plan", "exec", "--resultstore", "postgres://u:secret@h/db", str(plan)]) == 2
    err = capsys.readouterr().err
    assert "secret" not in err
    assert not (plan.parent / "fastpath-runs").exists()


def test_output_dir_that_is_not_a_store(plan: Path, capsys: pytest.CaptureFixture) -> None:
    out = plan.parent / "notastore"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert main(["plan", "exec", "--output", str(out), str(plan)]) == 2
    assert "is not a fastpath resultstore" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]


def test_invalid_plan_is_reported_before_anything(plan: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    plan.write_text(PLAN.replace("repeats: 2", "repeats: two"))
    assert main(["plan", "exec", "--output", "out", str(plan)]) == 2
    assert "benchmarks[0].repeats: 'two' is not an integer" in capsys.readouterr().err
    assert not (plan.parent / "out").exists()


def test_work_items_and_progress_total() -> None:
    from fastpath.plan.model import work_total

    plan = {"swprofiles": [{"name": "a"}, {"name": "b"}],
            "benchmarks": [{"warmups": 1, "repeats": 2, "sessions": 2},
                           {"warmups": 0, "repeats": 1, "sessions": 1}]}
    assert work_items(plan, {"name": "a"}, 1) == [
        item_key("a", 1, 0, "w1"), item_key("a", 1, 0, "r1"), item_key("a", 1, 0, "r2"),
        item_key("a", 1, 1, "r1")]
    assert work_items(plan, {"name": "a"}, 2) == ["a/2/0/w1", "a/2/0/r1", "a/2/0/r2"]
    assert work_total(plan) == 2 * (2 * 3 + 1 * 1)


def test_run_dir_resume_and_plan_change(tmp_path: Path) -> None:
    from fastpath.errors import UserError

    plan = {"a": 1}
    with RunDir(tmp_path / "run") as rd:
        state, resumed = rd.start(plan, "a: 1\n")
        assert not resumed
        rd.mark_done("x/1/0/r1")
    with RunDir(tmp_path / "run") as rd:
        state, resumed = rd.start(plan, "a: 1\n")
        assert resumed and state.done == {"x/1/0/r1"}
        with pytest.raises(UserError, match="another 'fastpath plan exec' is running"), \
                RunDir(tmp_path / "run"):
            pass
    with RunDir(tmp_path / "run") as rd, pytest.raises(UserError, match="different plan"):
        rd.start({"a": 2}, "a: 2\n")
    # once a run is finished, a different plan may start afresh in the same directory
    with RunDir(tmp_path / "run") as rd:
        state, _ = rd.start(plan, "a: 1\n")
        state.restored = True
        rd.save()
    with RunDir(tmp_path / "run") as rd:
        state, resumed = rd.start({"a": 2}, "a: 2\n")
        assert not resumed and state.done == set()
    assert len(list((tmp_path / "run").glob("state-*.json"))) == 1
