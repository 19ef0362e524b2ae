"""An Ansible inventory, read as Ansible reads it, without Ansible.

Two forms (Ansible docs, "How to build your inventory" and "Developing dynamic
inventory"):

- the YAML inventory: top-level groups, each with ``hosts``, ``vars`` and ``children``;
  host patterns with ranges (``srv-a[01:09]``) and ports (``srv:2222``); the
  ``group_vars/`` and ``host_vars/`` folders beside the file;
- the JSON that ``ansible-inventory --list`` (or ``--export``) prints, the form every
  other inventory source (INI, dynamic plugins) can be turned into.

Variables are merged in Ansible's order of precedence, lowest first: the ``all`` group's
vars, the other groups' vars (shallow groups first, then ``ansible_group_priority``, then
name), ``group_vars/all``, the other groups' ``group_vars/`` files (same order), the
host's own vars, its ``host_vars/`` files; a later key replaces an earlier one. Nothing
is templated: ``{{ ... }}`` stays text. The tests compare this reader with
``ansible-inventory --list`` on the same files."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import yaml

from ..errors import ReconcileError
from .hostpatterns import PatternError, expand_pattern

VAR_EXTENSIONS = (".yml", ".yaml", ".json")  # Ansible's YAML_FILENAME_EXTENSIONS
VAULT_HEADER = b"$ANSIBLE_VAULT;"


class InventoryError(ReconcileError):
    """The inventory cannot be read, or names something it does not have."""


@dataclass(frozen=True)
class Host:
    """One inventory host: its name, every group it is in (ancestors and ``all``
    included, shallow groups first) and its merged variables."""

    name: str
    groups: tuple[str, ...]
    vars: Mapping[str, Any] = field(compare=False, repr=False)

    @property
    def labels(self) -> tuple[str, ...]:
        """Its groups as a person names them: without ``all`` and ``ungrouped``."""
        return tuple(g for g in self.groups if g not in ("all", "ungrouped"))


@dataclass(frozen=True)
class Inventory:
    source: str
    hosts: Mapping[str, Host]  # by inventory name, in the order the inventory names them
    groups: Mapping[str, tuple[str, ...]]  # group -> its hosts (direct and through children)
    warnings: tuple[str, ...] = ()


# --- reading YAML as Ansible does ---------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader (YAML 1.1, as Ansible's) with Ansible's own tags: ``!unsafe``
    marks text that must not be templated, ``!vault`` an encrypted value."""


def _unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


class Vaulted(str):
    """An ``!vault`` value: ciphertext, never a usable setting."""


def _vault(loader: yaml.SafeLoader, node: yaml.Node) -> Vaulted:
    assert isinstance(node, yaml.ScalarNode)
    return Vaulted(loader.construct_scalar(node))


_Loader.add_constructor("!unsafe", _unsafe)
_Loader.add_constructor("!vault", _vault)
_Loader.add_constructor("!vault-encrypted", _vault)


