"""Workflows at compile time: the runner action and its payload, import, dependencies,
wake triggers, checks, the schema fragment, and that the runner needs only the standard
library."""
from __future__ import annotations

import ast
import base64
import copy
import json
import os
import subprocess
import sys
import uuid
import zlib
from pathlib import Path
from typing import Any, Iterator

import pytest

from reconciler import cmdline, workflow
from reconciler.model import ComHandlerAction, ExecAction, Principal, TaskSpec
from reconciler.render import render
from reconciler.runner import payload as payload_module
from reconciler.runner_install import install, runner_files

REPO = Path(__file__).resolve().parents[1]
ROOT = "\\Orchestrator\\"
RUNNER = {"python": "C:\\ProgramData\\reconcile\\venv\\Scripts\\python.exe", "home": "C:\\ProgramData\\reconcile"}

RUN = {
    "when": [
        {"fileExists": "D:\\exports\\morning.csv"},
        {"urlReachable": "https://erp.example.local/health"},
        {"urlReachable": {"url": "https://erp.example.local/ready", "timeout": "30s"}},
        {"command": {"command": "C:\\tools\\vpn-check.exe", "arguments": ["--host", "erp one"], "timeout": "2m"}},
    ],
    "retry": {"attempts": 4, "backoff": "exponential", "initial": "30s", "max": "10m", "jitter": 0.2},
    "attemptTimeout": "PT20M",
    "log": {"dir": "C:\\ProgramData\\reconcile\\logs", "keep": 30},
    "notify": {"onFailure": [
        {"email": {"to": ["ops@example.com"], "smtp": {"host": "mail.example.com", "port": 587,
                                                      "userFromEnv": "SMTP_USER", "passwordFromEnv": "SMTP_PASSWORD"}}},
        {"webhook": {"url": "https://hooks.example.com/tasks", "timeout": "10s"}},
    ]},
}
ACTIONS = (
    ExecAction(command="C:\\Python311\\python.exe",
               arguments=cmdline.join(["-m", "jobs.excel", "--out", "C:\\Reports\\daily book.xlsx"]),
               working_directory="C:\\jobs"),
    ExecAction(command="C:\\jobs\\after.bat", arguments="one & two"),
)


def compile_actions(items: list[dict[str, Any]]) -> tuple[ExecAction, ...]:
    """What the compiler does with manifest actions (enough for a round trip)."""
    out = []
    for item in items:
        arguments = item.get("arguments")
        text = cmdline.join(arguments) if isinstance(arguments, list) else arguments
        out.append(ExecAction(command=item["command"], arguments=text or None,
                              working_directory=item.get("workingDirectory")))
    return tuple(out)


def run_spec(block: dict[str, Any]) -> workflow.RunSpec:
    return workflow.RunSpec.from_manifest(block)


def after(*items: Any) -> tuple[workflow.Dependency, ...]:
    """``after`` entries as the manifest writes them (``"name"`` or ``{task, require}``)."""
    return tuple(workflow.Dependency.from_manifest(item) for item in items)


def dependencies() -> tuple[workflow.ResolvedDependency, ...]:
    nodes = [workflow.DepNode(path=ROOT + "excel", name="excel", after=after("csv-morning", {"task": "csv-afternoon",
                                                                                            "require": "completed"}),
                              has_run=True),
             workflow.DepNode(path=ROOT + "csv-morning", name="csv-morning", has_run=True),
             workflow.DepNode(path=ROOT + "csv-afternoon", name="csv-afternoon", has_run=True,
                              account="CONTOSO\\svc-csv")]
    assert workflow.dependency_problems(nodes) == []
    return workflow.resolve_dependencies(nodes)[(ROOT + "excel").casefold()]


# --- the payload -------------------------------------------------------------------------------

