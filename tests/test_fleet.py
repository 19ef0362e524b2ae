"""Fleet: targeting, per-host commands, validate across hosts, hosts and fleet matrix,
on five simulated hosts with overlapping targets (README "Fleet")."""
from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from conftest import store_snapshot
from fleet_support import EXPECTED, HOSTS, cli, host_cli, make_fleet, planned, task, write


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    return make_fleet(tmp_path)


def test_each_host_plans_exactly_its_subset(fleet: Path) -> None:
    for host in HOSTS:
        assert planned(fleet, host) == {name: "create" for name in EXPECTED[host]}, host


def test_the_same_path_from_two_manifests_goes_to_different_hosts(fleet: Path) -> None:
    commands = {}
    for host in ("srv-a01", "srv-t01"):
        result = host_cli(fleet, host, "render", "prod-job")
        assert result.code == 0, result.err
        commands[host] = re.search(r"<Command>(.*)</Command>", result.out)[1]  # type: ignore[index]
    assert commands == {"srv-a01": "C:\\Jobs\\job.exe", "srv-t01": "C:\\Test\\job.exe"}


def test_a_task_moving_between_groups_is_deleted_on_the_old_hosts_and_created_on_the_new(fleet: Path) -> None:
    for host in HOSTS:
        result = host_cli(fleet, host, "apply", "-q")
        assert result.code == 0, result.err
        assert planned(fleet, host) == {}
    write(fleet / "tasks.d", {"moving.yaml": task("moving", "{groups: [site_b]}")})
    assert planned(fleet, "srv-a01") == {"moving": "delete"}
    assert planned(fleet, "srv-a02") == {"moving": "delete"}
    assert planned(fleet, "srv-b01") == {"moving": "create"}
    assert planned(fleet, "srv-b02") == {"moving": "create"}
    assert planned(fleet, "srv-t01") == {}
    text = host_cli(fleet, "srv-a01", "plan").out
    assert "- \\Orchestrator\\moving  (no manifest targets host srv-a01)" in text, text
    assert "+ \\Orchestrator\\moving" in host_cli(fleet, "srv-b02", "plan").out


def test_validate_checks_every_host(fleet: Path) -> None:
    result = cli(fleet, "validate", "--inventory", "inventory.yml")
    assert result.code == 0, result.err
    for host in HOSTS:
        assert re.search(rf"^\s+{host}\s+{len(EXPECTED[host])} task\(s\)$", result.out, re.M), result.out
    assert "5 host(s)" in result.out
    one = cli(fleet, "validate", "--inventory", "inventory.yml", "--host", "srv-b02")
    assert one.code == 0 and "2 task(s) in tasks.d for host srv-b02 (groups: prod, site_b): valid." in one.out


def test_after_must_name_a_task_on_the_same_host(fleet: Path) -> None:
    run = "\n  run: {}"
    write(fleet / "tasks.d", {
        "excel.yaml": task("excel-processing", "{groups: [site_a]}") + run,
        "vbs.yaml": task("vbs-automation", "{groups: [prod]}") + "\n  run:\n    after: [excel-processing]\n",
    })
    result = cli(fleet, "validate", "--inventory", "inventory.yml")
    assert result.code == 1
    lines = result.err.splitlines()
    for host, groups in (("srv-b01", "prod, site_b"), ("srv-b02", "prod, site_b")):
        assert any(re.fullmatch(rf"tasks\.d/vbs\.yaml:\d+:\d+: after: no task 'excel-processing' on host "
                                rf"{host} \(groups: {groups}\)", line) for line in lines), result.err
    assert not any("srv-a0" in line for line in lines)  # site_a hosts have both tasks
    # Per host: the site_a host plans both; a site_b host is refused with the same message.
    assert host_cli(fleet, "srv-a01", "plan").code == 0
    refused = host_cli(fleet, "srv-b01", "plan")
    assert refused.code == 1 and "on host srv-b01 (groups: prod, site_b)" in refused.err


def test_two_manifests_at_one_path_for_one_host_are_an_error(fleet: Path) -> None:
    write(fleet / "tasks.d", {"again.yaml": task("everywhere", "{hosts: [srv-b02]}")})
    result = cli(fleet, "validate", "--inventory", "inventory.yml")
    assert result.code == 1
    assert re.search(r"task \\Orchestrator\\everywhere is also defined at tasks\.d/\S+ .*both go to host "
                     r"srv-b02", result.err), result.err
    assert host_cli(fleet, "srv-a01", "plan").code == 0