def _load_file(path: str) -> Any:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return yaml.load(handle, Loader=_Loader)  # noqa: S506 - a safe loader with two tags
    except OSError as err:
        raise InventoryError(f"{path}: cannot read the inventory: {err.strerror}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise InventoryError(f"{path}{where}: not valid YAML: {err.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InventoryError(f"{path}: not valid YAML: {err}") from None


# --- the inventory being built ------------------------------------------------------------

@dataclass
class _Group:
    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    priority: int = 1


class _Builder:
    """Groups and hosts as Ansible's InventoryData holds them while a source is parsed."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.groups: dict[str, _Group] = {}
        self.hosts: dict[str, dict[str, Any]] = {}  # host -> its own (inventory) vars
        self.warnings: list[str] = []
        for name in ("all", "ungrouped"):
            self.group(name)
        self.child("all", "ungrouped")

    def group(self, name: Any) -> _Group:
        if not isinstance(name, str) or not name:
            raise InventoryError(f"{self.source}: group name {name!r} must be text")
        if name not in self.groups:
            self.groups[name] = _Group(name)
        return self.groups[name]

    def host(self, name: str, group: str | None = None) -> dict[str, Any]:
        if not isinstance(name, str) or not name:
            raise InventoryError(f"{self.source}: host name {name!r} must be text")
        own = self.hosts.setdefault(name, {})
        if group is not None and name not in self.groups[group].hosts:
            self.groups[group].hosts.append(name)
        return own

    def child(self, parent: str, child: str) -> None:
        if parent == child or parent in self.descendants(child):
            raise InventoryError(f"{self.source}: adding group {child!r} to {parent!r} makes a loop")
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)
            self.groups[child].parents.append(parent)

    def set_group_var(self, group: _Group, key: Any, value: Any) -> None:
        if key == "ansible_group_priority":
            try:
                group.priority = int(value)
            except (TypeError, ValueError):
                raise InventoryError(f"{self.source}: ansible_group_priority of {group.name} "
                                     f"must be a number, not {value!r}") from None
            return
        group.vars[key] = value

    def descendants(self, name: str) -> set[str]:
        seen: set[str] = set()
        stack = [name]
        while stack:
            for child in self.groups[stack.pop()].children:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen

    def finish(self) -> None:
        """Ansible's ``reconcile_inventory``: every group under ``all``, hosts in no
        group in ``ungrouped``."""
        for group in list(self.groups.values()):
            if group.name != "all" and not group.parents:
                self.child("all", group.name)
        grouped = {h for g in self.groups.values() if g.name not in ("all", "ungrouped") for h in g.hosts}
        ungrouped = self.groups["ungrouped"]
        ungrouped.hosts = [h for h in ungrouped.hosts if h not in grouped]
        for host in self.hosts:
            if host not in grouped and host not in ungrouped.hosts:
                ungrouped.hosts.append(host)

    def depth(self, name: str) -> int:
        """The longest path from ``all``: Ansible sorts groups by it."""
        group = self.groups[name]
        if name == "all" or not group.parents:
            return 0
        return max(self.depth(p) + 1 for p in group.parents)

    def ancestors(self, groups: Iterable[str]) -> set[str]:
        out: set[str] = set()
        stack = list(groups)
        while stack:
            name = stack.pop()
            if name not in out:
                out.add(name)
                stack.extend(self.groups[name].parents)
        return out


# --- the YAML form --------------------------------------------------------------------------

_SECTIONS = ("vars", "children", "hosts")


def _yaml_group(builder: _Builder, name: Any, data: Any) -> str | None:
    """One group of a YAML inventory (Ansible's ``yaml`` inventory plugin)."""
    if not isinstance(data, (dict, type(None))):
        builder.warnings.append(f"{builder.source}: skipped {name!r}: not a group (a mapping)")
        return None
    group = builder.group(name)
    if data is None:
        return group.name
    for section in _SECTIONS:
        if isinstance(data.get(section), str):
            data[section] = {data[section]: None}
        if section in data and not isinstance(data[section], (dict, type(None))):
            raise InventoryError(f"{builder.source}: the {section} of group {group.name} must be a "
                                 f"mapping, not {type(data[section]).__name__}")
    for key, value in data.items():
        if key not in _SECTIONS:
            builder.warnings.append(f"{builder.source}: group {group.name}: skipped {key!r} "
                                    "(only vars, children and hosts are read)")
        elif value is None:
            continue
        elif key == "vars":
            for var, setting in value.items():
                builder.set_group_var(group, var, setting)
        elif key == "children":
            for child, child_data in value.items():
                added = _yaml_group(builder, child, child_data)
                if added is not None:
                    builder.child(group.name, added)
        else:
            for pattern, variables in value.items():
                _yaml_hosts(builder, group.name, pattern, variables)
    return group.name


def _yaml_hosts(builder: _Builder, group: str, pattern: Any, variables: Any) -> None:
    try:
        names, port = expand_pattern(pattern)
    except PatternError as err:
        raise InventoryError(f"{builder.source}: {err}") from None
    if variables is not None and not isinstance(variables, dict):
        raise InventoryError(f"{builder.source}: the vars of host {pattern} must be a mapping")
    for name in names:
        own = builder.host(name, group)
        own.update(variables or {})
        if port is not None:
            own["ansible_port"] = port


def _from_yaml(builder: _Builder, data: dict[str, Any]) -> None:
    if data.get("plugin"):
        raise InventoryError(f"{builder.source}: an inventory plugin's configuration, not an inventory: "
                             "write its hosts out with ansible-inventory -i FILE --list > inventory.json")
    for name, group in data.items():
        _yaml_group(builder, name, group)


# --- the JSON form (ansible-inventory --list) ----------------------------------------------------

def _from_json(builder: _Builder, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Groups as ``ansible-inventory --list`` prints them; returns ``_meta.hostvars``."""
    meta = data.get("_meta") or {}
    hostvars = meta.get("hostvars") if isinstance(meta, dict) else None
    for name, body in data.items():
        if name == "_meta":
            continue
        group = builder.group(name)
        if isinstance(body, list):
            body = {"hosts": body}
        if not isinstance(body, dict):
            raise InventoryError(f"{builder.source}: group {name} must be a mapping or a list of hosts")
        for host in body.get("hosts") or ():
            builder.host(host, group.name)
        for var, value in (body.get("vars") or {}).items():
            builder.set_group_var(group, var, value)
        for child in body.get("children") or ():
            builder.group(child)
            builder.child(group.name, child)
    if not isinstance(hostvars, (dict, type(None))):
        raise InventoryError(f"{builder.source}: _meta.hostvars must be a mapping")
    return {str(k): dict(v or {}) for k, v in (hostvars or {}).items()}


def _is_json_form(data: dict[str, Any]) -> bool:
    """``ansible-inventory --list`` always prints ``_meta``; a YAML inventory has no
    group of that name."""
    return "_meta" in data


def _decoded(value: Any) -> Any:
    """Ansible's JSON encoding of tagged values back to values: ``{"__ansible_unsafe":
    text}`` is the text, ``{"__ansible_vault": ciphertext}`` an encrypted value."""
    if isinstance(value, dict):
        if len(value) == 1 and "__ansible_unsafe" in value:
            return _decoded(value["__ansible_unsafe"])
        if len(value) == 1 and "__ansible_vault" in value:
            return Vaulted(value["__ansible_vault"])
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


# --- group_vars/ and host_vars/ -------------------------------------------------------------

def vars_files(folder: str, name: str) -> list[str]:
    """Ansible's ``find_vars_files``: ``NAME``, ``NAME.yml``, ``NAME.yaml`` or
    ``NAME.json`` in ``folder`` (the first that exists); a folder of that name gives every
    file below it, sorted, hidden files and backups (``~``) left out."""
    for extension in ("",) + VAR_EXTENSIONS:
        path = os.path.join(folder, name + extension)
        if os.path.isdir(path):
            return _folder_files(path)
        if os.path.exists(path):
            return [path]
    return []


def _folder_files(path: str) -> list[str]:
    found = []
    for entry in sorted(os.listdir(path)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        full = os.path.join(path, entry)
        extension = os.path.splitext(entry)[1]
        if os.path.isdir(full) and not extension:
            found.extend(_folder_files(full))
        elif os.path.isfile(full) and (not extension or extension in VAR_EXTENSIONS):
            found.append(full)
    return found


def _vault_encrypted(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(VAULT_HEADER)) == VAULT_HEADER
    except OSError:
        return False  # reported by the reader


def _file_vars(folder: str, name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if name.startswith(os.sep):
        return merged
    for path in vars_files(folder, name):
        if _vault_encrypted(path):
            # A whole file encrypted with ansible-vault holds secrets for Ansible (the
            # tasks' passwords); reconcile.py reads no secret from an inventory, so it is
            # skipped without a word: a fleet may have one per host (README "Fleet").
            continue
        data = _load_file(path)
        if data is None:
            continue
        if not isinstance(data, dict):
            raise InventoryError(f"{path}: variables must be a mapping, not {type(data).__name__}")
        merged.update(data)
    return merged


# --- putting it together ---------------------------------------------------------------------

def _merged_vars(builder: _Builder, host: str, groups: list[str], own: Mapping[str, Any],
                 files: Mapping[str, Mapping[str, Any]], host_files: Mapping[str, Any]) -> dict[str, Any]:
    ordered = [g for g in groups if g != "all"]
    merged = dict(builder.groups["all"].vars)
    for name in ordered:
        merged.update(builder.groups[name].vars)
    merged.update(files.get("all", {}))
    for name in ordered:
        merged.update(files.get(name, {}))
    merged.update(own)
    merged.update(host_files)
    return merged


def _refuse_ini(path: str) -> None:
    """An INI inventory is not YAML; say so rather than show a YAML error."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            first = next((line.strip() for line in handle if line.strip() and not line.lstrip().startswith(("#", ";"))), "")
    except OSError:
        return  # reported by the reader
    if re.fullmatch(r"\[[^\]\[]+\]", first):
        raise InventoryError(f"{path}: an INI inventory, which reconcile.py does not read: convert it with "
                             "ansible-inventory -i FILE --list > inventory.json (or -y for YAML)")


def read(path: str) -> Inventory:
    """The inventory in ``path``: a YAML inventory (with ``group_vars/`` and
    ``host_vars/`` beside it) or ``ansible-inventory --list`` JSON."""
    if os.path.isdir(path):
        raise InventoryError(f"--inventory {path}: a folder; name the inventory file in it")
    if not os.path.exists(path):
        raise InventoryError(f"--inventory {path}: no such file")
    _refuse_ini(path)
    data = _load_file(path)
    if not isinstance(data, dict) or not data:
        raise InventoryError(f"{path}: not an inventory (a YAML mapping of groups, or the JSON of "
                             "ansible-inventory --list); INI inventories: convert them with "
                             "ansible-inventory -i FILE --list > inventory.json")
    builder = _Builder(path)
    json_form = _is_json_form(data)
    hostvars: dict[str, dict[str, Any]] = {}
    if json_form:
        hostvars = _from_json(builder, _decoded(data))
        for host in hostvars:
            builder.host(host)
    else:
        _from_yaml(builder, data)
    builder.finish()
    return _assemble(builder, path, hostvars, json_form)


def _assemble(builder: _Builder, path: str, hostvars: dict[str, dict[str, Any]], json_form: bool) -> Inventory:
    # JSON is complete as printed: its vars already include any group_vars/ and host_vars/.
    beside = os.path.dirname(os.path.abspath(path))
    group_files = {} if json_form else {
        name: _file_vars(os.path.join(beside, "group_vars"), name) for name in builder.groups}
    depth = {name: builder.depth(name) for name in builder.groups}
    member_of: dict[str, list[str]] = {h: [] for h in builder.hosts}
    for group in builder.groups.values():
        for host in group.hosts:
            member_of[host].append(group.name)
    hosts: dict[str, Host] = {}
    for name, own in builder.hosts.items():
        groups = sorted(builder.ancestors(member_of[name]) | {"all"},
                        key=lambda g: (depth[g], builder.groups[g].priority, g))
        host_files = {} if json_form else _file_vars(os.path.join(beside, "host_vars"), name)
        merged = _merged_vars(builder, name, groups, {**own, **hostvars.get(name, {})}, group_files, host_files)
        hosts[name] = Host(name, tuple(groups), merged)
    members = {g: tuple(h for h in hosts if g in hosts[h].groups) for g in builder.groups}
    return Inventory(path, hosts, members, tuple(builder.warnings))