def test_run_spec_reads_the_run_block() -> None:
    spec = run_spec({**RUN, "after": ["csv-morning", {"task": "HR\\job", "require": "completed"}]})
    assert spec.after == (workflow.Dependency("csv-morning"), workflow.Dependency("HR\\job", "completed"))
    assert spec.when == (
        workflow.FileExists("D:\\exports\\morning.csv"),
        workflow.UrlReachable("https://erp.example.local/health"),
        workflow.UrlReachable("https://erp.example.local/ready", timeout=30),
        workflow.CommandCheck("C:\\tools\\vpn-check.exe", arguments='--host "erp one"', timeout=120),
    )
    assert spec.retry == workflow.RetryPolicy(attempts=4, initial=30, maximum=600, jitter=0.2)
    assert spec.attempt_timeout == 1200
    assert spec.log == workflow.LogPolicy(directory="C:\\ProgramData\\reconcile\\logs", keep=30)
    email, webhook = spec.notify
    assert email == workflow.Email(to=("ops@example.com",), smtp=workflow.Smtp(
        host="mail.example.com", port=587, user_from_env="SMTP_USER", password_from_env="SMTP_PASSWORD"))
    assert webhook == workflow.Webhook(url="https://hooks.example.com/tasks", timeout=10)
    assert workflow.RunSpec.from_manifest({}) == workflow.RunSpec()
    assert workflow.RunSpec.from_manifest({"log": {}, "retry": {"attempts": 2, "jitter": 0}}) == workflow.RunSpec(
        retry=workflow.RetryPolicy(attempts=2))  # what the payload leaves out, the record does too


def test_run_spec_refuses_what_the_schema_refuses() -> None:
    for block in ({"after": [{"require": "completed"}]}, {"after": "a"}, {"when": [{"fileExists": 1}]},
                  {"when": [{"fileExists": "C:\\a", "urlReachable": "http://x"}]}, {"when": [{"fileExist": "a"}]},
                  {"retry": ["attempts"]}, {"attemptTimeout": "soon"}, {"log": {"keep": "many"}},
                  {"notify": {"onFailure": [{"email": {"to": ["a@b.c"]}}]}}, {"notify": {"onFailure": [{"sms": {}}]}}):
        with pytest.raises(ValueError):
            workflow.RunSpec.from_manifest(block)


def test_payload_run_block_reads_back_as_the_same_record() -> None:
    """normalize_run (compile) and denormalize_run (import) are inverses on the record."""
    spec = run_spec({**RUN, "log": {"keep": 30.0}})
    carried = workflow.normalize_run(spec)
    assert carried["log"] == {"keep": 30.0}  # a number the runner only passes on stays as written
    assert workflow.RunSpec.from_manifest(workflow.denormalize_run(carried)) == spec


def test_runner_action_shape_and_payload_round_trip() -> None:
    deps = dependencies()
    action = workflow.runner_action(ROOT + "excel", ACTIONS, run_spec({**RUN, "after": ["csv-morning", "x"]}), RUNNER,
                                    account="SYSTEM", dependencies=deps)
    assert action.command == RUNNER["python"] and action.working_directory is None
    prefix = "-m reconciler.runner run --payload "
    assert action.arguments.startswith(prefix)
    text = action.arguments[len(prefix):]
    assert text and set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    assert cmdline.split(action.arguments) == ["-m", "reconciler.runner", "run", "--payload", text]
    data = payload_module.decode(text)
    assert data["v"] == 1 and data["task"] == ROOT + "excel" and data["home"] == RUNNER["home"]
    assert "account" not in data  # SYSTEM keeps its history in the home itself
    assert data["actions"][0] == {"command": "C:\\Python311\\python.exe",
                                  "arguments": '-m jobs.excel --out "C:\\Reports\\daily book.xlsx"',
                                  "workingDirectory": "C:\\jobs"}
    run = data["run"]
    assert run["attemptTimeout"] == 1200 and run["retry"] == {"attempts": 4, "initial": 30, "max": 600, "jitter": 0.2}
    assert run["after"] == [
        {"task": ROOT + "csv-afternoon", "require": "completed", "account": workflow.store_account("CONTOSO\\svc-csv")},
        {"task": ROOT + "csv-morning", "require": "succeeded"}]
    assert run["when"][3] == {"command": {"command": "C:\\tools\\vpn-check.exe",
                                          "arguments": '--host "erp one"', "timeout": 120}}

    parsed = workflow.parse_runner_action(action.command, action.arguments, ROOT)
    assert parsed is not None
    assert parsed["runner"] == RUNNER and parsed["task"] == ROOT + "excel"
    assert parsed["actions"] == [
        {"command": "C:\\Python311\\python.exe", "arguments": ["-m", "jobs.excel", "--out", "C:\\Reports\\daily book.xlsx"],
         "workingDirectory": "C:\\jobs"},
        {"command": "C:\\jobs\\after.bat", "arguments": "one & two"},  # a batch file's arguments stay a string
    ]
    manifest_run = parsed["run"]
    assert manifest_run["after"] == [{"task": "csv-afternoon", "require": "completed"}, "csv-morning"]
    assert manifest_run["attemptTimeout"] == "20m"
    assert manifest_run["retry"] == {"attempts": 4, "initial": "30s", "max": "10m", "jitter": 0.2}
    assert manifest_run["when"][1] == {"urlReachable": "https://erp.example.local/health"}
    assert manifest_run["when"][2] == {"urlReachable": {"url": "https://erp.example.local/ready", "timeout": "30s"}}
    assert manifest_run["when"][3]["command"]["arguments"] == ["--host", "erp one"]
    assert manifest_run["notify"]["onFailure"][1] == {"webhook": {"url": "https://hooks.example.com/tasks",
                                                                  "timeout": "10s"}}
    # import -> compile gives exactly the same action (the round trip import relies on)
    again = workflow.runner_action(ROOT + "excel", compile_actions(parsed["actions"]), run_spec(manifest_run),
                                   parsed["runner"], account="SYSTEM", dependencies=deps)
    assert again == action


