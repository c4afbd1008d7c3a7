"""Users' custom setup roles: found in the plan's roles/ dir or the global.roles preference."""

from __future__ import annotations

import secrets
import sqlite3

import pytest

from fastpath.records import ErrorCode
from fastpath.session import run_session
from tests.integration.sut import bench, plan_for

pytestmark = pytest.mark.integration


def make_role(base, name, tasks):
    (base / name / "tasks").mkdir(parents=True)
    (base / name / "tasks" / "main.yml").write_text(tasks)


def test_plan_dir_role_leaves_a_marker_before_benchmarks(loopback_sut, tmp_path):
    token = secrets.token_hex(4)
    marker = f"/tmp/fastpath-marker-{token}"
    make_role(tmp_path / "plan" / "roles", "leave_marker", f"""---
- name: Leave a marker
  ansible.builtin.copy:
    content: "node {{{{ fastpath_node_index }}}}\\n"
    dest: {marker}
    mode: "0644"
""")
    plan = plan_for(loopback_sut, [bench("ok", mode="ok")], setup_roles=["leave_marker"])
    out = run_session(plan, plan["swprofiles"][0], 1, tmp_path / "run",
                      f"sqlite:///{tmp_path / 'r.db'}", plan_dir=tmp_path / "plan")
    assert out.errors == 0 and out.results == 2
    assert loopback_sut.ssh(0, f"cat {marker}").stdout == "node 0\n"
    loopback_sut.ssh(0, f"rm -f {marker}")


def test_preference_path_role_and_failing_role(loopback_sut, tmp_path, monkeypatch):
    prefs = tmp_path / "prefroles"
    make_role(prefs, "pref_ok", "---\n- name: Fine\n  ansible.builtin.command: /bin/true\n"
              "  changed_when: false\n")
    make_role(prefs, "pref_broken", "---\n- name: Break\n  ansible.builtin.command: /bin/false\n"
              "  changed_when: false\n")
    monkeypatch.setenv("FASTPATH_GLOBAL_ROLES", str(prefs))
    plan = plan_for(loopback_sut, [bench("a", repeats=2, mode="ok"), bench("b", mode="ok")],
                    setup_roles=["pref_ok", "pref_broken"])
    db = tmp_path / "r.db"
    out = run_session(plan, plan["swprofiles"][0], 1, tmp_path / "run", f"sqlite:///{db}")
    con = sqlite3.connect(db)
    codes = [r[0] for r in con.execute("SELECT error FROM error")]
    con.close()
    assert codes == [ErrorCode.SETUP_ROLE_FAILED] * 3 and out.results == 0
    log = (tmp_path / "run" / "fastpath.log").read_text()
    assert "setup role pref_broken failed" in log


def test_missing_role_is_a_setup_failure(loopback_sut, tmp_path):
    plan = plan_for(loopback_sut, [bench("a", mode="ok")], setup_roles=["no_such_role_xyz"])
    out = run_session(plan, plan["swprofiles"][0], 1, tmp_path / "run",
                      f"sqlite:///{tmp_path / 'r.db'}")
    assert out.error_codes == {int(ErrorCode.SETUP_ROLE_FAILED): 1}
