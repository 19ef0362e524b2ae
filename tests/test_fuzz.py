"""Fuzzing the two readers of untrusted input (issue #5).

Manifests (valid ones mutated, random YAML text, random bytes, random Unicode in every
encoding reconcile.py accepts) through the real loading path, ``reconciler.manifest.load``
on a folder, then ``reconciler.render.render`` for every task: the outcome is always
either task XML that lxml parses (and that reads back to the canonical form it was
rendered from) or a ManifestError whose every line is ``file:line:col: message`` —
never another exception. Raw bytes through the task-XML reader (``taskxml.decode``,
``taskxml.parse``, ``normalize.canonical``): only TaskXmlError or success.

Characters YAML refuses (control characters, U+FFFE) are each one positioned line, and
broken UTF-16 after a BOM is a TaskXmlError: both were bugs these tests found."""
from __future__ import annotations

import os
import re
import tempfile
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from reconciler import manifest, normalize, render, taskxml
from reconciler.errors import ManifestError
from reconciler.taskxml import TaskXmlError

pytestmark = pytest.mark.slow  # a minute of fuzzing: run by .ci/run (-m slow), not by default

ROOT = "\\Orchestrator\\"
LINE = re.compile(r"^.+:\d+:\d+: .+$")
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
FUZZ = settings(max_examples=200, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large])


def outcome(content: bytes, name: str = "m.yaml") -> str:
    """Load ``content`` as the one manifest file of a folder; render every task. Returns
    "tasks" or "problems"; any other exception propagates (and fails the test)."""
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(content)
        try:
            tasks = manifest.load(folder, ROOT)
        except ManifestError as err:
            lines = str(err).split("\n")
            assert lines and all(LINE.match(line) for line in lines), str(err)[:2000]
            assert all(folder in line for line in lines)
            return "problems"
        for task in tasks:
            rendered = render.render(task, ROOT)
            document = etree.fromstring(rendered.xml.encode("utf-8"))
            assert etree.QName(document).localname == "Task"
            assert etree.QName(document).namespace == TASK_NS
            assert normalize.canonical(taskxml.parse(rendered.xml)) == rendered.canonical
        return "tasks"


# --- valid manifests, mutated ---------------------------------------------------------------

BASE: dict[str, Any] = {
    "apiVersion": "reconcile/v1", "kind": "ScheduledTask",
    "metadata": {"name": "fuzzed", "folder": "Fuzz", "description": "d"},
    "spec": {
        "schedule": "5 13 * * 1-5",
        "triggers": [{"daily": {"at": "09:30", "every": 1}},
                     {"weekly": {"at": "08:00", "days": ["Mon", "Fri"]}},
                     {"onEvent": {"log": "Application", "source": "App", "eventId": 1000}}],
        "actions": [{"command": "C:\\tools\\job.exe", "arguments": ["-m", "x y"], "workingDirectory": "C:\\w"}],
        "runAs": {"user": "SYSTEM"},
        "settings": {"timeout": "30m", "retry": {"count": 3, "interval": "5m"}, "priority": 7,
                     "multipleInstances": "ignoreNew", "batteries": {"disallowStart": False}},
        "protect": False,
    },
}
KEYS = ["apiVersion", "kind", "metadata", "spec", "name", "folder", "description", "adopt", "version",
        "enabled", "schedule", "triggers", "actions", "runAs", "settings", "protect", "data", "command",
        "arguments", "workingDirectory", "user", "group", "logonType", "password", "fromEnv", "runLevel",
        "timeout", "retry", "count", "interval", "priority", "multipleInstances", "daily", "weekly", "monthly",
        "once", "cron", "at", "every", "days", "months", "weeks", "repeat", "for", "from", "until", "onEvent",
        "query", "log", "source", "eventId", "atStartup", "atLogon", "delay", "comHandler", "classId",
        "<<", "run", "after", "when", "task", "notify", "idle", "maintenance", "x"]
WORDS = ["reconcile/v1", "ScheduledTask", "Defaults", "SYSTEM", "NT AUTHORITY\\SYSTEM", "CONTOSO\\svc",
         "gmsa$", "password", "s4u", "interactive", "group", "a.exe", "run.cmd", "09:30", "25:00", "13:05",
         "5 13 * * 1-5", "@reboot", "0 0 L * *", "0 0 * * 5L", "*/7 * * * *", "30m", "PT15M", "none",
         "1h30m", "0s", "-5m", "2026-01-01", "2026-02-30", "Mon", "last", "first", "..", ".", "CON",
         "a\\b", "x" * 201, "%PATH%", "a&b", "<x>", "]]>", "yes", "no", "~", "null", ""]