def test_payload_is_deterministic() -> None:
    deps = dependencies()
    one = workflow.runner_action(ROOT + "excel", ACTIONS, run_spec(RUN), RUNNER, dependencies=deps)
    shuffled = json.loads(json.dumps(RUN), object_pairs_hook=lambda pairs: dict(reversed(pairs)))
    two = workflow.runner_action(ROOT + "excel", ACTIONS, run_spec(shuffled), dict(reversed(list(RUNNER.items()))),
                                 dependencies=tuple(reversed(deps)))
    assert one == two
    # no compression: the same text with any zlib build (zlib-ng differs byte-wise)
    raw = base64.urlsafe_b64decode(one.arguments.rsplit(" ", 1)[1] + "==")
    assert raw.startswith(b"{") and json.loads(raw)["task"] == ROOT + "excel"


def test_payload_reader_accepts_zlib_and_refuses_garbage() -> None:
    data = {"v": 1, "task": "\\x", "actions": [], "run": {}}
    packed = base64.urlsafe_b64encode(zlib.compress(payload_module.dumps(data).encode())).decode().rstrip("=")
    assert payload_module.decode(packed) == data
    for bad in ("", "not base64!", "bm90IGpzb24", payload_module.encode({"v": 99})):
        with pytest.raises(payload_module.PayloadError):
            payload_module.decode(bad)


def test_runner_defaults_and_accounts() -> None:
    action = workflow.runner_action(ROOT + "x", ACTIONS[:1], workflow.RunSpec(), None, account="CONTOSO\\svc-reports")
    assert action.command == workflow.DEFAULT_RUNNER["python"]
    data = payload_module.decode(payload_module.from_arguments(action.arguments) or "")
    assert data["home"] == "%ProgramData%\\reconcile"
    assert data["account"] == workflow.store_account("contoso\\SVC-reports")
    assert workflow.store_account("SYSTEM") is None
    assert workflow.store_account("NT AUTHORITY\\SYSTEM") is None
    assert workflow.store_account("S-1-5-18") is None
    assert workflow.store_account("LOCAL SERVICE") == workflow.store_account("NT AUTHORITY\\LocalService")
    assert workflow.store_account("LOCAL SERVICE").startswith("local_service-")
    assert workflow.store_account("CONTOSO\\a_b") != workflow.store_account("CONTOSO_a\\b")


def test_runner_action_refuses() -> None:
    with pytest.raises(ValueError, match="resolved first"):
        workflow.runner_action(ROOT + "x", ACTIONS, run_spec({"after": ["y"]}), RUNNER)
    with pytest.raises(ValueError, match="programs only"):
        workflow.runner_action(ROOT + "x", (ComHandlerAction(class_id="{00000000-0000-0000-0000-000000000000}"),),
                               workflow.RunSpec(), RUNNER)
    huge = ExecAction(command="x.exe", arguments="a" * workflow.MAX_ARGUMENTS)
    with pytest.raises(workflow.PayloadTooLarge):
        workflow.runner_action(ROOT + "x", (huge,), workflow.RunSpec(), RUNNER)


