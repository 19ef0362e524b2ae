"""The inventory reader against its oracle: ``ansible-inventory --list`` (ansible-core, a
test dependency) on the same files must give the same hosts, groups and variables; and
reading what it prints must give them again."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reconciler.fleet import hostvars, inventory

CASES: dict[str, dict[str, str]] = {
    "groups_children_and_vars": {
        "hosts.yml": """
            all:
              vars: {reconcile_root: \\Orchestrator\\, x: all, shared: all}
              hosts:
                lonely:
              children:
                prod:
                  vars: {x: prod, reconcile_wave: 2}
                  children:
                    site_a:
                      vars: {x: site_a}
                      hosts:
                        srv-a[01:03]: {y: host}
                        srv-a09:2222:
                    site_b:
                      vars: {ansible_group_priority: 5, x: site_b}
                      hosts: {srv-b01: }
                test:
                  vars: {x: test}
                  hosts:
                    srv-t01: {reconcile_hostname: TEST01}
                    srv-a01:
            """,
        "group_vars/all.yml": "x: file-all\nshared: file-all\n",
        "group_vars/prod/10-a.yml": "z: prod-a\n",
        "group_vars/prod/20-b": "z: prod-b\nzz: 1\n",
        "group_vars/prod/.hidden.yml": "z: hidden\n",
        "group_vars/test.yaml": "x: file-test\n",
        "host_vars/srv-a02.yml": "y: host-file\n",
        "host_vars/srv-b01.json": '{"j": [1, 2]}',
    },
    "ranges_ports_and_depth": {
        "inventory.yaml": """
            web:
              hosts:
                www[a:c].example.com:
                db-[01:10:3]:
                10.0.0.7:5986:
              vars: {role: web}
            deep:
              children:
                deeper:
                  children:
                    deepest:
                      hosts:
                        www[b:b].example.com: {level: 3}
                      vars: {level: deepest}
                  vars: {level: deeper}
              vars: {level: deep}
            web2:
              children:
                deepest:
            empty:
            """,
        "group_vars/deep.yml": "g: deep\n",
        "group_vars/deepest": "g: deepest\n",
    },
    "yaml_one_one_and_tags": {
        "hosts.yml": """
            all:
              hosts:
                srv-x:
                  flag: yes
                  off_word: off
                  time: 13:05
                  octal: 0755
                  raw: !unsafe '{{ not templated }}'
                  day: 2026-01-01
                  nothing:
                  list: [a, 1, true]
              children:
                ungrouped:
                  hosts:
                    srv-y:
            """,
    },
}


def write_case(base: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return base / next(iter(files))


def ansible_list(source: Path, tmp_path: Path, *extra: str) -> dict:
    if importlib.util.find_spec("ansible") is None:
        pytest.skip("ansible-core is not installed (pip install the test extras)")
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path / "ansible-home"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False"}
    done = subprocess.run([sys.executable, "-m", "ansible.cli.inventory", "-i", str(source), "--list", *extra],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def members(listed: dict) -> dict[str, set[str]]:
    """Every group's hosts, through its children, from ``ansible-inventory --list``."""
    def hosts(group: str) -> set[str]:
        body = listed.get(group, {})
        found = set(body.get("hosts", ()))
        for child in body.get("children", ()):
            found |= hosts(child)
        return found

    groups = {name for name in listed if name != "_meta"}
    groups |= {c for name in groups for c in listed[name].get("children", ())}
    return {name: hosts(name) for name in groups}


def comparable(value: object) -> object:
    """Values as JSON gives them back (a date is text in JSON)."""
    return json.loads(json.dumps(value, default=str))


def plain(value: object) -> object:
    """ansible-inventory's JSON with its tagged values (``!unsafe``) as plain values."""
    if isinstance(value, dict):
        if list(value) == ["__ansible_unsafe"]:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    return [plain(v) for v in value] if isinstance(value, list) else value


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_reader_agrees_with_ansible_inventory(case: str, tmp_path: Path) -> None:
    assert_agrees(write_case(tmp_path / "repo", CASES[case]), tmp_path)


def test_the_example_inventory_reads_as_ansible_reads_it(tmp_path: Path) -> None:
    assert_agrees(Path(__file__).resolve().parents[1] / "examples" / "ansible" / "inventory" / "hosts.yml", tmp_path)


