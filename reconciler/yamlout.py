"""Writing manifests: readable YAML that reads back as exactly the same data.

PyYAML writes for YAML 1.1 readers; reconcile.py reads plain scalars as YAML 1.2 does
(yamlpos). A string the two would read differently (``1e5``, ``0x1F``) is quoted."""
from __future__ import annotations

from typing import Any

import yaml

from .yamlpos import _plain_scalar


class _Dumper(yaml.SafeDumper):
    pass


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = None
    if _plain_scalar(value) != value or not isinstance(_plain_scalar(value), str):
        style = "'"
    if "\n" in value:
        style = "|" if not value.endswith((" ", "\t")) and "\r" not in value else '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _short_and_flat(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    flat = all(isinstance(v, (str, int, float, bool)) or v is None
               or (isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v))
               for v in items)
    return flat and len(repr(value)) <= 72


def _mapping(dumper: yaml.SafeDumper, value: dict) -> yaml.MappingNode:
    # Short, flat mappings on one line ({at: '09:30'}); the rest as blocks.
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(),
                                    flow_style=_short_and_flat(value))


def _sequence(dumper: yaml.SafeDumper, value: list) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value,
                                     flow_style=_short_and_flat(value))


_Dumper.add_representer(str, _string)
_Dumper.add_representer(dict, _mapping)
_Dumper.add_representer(list, _sequence)


def dump(document: Any, header: str = "") -> str:
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return header + body