def test_parse_runner_action_ignores_other_actions() -> None:
    assert workflow.parse_runner_action("C:\\Python311\\python.exe", "-m jobs.excel") is None
    assert workflow.parse_runner_action("python.exe", "-m reconciler.runner run --payload !!") is None
    assert workflow.parse_runner_action("python.exe", "-m reconciler.runner run --payload e30") is None  # {} lacks v
    assert workflow.parse_runner_action("python.exe", None) is None
    outside = workflow.runner_action("\\Other\\t", ACTIONS[:1], workflow.RunSpec(), RUNNER, dependencies=())
    assert workflow.parse_runner_action(outside.command, outside.arguments, ROOT)["task"] == "\\Other\\t"


# --- dependencies -------------------------------------------------------------------------------

def node(name: str, entries: tuple[Any, ...] = (), folder: str = "", **extra: Any) -> workflow.DepNode:
    path = ROOT + (folder + "\\" if folder else "") + name
    return workflow.DepNode(path=path, name=name, folder=folder, after=after(*entries),
                            has_run=extra.pop("has_run", True), **extra)


def test_dependency_problems() -> None:
    nodes = [
        node("excel", ("csv-mornin", "job", "plain", "excel", "Finance\\job", "finance\\JOB")),
        node("job", folder="Finance"),
        node("job", folder="HR"),
        node("plain", has_run=False),
        node("both", has_settings_retry=True, has_run_retry=True),
        node("csv-morning"),
        node("bad", ({"task": "csv-morning", "require": "maybe"},)),
    ]
    found = [(n.display, path, message) for n, path, message in workflow.dependency_problems_at(nodes)]
    assert ("excel", ("run", "after", 0),
            "after: no task named 'csv-mornin' in the manifests (did you mean 'csv-morning'?)") in found
    assert ("excel", ("run", "after", 1),
            "after: 'job' is ambiguous: Finance\\job, HR\\job; write folder\\name") in found
    assert ("excel", ("run", "after", 2),
            "after: plain has no run block; a task named in after must have one (the runner records its outcome)") in found
    assert ("excel", ("run", "after", 3),
            "dependency cycle: excel -> excel (a task cannot run after itself)") in found
    assert ("excel", ("run", "after", 5), "after: Finance\\job is already listed (entry 5)") in found
    assert ("both", ("settings", "retry"),
            "settings.retry (Task Scheduler restarts) and run.retry cannot both be set: run.retry retries "
            "with backoff; remove settings.retry") in found
    assert ("bad", ("run", "after", 0, "require"), "require must be succeeded or completed, not 'maybe'") in found
    assert len(found) == 7
    assert [(n.display, m) for n, m in workflow.dependency_problems(nodes)] == [(d, m) for d, _p, m in found]


def test_dependency_cycle_message_prints_the_cycle() -> None:
    nodes = [node("a", ("b",)), node("b", ("c",)), node("c", ("x", "a")), node("x"), node("d", ("a",))]
    ((where, path, message),) = workflow.dependency_problems_at(nodes)
    assert message == "dependency cycle: a -> b -> c -> a (each runs after the next)"
    assert where.name == "c" and path == ("run", "after", 1)  # where it occurs second
    two = [node("p", ("q",)), node("q", ("p",)), node("r", ("s",)), node("s", ("r",))]
    messages = [m for _n, m in workflow.dependency_problems(two)]
    assert messages == ["dependency cycle: p -> q -> p (each runs after the next)",
                        "dependency cycle: r -> s -> r (each runs after the next)"]


def test_resolve_dependencies_by_name_folder_name_and_path() -> None:
    nodes = [node("c", ("Finance\\job", "\\Orchestrator\\HR\\job", "solo"), home="D:\\runner"),
             node("job", folder="Finance", home="D:\\runner"),
             node("job", folder="HR", account="CONTOSO\\hr", home="D:\\runner"),
             node("solo")]
    assert workflow.dependency_problems(nodes) == []
    resolved = workflow.resolve_dependencies(nodes)
    assert list(resolved) == [(ROOT + "c").casefold()]
    assert resolved[(ROOT + "c").casefold()] == (
        workflow.ResolvedDependency(task=ROOT + "Finance\\job", require="succeeded"),
        workflow.ResolvedDependency(task=ROOT + "HR\\job", require="succeeded",
                                    account=workflow.store_account("CONTOSO\\hr")),
        workflow.ResolvedDependency(task=ROOT + "solo", require="succeeded", home=workflow.DEFAULT_RUNNER["home"]),
    )