def assert_agrees(source: Path, tmp_path: Path) -> None:
    oracle = ansible_list(source, tmp_path)
    ours = inventory.read(str(source))
    assert comparable({h.name: dict(h.vars) for h in ours.hosts.values()}) == plain(oracle["_meta"]["hostvars"]) | {
        name: {} for name in ours.hosts if name not in oracle["_meta"]["hostvars"]}
    expected = members(oracle)
    assert {g: set(hosts) for g, hosts in ours.groups.items() if hosts or g in expected} == {
        g: hosts for g, hosts in expected.items() if hosts or g in ours.groups}
    for host in ours.hosts.values():
        assert set(host.groups) == {g for g, hosts in expected.items() if host.name in hosts} | {"all"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_json_ansible_inventory_prints_reads_the_same(case: str, tmp_path: Path) -> None:
    source = write_case(tmp_path / "repo", CASES[case])
    printed = tmp_path / "inventory.json"
    printed.write_text(json.dumps(ansible_list(source, tmp_path)))
    from_yaml, from_json = inventory.read(str(source)), inventory.read(str(printed))
    assert set(from_json.hosts) == set(from_yaml.hosts)
    for name, host in from_yaml.hosts.items():
        assert from_json.hosts[name].vars == comparable(dict(host.vars))
        assert set(from_json.hosts[name].groups) == set(host.groups)


def test_host_order_and_group_order_are_ansibles(tmp_path: Path) -> None:
    source = write_case(tmp_path, CASES["groups_children_and_vars"])
    read = inventory.read(str(source))
    assert list(read.hosts) == ["lonely", "srv-a01", "srv-a02", "srv-a03", "srv-a09", "srv-b01", "srv-t01"]
    # Shallow groups first, then ansible_group_priority, then name: site_b (priority 5) last.
    assert read.hosts["srv-a01"].groups == ("all", "prod", "test", "site_a")
    assert read.hosts["srv-a09"].vars["ansible_port"] == 2222
    assert read.hosts["srv-b01"].labels == ("prod", "site_b")


@pytest.mark.parametrize("text, message", [
    ("all:\n  hosts: [a, b]\n", "the hosts of group all must be a mapping"),
    ("plugin: amazon.aws.aws_ec2\n", "an inventory plugin's configuration"),
    ("# hosts\n[web]\nsrv-a01\n", "an INI inventory"),
    ("- a\n- b\n", "not an inventory"),
    ("all:\n  hosts:\n    srv[1:]:\n", "the range needs an end"),
    ("all:\n  hosts:\n    srv[01:9]:\n", "begin and end must have the same width"),
    ("all:\n  hosts:\n    '[2001:db8::1]':\n", "a range is"),  # Ansible refuses it too
    ("a:\n  children:\n    b:\n      children:\n        a:\n", "makes a loop"),
    ("all:\n  hosts: {a: }\n  bad: [\n", "not valid YAML"),
])
def test_bad_inventories_are_refused_with_a_reason(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(text)
    with pytest.raises(inventory.InventoryError, match=message):
        inventory.read(str(path))


def test_group_vars_must_be_a_mapping(tmp_path: Path) -> None:
    source = write_case(tmp_path, {"hosts.yml": "all:\n  hosts: {a: }\n", "group_vars/all.yml": "- x\n"})
    with pytest.raises(inventory.InventoryError, match=r"all\.yml: variables must be a mapping"):
        inventory.read(str(source))


def test_unexpected_keys_are_warnings_as_in_ansible(tmp_path: Path) -> None:
    source = write_case(tmp_path, {"hosts.yml": "all:\n  hosts: {a: }\n  host: {b: }\n"})
    read = inventory.read(str(source))
    assert list(read.hosts) == ["a"]
    assert read.warnings == (f"{source}: group all: skipped 'host' (only vars, children and hosts are read)",)


def test_json_group_vars_apply_below_host_vars(tmp_path: Path) -> None:
    """As ``ansible-inventory --list --export`` prints them: vars per group."""
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps({
        "_meta": {"hostvars": {"a": {"x": "host"}, "b": {}}},
        "all": {"children": ["ungrouped", "prod"], "vars": {"x": "all", "y": "all"}},
        "prod": {"hosts": ["a", "b"], "vars": {"x": "prod", "z": {"__ansible_unsafe": "{{ raw }}"}}},
    }))
    read = inventory.read(str(path))
    assert dict(read.hosts["a"].vars) == {"x": "host", "y": "all", "z": "{{ raw }}"}
    assert dict(read.hosts["b"].vars) == {"x": "prod", "y": "all", "z": "{{ raw }}"}
    assert read.hosts["b"].labels == ("prod",)


def test_vault_values_are_kept_sealed_and_vault_files_are_not_read(tmp_path: Path) -> None:
    """The layout Ansible's docs recommend: a host's secrets in an encrypted vault.yml
    beside its plain vars.yml, or one value encrypted in place (``!vault``)."""
    ciphertext = "$ANSIBLE_VAULT;1.1;AES256\n  6162636465\n"
    source = write_case(tmp_path, {
        "hosts.yml": """
            all:
              hosts:
                srv-a01:
                  task_passwords:
                    EXCEL_PASSWORD: !vault |
                      $ANSIBLE_VAULT;1.1;AES256
                      6162636465
                srv-a02:
                  reconcile_wave: !vault |
                    $ANSIBLE_VAULT;1.1;AES256
                    6162636465
            """,
        "host_vars/srv-a01/vars.yml": "reconcile_wave: canary\n",
        "host_vars/srv-a01/vault.yml": ciphertext,
    })
    read = inventory.read(str(source))
    assert read.warnings == ()
    vaulted = read.hosts["srv-a01"].vars["task_passwords"]["EXCEL_PASSWORD"]
    assert isinstance(vaulted, inventory.Vaulted) and vaulted.startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert hostvars.wave(read.hosts["srv-a01"]) == "canary"
    with pytest.raises(inventory.InventoryError, match="reconcile_wave must be plain text, not Vaulted"):
        hostvars.wave(read.hosts["srv-a02"])