def test_unknown_names_in_targets_are_errors_with_a_hint(fleet: Path) -> None:
    write(fleet / "tasks.d", {"typo.yaml": task("typo", "{groups: [sitea], exclude: [srv-a1]}")})
    result = cli(fleet, "validate", "--inventory", "inventory.yml")
    assert result.code == 1
    assert re.search(r"^tasks\.d/typo\.yaml:5:\d+: targets\.groups: no group 'sitea' in inventory\.yml "
                     r"\(did you mean 'site_a'\?\)$", result.err, re.M), result.err
    assert "targets.exclude: no group or host 'srv-a1' in inventory.yml (did you mean 'srv-a01'?)" in result.err


def test_a_host_under_groups_or_a_group_under_hosts_is_named_for_what_it_is(fleet: Path) -> None:
    write(fleet / "tasks.d", {"mixed.yaml": task("mixed", "{groups: [srv-a01], hosts: [site_b]}")})
    result = cli(fleet, "validate", "--inventory", "inventory.yml")
    assert result.code == 1
    assert "targets.groups: no group 'srv-a01' in inventory.yml (srv-a01 is a host: use hosts:)" in result.err
    assert "targets.hosts: no host 'site_b' in inventory.yml (site_b is a group: use groups:)" in result.err


def test_targets_without_an_inventory_are_an_error(fleet: Path) -> None:
    result = cli(fleet, "plan", "--backend", "local", "--store", "stores/x")
    assert result.code == 1
    assert "targets name inventory groups and hosts: run with --inventory FILE" in result.err
    assert not (fleet / "stores").exists()


def test_a_task_keeps_spec_targets_for_defaults(fleet: Path) -> None:
    write(fleet / "tasks.d", {"wrong.yaml": task("wrong") + "  targets: {groups: [prod]}\n"})
    result = cli(fleet, "validate", "--inventory", "inventory.yml")
    assert result.code == 1 and "a task's targets go in its metadata (metadata.targets)" in result.err


def test_this_machine_picks_its_host(fleet: Path) -> None:
    inventory = (fleet / "inventory.yml").read_text()
    me = socket.gethostname()
    (fleet / "inventory.yml").write_text(inventory.replace("srv-b[01:02]:", f"srv-b01:\n            srv-b02:\n"
                                                                           f"              reconcile_hostname: {me.upper()}"))
    result = cli(fleet, "plan", "--inventory", "inventory.yml", "--backend", "local", "--store", "s", "-q")
    assert result.code == 0, result.err
    assert "Plan: 2 to add" in result.out  # srv-b02's subset: everywhere and prod-job


def test_a_machine_in_no_inventory_is_an_error_and_nothing_is_written(fleet: Path) -> None:
    assert host_cli(fleet, "srv-a01", "apply", "-q").code == 0
    store = fleet / "stores" / "srv-a01"
    before = store_snapshot(store)
    result = cli(fleet, "apply", "--inventory", "inventory.yml", "--backend", "local", "--store", "stores/srv-a01")
    assert result.code == 1
    assert f"this machine ({socket.gethostname()}) is not a host of inventory.yml" in result.err
    assert store_snapshot(store) == before


def test_host_option_errors(fleet: Path) -> None:
    assert "--host needs --inventory FILE" in cli(fleet, "plan", "--host", "srv-a01").err
    unknown = cli(fleet, "plan", "--inventory", "inventory.yml", "--host", "srv-a1")
    assert unknown.code == 1 and "no such host in inventory.yml (did you mean 'srv-a01'?)" in unknown.err
    missing = cli(fleet, "plan", "--inventory", "nowhere.yml", "--host", "srv-a01")
    assert missing.code == 1 and "--inventory nowhere.yml: no such file" in missing.err


def test_reconcile_root_is_the_hosts_root(fleet: Path) -> None:
    text = (fleet / "inventory.yml").read_text().replace("srv-t01:\n", "srv-t01:\n          reconcile_root: Test\n")
    (fleet / "inventory.yml").write_text(text)
    result = host_cli(fleet, "srv-t01", "plan")
    assert result.code == 0 and "+ \\Test\\everywhere" in result.out
    clash = host_cli(fleet, "srv-t01", "plan", "--root", "\\Other\\")
    assert clash.code == 1 and "differs from reconcile_root \\Test\\ of host srv-t01" in clash.err


def test_status_takes_a_host(fleet: Path) -> None:
    assert host_cli(fleet, "srv-b02", "apply", "-q").code == 0
    result = host_cli(fleet, "srv-b02", "status", "--format", "json")
    assert result.code == 0, result.err
    assert sorted(row["path"] for row in json.loads(result.out)["tasks"]) == [
        "\\Orchestrator\\everywhere", "\\Orchestrator\\prod-job"]