def test_node_from_spec() -> None:
    spec = TaskSpec(path=ROOT + "F\\t", name="t", folder=("F",), description=None, triggers=(), actions=ACTIONS,
                    principal=Principal(user_id="CONTOSO\\u", logon_type="S4U"),
                    settings=(("RestartOnFailure", (("Count", 3),)),),
                    run=run_spec({"after": ["a"], "retry": {"attempts": 2}}))
    made = workflow.node_from_spec(spec, {"home": "D:\\h"})
    assert (made.display, made.after, made.has_run, made.has_settings_retry, made.has_run_retry, made.account,
            made.home, made.ref) == ("F\\t", after("a"), True, True, True, "CONTOSO\\u", "D:\\h", spec)


# --- wake triggers --------------------------------------------------------------------------------

def test_wake_triggers_render_and_are_recognised_after_rendering() -> None:
    triggers = workflow.wake_triggers([ROOT + "b", ROOT + "it's & <odd>", ROOT + "A", ROOT + "b"])
    assert [workflow.wake_trigger_task({"EventTrigger": {"Subscription": t.subscription}}) for t in triggers] == [
        ROOT + "A", ROOT + "b", ROOT + "it's & <odd>"]
    assert triggers[0].subscription == (
        '<QueryList><Query Id="0" Path="Application"><Select Path="Application">'
        "*[System[Provider[@Name='reconcile.py'] and EventID=4100]] and *[EventData[Data='\\Orchestrator\\A']]"
        "</Select></Query></QueryList>")
    spec = TaskSpec(path=ROOT + "c", name="c", folder=(), description=None, triggers=triggers,
                    actions=(workflow.runner_action(ROOT + "c", ACTIONS, workflow.RunSpec(), RUNNER),),
                    principal=Principal(user_id="SYSTEM"))
    canonical = render(spec, ROOT).canonical
    found = [workflow.wake_trigger_task(t) for t in canonical["Triggers"]]
    assert sorted(found) == sorted([ROOT + "A", ROOT + "b", ROOT + "it's & <odd>"])
    assert all(workflow.is_wake_trigger(t) for t in canonical["Triggers"])
    (exec_action,) = canonical["Actions"]
    body = exec_action["Exec"]
    assert workflow.parse_runner_action(body["Command"], body["Arguments"], ROOT)["task"] == ROOT + "c"


def test_other_event_triggers_are_not_wake_triggers() -> None:
    wake = {"EventTrigger": {"Subscription": workflow.wake_query(ROOT + "b"), "Enabled": True, "Delay": "PT0S"}}
    assert workflow.is_wake_trigger(wake)
    edited = copy.deepcopy(wake)
    edited["EventTrigger"]["Delay"] = "PT5M"
    disabled = copy.deepcopy(wake)
    disabled["EventTrigger"]["Enabled"] = False
    other_id = {"EventTrigger": {"Subscription": workflow.wake_query(ROOT + "b").replace("4100", "4101")}}
    operational = {"EventTrigger": {"Subscription": (
        '<QueryList><Query Id="0" Path="Microsoft-Windows-TaskScheduler/Operational"><Select '
        'Path="Microsoft-Windows-TaskScheduler/Operational">*[System[EventID=201]]</Select></Query></QueryList>')}}
    for trigger in (edited, disabled, other_id, operational, {"EventTrigger": {"Subscription": "<broken"}},
                    {"TimeTrigger": {}}, {"EventTrigger": {}}):
        assert not workflow.is_wake_trigger(trigger), trigger
    spaced = {"EventTrigger": {"Subscription": workflow.wake_query(ROOT + "b").replace("> <", ">\n  <")
                               .replace(" and *[EventData", "\n and *[EventData")}}
    assert workflow.wake_trigger_task(spaced) == ROOT + "b"


# --- checks ------------------------------------------------------------------------------------------

