# fastpath: run a fastpath module of this role in ONE SSH round trip (identical file in
# roles/fastpath_fingerprint and roles/fastpath_benchmark; the module is library/<this name>).
"""Action plugin: pipe ``library/<this file's name>`` to the SUT's ``python3 -``.

A normal module call wraps the module in AnsiballZ, whose remote side imports
``ansible.module_utils.basic`` before the module starts: 0.1-0.3 s per call, more than the
fingerprint itself.  fastpath's SUT-side modules need only the Python standard library, so
this plugin validates the task arguments here against the module's ``ARGUMENT_SPEC`` (the
same spec AnsibleModule would apply), sends the module source on stdin of one
``python3 - --fastpath-direct '<arguments JSON>'`` command (task ``environment`` and become
apply as usual), and returns the JSON result the module prints.
"""

from __future__ import annotations

import ast
import json
import os
import shlex

from ansible import constants as C
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase

MODULE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "library",
                      os.path.basename(__file__))
DIRECT = "--fastpath-direct"


def _module_source():
    """(source text, ARGUMENT_SPEC, SUPPORTS_CHECK_MODE) of the module file."""
    with open(MODULE, encoding="utf-8") as fh:
        source = fh.read()
    consts = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("ARGUMENT_SPEC", "SUPPORTS_CHECK_MODE"):
                consts[name] = ast.literal_eval(node.value)
    return source, consts["ARGUMENT_SPEC"], consts.get("SUPPORTS_CHECK_MODE", False)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # decided per module below

    def _python(self, task_vars):
        value = C.config.get_config_value("INTERPRETER_PYTHON", variables=task_vars)
        value = self._templar.template(value) if value else value
        if not value or str(value).startswith("auto"):
            facts = task_vars.get("ansible_facts") or {}
            value = facts.get("discovered_interpreter_python") or "python3"
        return str(value)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        source, spec, check_mode_ok = _module_source()
        if self._task.check_mode and not check_mode_ok:
            result.update(skipped=True, msg="this module does not support check mode")
            return result
        checked = ArgumentSpecValidator(spec).validate(dict(self._task.args))
        if checked.error_messages:  # the message AnsibleModule would give
            msg = checked.errors.msg
            if isinstance(checked.errors[0], UnsupportedError):
                name = os.path.splitext(os.path.basename(MODULE))[0]
                msg = f"Unsupported parameters for ({name}) module: {msg}"
            result.update(failed=True, msg=msg)
            return result
        params = json.dumps(checked.validated_parameters, default=str)
        cmd = (f"{self._compute_environment_string()} {shlex.quote(self._python(task_vars))} "
               f"- {DIRECT} {shlex.quote(params)}").strip()
        res = self._low_level_execute_command(cmd, in_data=source)
        out = None
        for line in reversed(res.get("stdout", "").splitlines()):
            if line.startswith("{"):
                try:
                    out = json.loads(line)
                    break
                except ValueError:
                    continue
        if not isinstance(out, dict):
            result.update(failed=True, rc=res.get("rc"), stdout=res.get("stdout", ""),
                          stderr=res.get("stderr", ""),
                          msg=f"{os.path.basename(MODULE)} failed on the SUT "
                              f"(rc {res.get('rc')}): "
                              f"{(res.get('stderr') or res.get('stdout') or '').strip()[-2000:]}")
            return result
        result.update(out)
        return result
