"""YAML 1.2 output of normalised plans (``plan show``)."""

from __future__ import annotations

from typing import Any

import yaml

from fastpath.plan.yamlsrc import resolve_plain


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if not isinstance(resolve_plain(value), str):
        # YAML 1.2 would read it as another type ('4', 'on' is fine, 'true', '0o7'...)
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump_yaml(data: Any) -> str:
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=100)
    return "%YAML 1.2\n---\n" + body