def test_hosts_lists_hosts_groups_waves_and_task_counts(fleet: Path) -> None:
    result = cli(fleet, "hosts", "--inventory", "inventory.yml")
    assert result.code == 0, result.err
    rows = [line.split() for line in result.out.splitlines()]
    assert rows[0] == ["HOST", "HOSTNAME", "GROUPS", "WAVE", "ROOT", "TASKS"]
    assert rows[1] == ["srv-a01", "srv-a01", "prod,", "site_a", "canary", "\\Orchestrator\\", "4"]
    body = json.loads(cli(fleet, "hosts", "--inventory", "inventory.yml", "--format", "json").out)
    assert {h["host"]: h["tasks"] for h in body["hosts"]} == {h: len(t) for h, t in EXPECTED.items()}
    assert {h["host"]: h["wave"] for h in body["hosts"]}["srv-b01"] == "prod"
    assert body["hosts"][1]["groups"] == ["office", "prod", "site_a"]  # Ansible's order


def test_fleet_matrix_by_wave(fleet: Path) -> None:
    result = cli(fleet, "fleet", "matrix", "--inventory", "inventory.yml", "--wave", "canary")
    assert result.code == 0 and result.out.count("\n") == 1
    assert [e["host"] for e in json.loads(result.out)["include"]] == ["srv-a01", "srv-t01"]
    every = json.loads(cli(fleet, "fleet", "matrix", "--inventory", "inventory.yml").out)["include"]
    assert [e["host"] for e in every] == list(HOSTS)
    assert every[2] == {"host": "srv-b01", "hostname": "srv-b01", "wave": "prod", "groups": "prod,site_b",
                        "root": "\\Orchestrator\\", "ref": ""}
    none = cli(fleet, "fleet", "matrix", "--inventory", "inventory.yml", "--wave", "nope")
    assert none.code == 1 and "waves: canary, prod" in none.err


def test_templated_reconcile_vars_are_refused(fleet: Path) -> None:
    text = (fleet / "inventory.yml").read_text().replace("reconcile_wave: prod", "reconcile_wave: '{{ w }}'")
    (fleet / "inventory.yml").write_text(text)
    result = cli(fleet, "hosts", "--inventory", "inventory.yml")
    assert result.code == 1 and "a template; reconcile.py reads the inventory without templating" in result.err


def test_validate_json_every_host_or_one(fleet: Path) -> None:
    result = cli(fleet, "validate", "--inventory", "inventory.yml", "--format", "json")
    assert result.code == 0, result.err
    body = json.loads(result.out)
    assert body["format_version"] == 1 and body["valid"] is True and body["problems"] == []
    assert {h["host"]: {t["path"].rsplit("\\", 1)[1] for t in h["tasks"]} for h in body["hosts"]} == EXPECTED
    one = json.loads(cli(fleet, "validate", "--inventory", "inventory.yml", "--host", "srv-b02",
                         "--format", "json").out)
    assert one["host"] == "srv-b02" and len(one["tasks"]) == len(EXPECTED["srv-b02"])
    write(fleet / "tasks.d", {"typo.yaml": task("typo", "{groups: [sitea]}")})
    bad = cli(fleet, "validate", "--inventory", "inventory.yml", "--format", "json")
    assert bad.code == 1
    problems = json.loads(bad.out)["problems"]
    assert [(p["file"], p["line"]) for p in problems] == [("tasks.d/typo.yaml", 5)]
    assert "no group 'sitea' in inventory.yml (did you mean 'site_a'?)" in problems[0]["message"]


def test_a_saved_plan_applies_only_on_the_host_it_was_made_for(fleet: Path) -> None:
    assert host_cli(fleet, "srv-a01", "plan", "--out", "a01.json").code == 0
    # srv-b02's store is as empty as srv-a01's was: only the host named in the plan tells them apart.
    refused = host_cli(fleet, "srv-b02", "apply", "--plan", "a01.json")
    assert refused.code == 1
    assert "the saved plan was made for host srv-a01, not srv-b02 (--host)" in refused.err
    assert store_snapshot(fleet / "stores" / "srv-b02") == {}
    applied = host_cli(fleet, "srv-a01", "apply", "--plan", "a01.json", "-q")
    assert applied.code == 0, applied.err
    assert planned(fleet, "srv-a01") == {}


def test_the_host_in_a_saved_plan_cannot_be_edited(fleet: Path) -> None:
    assert host_cli(fleet, "srv-a01", "plan", "--out", "a01.json").code == 0
    body = json.loads((fleet / "a01.json").read_text(encoding="utf-8"))
    body["fleet"]["host"] = "srv-b02"
    (fleet / "a01.json").write_text(json.dumps(body), encoding="utf-8")
    refused = host_cli(fleet, "srv-b02", "apply", "--plan", "a01.json")
    assert refused.code == 1
    assert "edited after it was made" in refused.err