def test_check_run() -> None:
    run = {
        "retry": {"attempts": 3, "initial": "10m", "max": "1m"},
        "attemptTimeout": "0s",
        "when": [{"fileExists": "relative\\file.csv"}, {"urlReachable": "ftp://example.com/x"},
                 {"urlReachable": {"url": "https:///nohost"}}, {"fileExists": "%TEMP%\\ok"},
                 {"command": {"command": "x.exe", "arguments": ["a\nb"]}}],
        "log": {"dir": "logs"},
        "notify": {"onFailure": [{"webhook": {"url": "mailto:x"}},
                                 {"email": {"to": ["ops"], "smtp": {"host": "h", "userFromEnv": "U"}}}]},
    }
    found = dict(workflow.check_run(run))
    assert found[("retry", "max")] == "retry.max (1m) must be at least retry.initial (10m)"
    assert found[("attemptTimeout",)] == "attemptTimeout must be at least 1s"
    assert found[("when", 0, "fileExists")].startswith("fileExists 'relative\\file.csv': write an absolute path")
    assert found[("when", 1, "urlReachable")] == "'ftp://example.com/x' must be an http:// or https:// URL"
    assert found[("when", 2, "urlReachable", "url")] == "'https:///nohost' names no host"
    assert found[("when", 4, "command", "arguments")] == "arguments cannot contain line breaks"
    assert found[("log", "dir")] == "log.dir 'logs': write an absolute path"
    assert found[("notify", "onFailure", 0, "webhook", "url")] == "'mailto:x' must be an http:// or https:// URL"
    assert found[("notify", "onFailure", 1, "email", "to", 0)] == "'ops' is not an e-mail address"
    assert "passwordFromEnv is missing" in found[("notify", "onFailure", 1, "email", "smtp")]
    assert len(found) == 10
    assert workflow.check_run(RUN) == []


def test_check_task() -> None:
    spec = {"actions": [{"command": "x.exe"}, {"comHandler": {"classId": "{x}"}}],
            "settings": {"multipleInstances": "stopExisting", "timeout": "30m"},
            "runner": {"home": "relative"},
            "run": {"after": ["a"], "attemptTimeout": "20m", "retry": {"attempts": 2, "initial": "1m"}}}
    found = dict(workflow.check_task(spec))
    assert "COM handlers" in found[("actions", 1, "comHandler")]
    assert "stopExisting" in found[("settings", "multipleInstances")]
    assert found[("runner", "home")] == "runner.home 'relative': write an absolute path"
    assert found[("settings", "timeout")] == (
        "2 attempt(s) of up to 20m with their waits can take 41m, longer than the task's time limit (30m): "
        "Task Scheduler would stop the runner first")
    assert workflow.check_task({"run": {"attemptTimeout": "20m", "retry": {"attempts": 3}},
                                "settings": {"timeout": "none"}}) == []
    assert workflow.check_task({"actions": [{"comHandler": {}}]}) == []  # no run block: not ours


# --- the schema fragment -------------------------------------------------------------------------------

RUN_DEFINITIONS = ("run", "runAfterEntry", "runWhen", "runRetry", "runLog", "runNotify", "notifyTarget",
                   "smtp", "runner")


def merged_schema() -> dict[str, Any]:
    return json.loads((REPO / "schemas" / "manifest.schema.json").read_text(encoding="utf-8"))


def test_schema_fragment_validates_the_spec_example() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = merged_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    task = {"apiVersion": "reconcile/v1", "kind": "ScheduledTask", "metadata": {"name": "excel-processing"},
            "spec": {"actions": [{"command": "C:\\Python311\\python.exe"}], "runAs": {"user": "SYSTEM"},
                     "run": {**RUN, "after": ["csv-morning", {"task": "vbs-automation", "require": "completed"}]}}}
    assert list(validator.iter_errors(task)) == []
    defaults = {"apiVersion": "reconcile/v1", "kind": "Defaults", "spec": {"runner": RUNNER, "run": {"log": {"keep": 5}}}}
    assert list(validator.iter_errors(defaults)) == []
    bad_runs = [
        {"when": [{"fileExists": "a", "urlReachable": "http://x"}]},   # two keys in one item
        {"when": [{"fileExist": "a"}]},
        {"after": [{"task": "a", "require": "maybe"}]},
        {"after": []},
        {"retry": {"initial": "1m"}},                                   # attempts required
        {"retry": {"attempts": 2, "backoff": "linear"}},
        {"notify": {"onFailure": [{"email": {"to": ["a@b"], "smtp": {"host": "h"}}, "webhook": {"url": "u"}}]}},
        {"notify": {"onFailure": [{"email": {"to": ["a@b"], "smtp": {"host": "h", "password": "x"}}}]}},
        {"log": {"keep": 0}},
        {"attemptTimeout": "soon"},
        {"unknown": 1},
    ]
    for run in bad_runs:
        doc = copy.deepcopy(task)
        doc["spec"]["run"] = run
        assert list(validator.iter_errors(doc)), run
    doc = copy.deepcopy(defaults)
    doc["spec"]["runner"] = {"python": "x", "venv": "y"}
    assert list(validator.iter_errors(doc))