scalars = st.one_of(st.sampled_from(WORDS), st.text(max_size=12), st.integers(-10**20, 10**20),
                    st.booleans(), st.none(), st.floats(allow_nan=True, allow_infinity=True))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=20)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    import copy

    document = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3))
        node: Any = document
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        if draw(st.booleans()) and path[-1] in node:
            del node[path[-1]]
        else:
            node[path[-1]] = draw(values)
    return document


def test_the_base_manifest_is_valid() -> None:
    assert outcome(yaml.safe_dump(BASE).encode()) == "tasks"


@FUZZ
@given(mutated())
def test_mutated_manifests(document: dict[str, Any]) -> None:
    content = yaml.safe_dump(document, allow_unicode=True).encode("utf-8")
    outcome(content)


@settings(FUZZ, max_examples=100)
@given(st.lists(mutated(), min_size=2, max_size=3), st.booleans())
def test_several_documents_and_defaults(documents: list[dict[str, Any]], defaults: bool) -> None:
    if defaults:
        documents[0] = {"apiVersion": "reconcile/v1", "kind": "Defaults", "spec": documents[0].get("spec", {})}
    content = yaml.safe_dump_all(documents, allow_unicode=True).encode("utf-8")
    outcome(content)


# --- random YAML text, bytes, Unicode -----------------------------------------------------

TOKENS = ["a", "name", "spec", "apiVersion: reconcile/v1\n", "kind: ScheduledTask\n", "metadata:\n",
          "  name: t\n", "spec:\n", "  actions:\n", "    - command: a.exe\n", "  runAs: {user: SYSTEM}\n",
          ":", ": ", " ", "  ", "-", "- ", "\n", "\r\n", "\t", "[", "]", "{", "}", ",", "&a ", "*a", "<<: ",
          "!!str ", "!!int ", "!!binary ", "!x ", "!!python/object:os.system ", "'", '"', "\\", "#", "|",
          ">", "? ", "---\n", "...\n", "%YAML 1.2\n", "%TAG ! tag:x,2000:\n", "0x1F", "1e9", ".inf",
          "9" * 30, "\u00e9", "\u2028", "\ufeff"]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_random_yaml_text(text: str) -> None:
    content = text.encode("utf-8")
    outcome(content)


def _printable_bytes(raw: bytes) -> bytes:
    return bytes(b if b in (9, 10, 13) or 32 <= b != 127 else 32 for b in raw)


@FUZZ
@given(st.binary(max_size=400).map(_printable_bytes))
@example(b"\xff\xfe")
@example(b"\xef\xbb\xbf")
@example(b"a: \xe9")
def test_random_bytes(content: bytes) -> None:
    outcome(content)


@FUZZ
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff")
               | st.sampled_from("\t\n\r"), max_size=200),
       st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_random_unicode_in_every_accepted_encoding(text: str, encoding: str) -> None:
    outcome(text.encode(encoding))


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join), st.sampled_from(["utf-16-le", "utf-16-be", "latin-1"]))
def test_encodings_reconcile_does_not_accept(text: str, encoding: str) -> None:
    content = text.encode(encoding, "replace")
    outcome(content)


@FUZZ
@given(st.text(max_size=30), st.sampled_from("\x00\x01\x08\x0b\x0c\x1b\x7f\x80\x9f\ufffe"), st.text(max_size=30))
@example("a: ", "\x00", "")
def test_control_characters_are_one_line_each(before: str, char: str, after: str) -> None:
    outcome((before + char + after).encode("utf-8"))


# --- the task-XML reader ---------------------------------------------------------------------

def read_task_xml(raw: bytes) -> None:
    """decode + parse + canonical: TaskXmlError or success, nothing else."""
    try:
        normalize.canonical(taskxml.parse(taskxml.decode(raw)))
    except TaskXmlError:
        pass


