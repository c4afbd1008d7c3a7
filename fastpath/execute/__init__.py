"""Run fastpath's Ansible playbooks (the ONLY importer of ``ansible_runner``).

API (stable; other layers call only these)::

    from fastpath.execute import run_playbook, PlaybookOutcome

    outcome = run_playbook(
        "fingerprint.yml",                 # name under playbooks/ or a path
        inventory={"all": {"hosts": {...}}} | Path("hosts.yml"),
        extravars={"fastpath_fingerprint_dest": "/abs/dir"},
        run_dir=Path("runs/0001"),         # ansible-runner private data dir (created)
        tags=["fingerprint"], limit=None,
        on_event=lambda ev: ...,           # every ansible-runner event dict, live
        roles_paths=[Path("plan-dir/roles")],  # searched after fastpath's and the preference's
        ident="fingerprint",               # artifacts/ansible/NNNN-<ident>; default: playbook stem
        timeout=None,                      # seconds for the whole playbook
    )
    outcome.ok / .status ("successful"|"failed"|"timeout"|"canceled") / .rc
    outcome.failed      -> [FailedTask(host, task, role, message, rc, ...)] (rescued ones too)
    outcome.final_failures -> the last failure per host; outcome.reason() -> one sentence
    outcome.unreachable -> {host: message}
    outcome.facts       -> {host: {fact: value}}  (every ``set_fact`` / module ansible_facts)
    outcome.stats       -> set_stats data (non per-host ``_run`` data)
    outcome.command     -> the equivalent ``ansible-playbook ...`` command line
    outcome.artifact_dir, outcome.stdout_path

Each call appends its command line to ``<run_dir>/commands.sh`` (a runnable shell file
an operator can use to re-run a step by hand) and keeps ansible-runner's artifacts
(events, stdout) under ``<run_dir>/artifacts/ansible/<ident>/`` (rotated; nothing else
lives there, so other artifacts under ``<run_dir>/artifacts/`` are never rotated away).

``fastpath.execute.ssh`` holds the small plain-SSH helpers that share Ansible's
ControlMaster connections (tailing a progress file on a SUT, closing masters after a
reboot).
"""

from fastpath.execute.runner import (
    FailedTask,
    PlaybookOutcome,
    ansible_env,
    playbook_path,
    run_playbook,
)

__all__ = [
    "FailedTask",
    "PlaybookOutcome",
    "ansible_env",
    "playbook_path",
    "run_playbook",
]