def test_schema_fragment_documents_every_key() -> None:
    every = merged_schema()["$defs"]
    defs = {name: every[name] for name in RUN_DEFINITIONS}
    missing = []

    def visit(schema: Any, where: str) -> None:
        if not isinstance(schema, dict):
            return
        for key, sub in (schema.get("properties") or {}).items():
            target = sub
            if set(sub) == {"$ref"}:
                target = defs.get(sub["$ref"].rsplit("/", 1)[1], {"title": "(main schema)", "description": "",
                                                                  "examples": []})
            for word in ("title", "description", "examples"):
                if word not in target:
                    missing.append(f"{where}.{key}: {word}")
            visit(sub, f"{where}.{key}")
        for word in ("anyOf", "items", "additionalProperties"):
            value = schema.get(word)
            for item in (value if isinstance(value, list) else [value]):
                visit(item, where)

    for name, schema in defs.items():
        for word in ("title", "description"):
            if word not in schema:
                missing.append(f"$defs.{name}: {word}")
        visit(schema, name)
    assert missing == []


# --- standard library only -----------------------------------------------------------------------------

def test_runner_imports_only_the_standard_library() -> None:
    allowed_local = {"reconciler", "reconciler.cmdline", "reconciler.runner"}
    for destination, source in runner_files().items():
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for statement in ast.walk(tree):
            if isinstance(statement, ast.Import):
                modules = [a.name for a in statement.names]
            elif isinstance(statement, ast.ImportFrom):
                if statement.level:  # relative: inside reconciler.runner, or '..' for cmdline
                    if statement.level == 2:
                        assert [a.name for a in statement.names] == ["cmdline"], destination
                    continue
                modules = [statement.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names or module in allowed_local, (destination, module)


def _powershell(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["powershell.exe", "-NoProfile", "-NonInteractive", "-Command", script],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=300, check=False)


@pytest.fixture
def run_account() -> Iterator[str]:
    """An account for ``runner-install --account``. Off Windows no permissions are set, so
    any name does. On Windows the account must exist (icacls resolves it): a local account
    is created for the run, without a password (nothing logs on as it), and removed
    afterwards; a hosted runner belongs to no domain."""
    if sys.platform != "win32":
        yield "CONTOSO\\svc"
        return
    name = f"rcci{uuid.uuid4().hex[:8]}"
    created = _powershell("New-LocalUser -Name $env:ACCOUNT -NoPassword -Description 'reconcile.py test' | Out-Null",
                          ACCOUNT=name)
    if created.returncode != 0:
        pytest.skip(f"cannot create a local account for the run (needs elevation): {created.stderr.strip()[:200]}")
    try:
        yield f"{os.environ.get('COMPUTERNAME', '.')}\\{name}"
    finally:
        _powershell("Remove-LocalUser -Name $env:ACCOUNT", ACCOUNT=name)


def test_runner_install_creates_a_working_isolated_runner(tmp_path: Path, run_account: str) -> None:
    said: list[str] = []
    result = install(str(tmp_path / "home"), [run_account], say=said.append)
    python = Path(result["python"])
    assert python.exists()
    package = Path(result["package"])
    assert sorted(p.relative_to(package.parent).as_posix() for p in package.rglob("*.py")) == sorted(
        ["reconciler/__init__.py", *runner_files()])
    assert "spec:" in said and "  runner:" in said
    assert f"    python: '{python}'" in said and f"    home: '{tmp_path / 'home'}'" in said
    assert (tmp_path / "home" / "accounts" / workflow.store_account(run_account) / "state").is_dir()
    # the installed runner runs a real task in isolated mode (no checkout, no PYTHONPATH)
    action = workflow.runner_action("\\Orchestrator\\t", (ExecAction(command=sys.executable, arguments='-c "pass"'),),
                                    workflow.RunSpec(), {"python": str(python), "home": result["home"]})
    done = subprocess.run([action.command, "-I", *cmdline.split(action.arguments)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "home" / "state" / "Orchestrator" / "t.json").exists()
    # a second install refreshes the files and keeps the history
    install(str(tmp_path / "home"), say=said.append)
    assert (tmp_path / "home" / "history" / "Orchestrator" / "t.jsonl").exists()