ELEMENTS = ["RegistrationInfo", "Description", "URI", "Source", "Documentation", "Triggers", "CalendarTrigger",
            "TimeTrigger", "BootTrigger", "LogonTrigger", "EventTrigger", "IdleTrigger", "RegistrationTrigger",
            "SessionStateChangeTrigger", "WnfStateChangeTrigger", "StartBoundary", "EndBoundary", "Enabled",
            "Repetition", "Interval", "Duration", "StopAtDurationEnd", "ExecutionTimeLimit", "RandomDelay",
            "Delay", "UserId", "StateChange", "Subscription", "ValueQueries", "Value", "ScheduleByDay",
            "DaysInterval", "ScheduleByWeek", "WeeksInterval", "DaysOfWeek", "Monday", "Sunday",
            "ScheduleByMonth", "DaysOfMonth", "Day", "Months", "January", "ScheduleByMonthDayOfWeek", "Weeks",
            "Week", "Principals", "Principal", "GroupId", "LogonType", "RunLevel", "RequiredPrivileges",
            "Privilege", "ProcessTokenSidType", "Settings", "Priority", "RestartOnFailure", "Count",
            "MultipleInstancesPolicy", "IdleSettings", "WaitTimeout", "NetworkSettings", "Name", "Id",
            "MaintenanceSettings", "Period", "Deadline", "DeleteExpiredTaskAfter", "Actions", "Exec",
            "Command", "Arguments", "WorkingDirectory", "ComHandler", "ClassId", "Data", "SendEmail",
            "ShowMessage", "NumberOfOccurrences", "PeriodOfOccurrence", "MatchingElement", "StateName",
            "DataOffset", "Unknown"]
TEXTS = st.one_of(st.sampled_from(["", " ", "true", "false", "1", "0", "-1", "abc", "PT5M", "P", "PT", "P1Y2M",
                                   "-PT5M", "PT1.5S", "2020-01-01T00:00:00", "2020-13-45T99:99:99", "Z",
                                   "S-1-5-18", "SYSTEM", "Last", "9" * 40, "IgnoreNew", "Password",
                                   "HighestAvailable", "{0F87369F-A4E5-4CFC-BD3E-73E6154572DD}"]),
                  st.text(max_size=8))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _tree(depth: int) -> st.SearchStrategy[str]:
    leaf = TEXTS.map(_escape)
    if depth == 0:
        return leaf
    return st.one_of(leaf, st.lists(st.tuples(st.sampled_from(ELEMENTS), _tree(depth - 1),
                                              st.sampled_from(["", ' id="Author"', ' Context="x"', ' name="n"'])),
                                    max_size=4).map(lambda kids: "".join(f"<{n}{a}>{c}</{n}>" for n, c, a in kids)))


@FUZZ
@given(_tree(4), st.sampled_from([TASK_NS, "", "urn:other"]), st.sampled_from(["1.2", "1.4", "9", ""]))
def test_structured_task_xml(body: str, namespace: str, version: str) -> None:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    document = f'<?xml version="1.0" encoding="UTF-16"?>\n<Task version="{version}"{xmlns}>{body}</Task>'
    for raw in (document.encode("utf-16"), document.encode("utf-8"), b"\xef\xbb\xbf" + document.encode("utf-8")):
        read_task_xml(raw)


@FUZZ
@given(st.binary(max_size=300))
@example(b"")
@example(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>")
@example(b"<Task><Actions><Exec><Command>\x00</Command></Exec></Actions></Task>")
def test_random_bytes_to_the_task_xml_reader(raw: bytes) -> None:
    read_task_xml(raw)


@FUZZ
@given(st.lists(st.sampled_from(["<Task>", "</Task>", "<Settings>", "</Settings>", "<Priority>", "</Priority>",
                                 "<!--", "-->", "<![CDATA[", "]]>", "<?xml version='1.0'?>", "<!DOCTYPE Task>",
                                 "<!ENTITY x 'y'>", "&x;", "&amp;", "&#0;", "&#x10FFFF;", "&#xD800;",
                                 f'<Task xmlns="{TASK_NS}">', "<a:b xmlns:a='u'>", "</a:b>", "x", " ", "\n",
                                 "\u00e9", "\ufeff"]), max_size=40).map("".join),
       st.sampled_from(["utf-8", "utf-16", "utf-16-le", "cp1252"]))
def test_random_xml_text_to_the_task_xml_reader(text: str, encoding: str) -> None:
    read_task_xml(text.encode(encoding, "replace"))


@FUZZ
@given(st.sampled_from([b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"<\x00a\x00"]), st.binary(max_size=40))
@example(b"\xff\xfe", b"<")
def test_decode_never_raises_a_unicode_error(prefix: bytes, rest: bytes) -> None:
    raw = prefix + rest
    try:
        normalize.canonical(taskxml.parse(taskxml.decode(raw)))
    except TaskXmlError:
        pass
