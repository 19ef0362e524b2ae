"""A change of the plan in the words of the manifest: ``trigger: daily at 03:00 ->
weekly on Mon-Sat at 02:00``, ``runs as: SYSTEM -> NETWORK SERVICE``, ``after:
vbs-automation -> excel-processing``, ``argument 3: --attach -> --attachment``.

Pure: it reads a Change's canonical forms (what the plan holds, also in a saved plan)
and returns Lines; the text, JSON and Markdown views print the same Lines, so they are
one view of one plan.

- a create says every attribute that differs from Task Scheduler's default, as
  Terraform shows every attribute of a new resource;
- an update says each changed attribute as before -> after, in the manifest's keys
  (``timeout``, ``retry``, ``run.retry``) and the create view's words (``trigger``,
  ``action``, ``runs as``, ``after``); a changed element no word stands for is said by
  its element path, so nothing that changes is ever left unsaid;
- drift (a change made on the machine) is said element by element, as the machine
  holds it (``Settings/Enabled: false -> true``), with durations and accounts in words."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from xml.sax.saxutils import unescape

from . import accounts, diff, names, plan_phrases as say, tasksettings, vocabulary
from .model import Action, Change, FieldChange

NONE = "(none)"


@dataclass(frozen=True)
class Line:
    """One line of a change: ``label: before -> after`` (None: absent; a create has
    no before). ``fields`` are the element paths of the canonical form it stands for."""

    label: str
    before: str | None
    after: str | None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Said:
    """One attribute of a task as the plan says it."""

    label: str
    text: str
    value: Any  # what the text stands for: two values that differ never read the same
    element: str  # where it is in the canonical form
    kind: str = ""  # for lists (triggers, conditions): what pairs a changed item with its old self
    default: str | None = None  # how an update says it when it is left out


@dataclass
class _View:
    """A canonical task form in the manifest's words."""

    said: list[_Said] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)  # manifest actions
    actions_at: str = "Actions"  # their element (the runner's payload, or the task's)

    def add(self, *items: _Said) -> None:
        self.said.extend(items)


# --- a task in words -----------------------------------------------------------------------

def _spelled(setting: tasksettings.Setting, value: Any) -> Any:
    """A setting's value as the manifest spells it (``ignoreNew``, ``30m``, ``none``)."""
    if setting.words is not None:
        return vocabulary.inverse(setting.words).get(value, value)
    if setting.kind == vocabulary.DUR and isinstance(value, str):
        return setting.none if setting.none and value == "PT0S" else say.duration(value)
    return value


def _members(members: Iterable[tasksettings.Setting], values: dict[str, Any]) -> dict[str, Any]:
    """The members whose value is not Task Scheduler's default, spelled."""
    out: dict[str, Any] = {}
    for member in members:
        value = values.get(member.element, member.default)
        if value is not None and (value != member.default or member.required):
            out[member.key] = _spelled(member, value)
    return out


def _group_default(group: tasksettings.Group) -> str | None:
    if all(m.default is not None for m in group.members):
        return say.flow({m.key: _spelled(m, m.default) for m in group.members})
    return None


def _settings(settings: dict[str, Any], queue_default: bool) -> list[_Said]:
    out: list[_Said] = []
    for row in tasksettings.TABLE:
        if isinstance(row, tasksettings.Setting):
            default = row.default
            if row.key == "multipleInstances" and queue_default:
                default = "Queue"  # a task run after others queues by default (README "Workflows")
            value = settings.get(row.element, default)
            text_default = None if default is None else say.scalar(_spelled(row, default))
            if value is not None and value != default:
                out.append(_Said(row.key, say.scalar(_spelled(row, value)), value, f"Settings/{row.element}",
                                 default=text_default))
            continue
        body = settings if row.element is None else settings.get(row.element)
        if not isinstance(body, dict):
            continue
        shown = _members(row.members, body)
        if shown or (row.element is not None and not row.always):
            where = f"Settings/{row.element}" if row.element else "Settings"
            value = shown if row.element is None else body
            out.append(_Said(row.key, say.flow(shown), value, where, default=_group_default(row)))
    return out


# The account of the task's principal in the XML to register (after the triggers, whose
# UserId is another account's).
_PRINCIPAL_ACCOUNT = re.compile(r"<Principal\b.*?<(UserId|GroupId)>([^<]*)</\1>", re.DOTALL)


def written_account(xml: str | None) -> str | None:
    """The principal's account as the manifest spells it (``CONTOSO\\svc``): the XML to
    register keeps the spelling, the canonical form the plan compares upper-cases it."""
    if not xml:
        return None
    start = xml.find("<Principals")
    found = _PRINCIPAL_ACCOUNT.search(xml, start) if start != -1 else None
    return unescape(found.group(2)) if found else None


def _principal(principal: dict[str, Any], written: str | None = None) -> list[_Said]:
    out: list[_Said] = []
    user, group = principal.get("UserId"), principal.get("GroupId")
    if user or group:
        account = str(user or group)
        # As written when it is the same account in another case; a SID or a name the
        # canonical form spells otherwise is said by the canonical form.
        shown = written if written is not None and written.casefold() == account.casefold() else account
        who = accounts.display(shown) + ("" if user else " (group)")
        out.append(_Said("runs as", who, (user, group), "Principal/UserId" if user else "Principal/GroupId"))
    logon = principal.get("LogonType")
    if logon and not (user in accounts.SERVICE_SIDS and logon == "ServiceAccount"):
        word = vocabulary.inverse(vocabulary.LOGON).get(logon, logon)
        out.append(_Said("logonType", word, logon, "Principal/LogonType"))
    if principal.get("RunLevel") == vocabulary.RUN_LEVEL["highest"]:
        out.append(_Said("runLevel", "highest", principal["RunLevel"], "Principal/RunLevel", default="limited"))
    if principal.get("DisplayName"):
        out.append(_Said("displayName", say.scalar(principal["DisplayName"]), principal["DisplayName"],
                         "Principal/DisplayName"))
    if "ProcessTokenSidType" in principal:
        value = principal["ProcessTokenSidType"]
        out.append(_Said("processTokenSidType", vocabulary.inverse(vocabulary.SID_TYPE).get(value, value),
                         value, "Principal/ProcessTokenSidType"))
    if principal.get("RequiredPrivileges"):
        out.append(_Said("requiredPrivileges", say.flow(principal["RequiredPrivileges"]),
                         principal["RequiredPrivileges"], "Principal/RequiredPrivileges"))
    return out


def _one_key(item: Any) -> tuple[str, Any]:
    if isinstance(item, dict) and len(item) == 1:
        return next(iter(item.items()))
    return "", item


def _item_text(item: Any) -> str:
    """A list item of the run block (``{fileExists: D:\\x}``) as ``fileExists D:\\x``."""
    kind, body = _one_key(item)
    value = body if isinstance(body, str) else say.flow(body)
    return f"{kind} {value}" if kind else say.flow(item)


def _after_text(entries: list[Any]) -> str:
    parts = []
    for entry in entries:
        if isinstance(entry, dict):
            parts.append(f"{entry.get('task')} ({entry.get('require', 'succeeded')})")
        else:
            parts.append(str(entry))
    return ", ".join(parts)


_RUN_LABEL = {"retry": "run.retry"}  # the one run key whose name a setting also has


def _run(run: dict[str, Any], runner: dict[str, Any], where: str) -> list[_Said]:
    out: list[_Said] = []
    for key, value in run.items():
        element = f"{where}/run/{key}"
        if key == "after":
            out.append(_Said("after", _after_text(value), value, element))
        elif key in ("when", "notify") and isinstance(value, (list, dict)):
            items = value.get("onFailure", []) if isinstance(value, dict) else value
            out.extend(_Said(key, _item_text(item), item, f"{element}[{index}]", kind=_one_key(item)[0])
                       for index, item in enumerate(items))
        else:
            out.append(_Said(_RUN_LABEL.get(key, key), say.scalar(value), value, element))
    out.append(_Said("runner", say.flow(runner), runner, f"{where}/python"))
    return out


def _runner(actions: list[Any], root: str) -> dict[str, Any] | None:
    """A task registered through the runner: its real actions, run block and runner."""
    if len(actions) != 1 or not isinstance(actions[0], dict) or not isinstance(actions[0].get("Exec"), dict):
        return None
    from . import workflow

    body = actions[0]["Exec"]
    if not body.get("Arguments"):
        return None
    return workflow.parse_runner_action(body.get("Command", ""), body.get("Arguments"), root)


def _exec_actions(actions: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for action in actions:
        kind, body = _one_key(action)
        body = body if isinstance(body, dict) else {}
        if kind == "Exec":
            out.append({k: v for k, v in (("command", body.get("Command", "")),
                                          ("arguments", say.arguments_list(body.get("Arguments"))
                                           or body.get("Arguments")),
                                          ("workingDirectory", body.get("WorkingDirectory"))) if v})
        elif kind == "ComHandler":
            out.append({"comHandler": {"classId": body.get("ClassId", ""), "data": body.get("Data")}})
        else:
            out.append({"other": action})
    return out


def _relative(path: str, root: str) -> str:
    return names.relative(path, root) if names.is_under(path, root) else path


def _triggers(triggers: list[Any], waking: set[str], root: str) -> list[_Said]:
    from . import workflow

    out: list[_Said] = []
    for index, trigger in enumerate(triggers):
        dependency = workflow.wake_trigger_task(trigger)
        if dependency is not None and names.key(_relative(dependency, root)) in waking:
            continue  # derived from run.after, which says it
        form = say.trigger_form(trigger) if dependency is None else None
        if dependency is not None:
            text = f"when {_relative(dependency, root)} finishes"
        else:
            text = say.trigger(form) if form is not None else diff.trigger_summary(trigger)
        out.append(_Said("trigger", text, trigger, f"Triggers[{index}]", kind=_one_key(trigger)[0]))
    return out


def view(form: dict[str, Any], root: str, written: str | None = None) -> _View:
    """A canonical task form in the manifest's words (``written``: its account as the
    manifest spells it)."""
    out = _View()
    registration = form.get("RegistrationInfo") or {}
    if registration.get("Description"):
        out.add(_Said("description", say.scalar(registration["Description"]), registration["Description"],
                      "RegistrationInfo/Description"))
    settings = form.get("Settings") or {}
    if settings.get("Enabled") is False:
        out.add(_Said("enabled", "false", False, "Settings/Enabled", default="true"))
    runner = _runner(form.get("Actions") or [], root)
    run: dict[str, Any] = {}
    if runner is not None:
        from .runner.secrets import redact_run_urls

        # URLs said without user-info or query string: tokens travel there (README "Security").
        run = redact_run_urls(runner["run"])
    waking = {names.key(e if isinstance(e, str) else str(e.get("task"))) for e in run.get("after", [])}
    out.add(*_triggers(form.get("Triggers") or [], waking, root))
    if runner is not None:
        out.actions, out.actions_at = runner["actions"], "Actions[0]/Runner/actions"
    else:
        out.actions = _exec_actions(form.get("Actions") or [])
    out.add(*_principal(form.get("Principal") or {}, written))
    out.add(*_settings(settings, queue_default=bool(run.get("after"))))
    if runner is not None:
        out.add(*_run(run, runner["runner"], "Actions[0]/Runner"))
    for key, element in vocabulary.REGISTRATION.items():
        if registration.get(element):
            out.add(_Said(key, say.scalar(registration[element]), registration[element],
                          f"RegistrationInfo/{element}"))
    if "Data" in form:
        out.add(_Said("data", say.scalar(form["Data"]), form["Data"], "Data"))
    return out


# --- a create --------------------------------------------------------------------------------

def _action_label(index: int, many: bool, what: str = "") -> str:
    head = f"action {index + 1}" if many else "action"
    if not what:
        return head
    return f"{head} {what}" if many else what


def created(form: dict[str, Any], root: str, *, protect: bool = False,
            password_env: str | None = None, xml: str | None = None) -> list[Line]:
    """Every attribute of a new task that is not Task Scheduler's default (``xml``: the
    XML to register, for the account as written)."""
    task = view(form, root, written_account(xml))
    lines = [Line(s.label, None, s.text, (s.element,)) for s in _ordered(task.said)]
    at = _index_of_label(lines, ("after", "trigger", "enabled", "description"))
    lines[at:at] = [Line("action", None, say.action(a), (f"{task.actions_at}[{i}]",))
                    for i, a in enumerate(task.actions)]
    if password_env:
        lines.append(Line("password", None, f"from the environment variable {password_env} at apply",
                          ("password",)))
    if protect:
        lines.append(Line("protect", None, "true", ("protect",)))
    return lines


def _index_of_label(lines: list[Line], after_these: tuple[str, ...]) -> int:
    """Where the actions go: after the lines that say when the task starts."""
    positions = [i for i, line in enumerate(lines) if line.label in after_these]
    return positions[-1] + 1 if positions else 0


# --- an update -------------------------------------------------------------------------------

_ORDER = ("description", "enabled", "trigger", "after", "action", "runs as", "logonType", "runLevel",
          "displayName", "processTokenSidType", "requiredPrivileges",
          *(row.key for row in tasksettings.TABLE), "when", "run.retry", "attemptTimeout", "log", "notify",
          "runner", *vocabulary.REGISTRATION, "data")


def _rank(label: str) -> int:
    return _ORDER.index(label) if label in _ORDER else len(_ORDER)


def _ordered(said: list[_Said]) -> list[_Said]:
    return sorted(said, key=lambda s: _rank(s.label))  # stable: list items keep their order


def _pairs(before: list[_Said], after: list[_Said]) -> list[tuple[_Said | None, _Said | None]]:
    """Items of one list attribute, old with new: equal ones drop out whatever their
    position, the rest pair by kind in order, then in order, and what is left over was
    added or removed."""
    left = [b for b in before]
    right: list[_Said] = []
    for item in after:
        match = next((b for b in left if b.value == item.value), None)
        if match is not None:
            left.remove(match)
        else:
            right.append(item)
    pairs: list[tuple[_Said | None, _Said | None]] = []
    unpaired: list[_Said] = []
    for item in right:
        partner = next((b for b in left if b.kind == item.kind), None)
        if partner is None:
            unpaired.append(item)
            continue
        left.remove(partner)
        pairs.append((partner, item))
    for item in unpaired:
        pairs.append((left.pop(0) if left else None, item))
    pairs.extend((b, None) for b in left)
    return pairs


def _element_lines(path: str, before: Any, after: Any) -> list[Line]:
    """What differs between two values that read the same, element by element."""
    return [_element_line(f) for f in diff.field_changes(before, after, path)]


def _element_line(change: FieldChange) -> Line:
    return Line(change.field, change.before, change.after, (change.field,))


def _line(label: str, before: _Said | None, after: _Said | None) -> list[Line]:
    if before is not None and after is not None and before.value == after.value:
        return []  # the same, whatever the spelling (an account as written: CONTOSO\svc)
    if before is not None and after is not None and before.text == after.text:
        return _element_lines(after.element, before.value, after.value)
    was = before.text if before is not None else (after.default if after is not None else None)
    now = after.text if after is not None else (before.default if before is not None else None)
    elements = tuple(dict.fromkeys(s.element for s in (before, after) if s is not None))
    return [Line(label, was, now, elements)]


_LISTS = ("trigger", "when", "notify")


def _said_lines(before: list[_Said], after: list[_Said]) -> list[Line]:
    labels = sorted(dict.fromkeys([s.label for s in before] + [s.label for s in after]), key=_rank)
    lines: list[Line] = []
    for label in labels:
        old = [s for s in before if s.label == label]
        new = [s for s in after if s.label == label]
        if label in _LISTS:
            for was, now in _pairs(old, new):
                lines.extend(_line(label, was, now))
        else:
            lines.extend(_line(label, old[0] if old else None, new[0] if new else None))
    return lines


def _argument_lines(prefix: Callable[[str], str], before: list[str], after: list[str],
                    element: str) -> list[Line] | None:
    """The changed arguments one by one, when only a few of the same number changed."""
    if len(before) != len(after):
        return None
    changed = [i for i, (b, a) in enumerate(zip(before, after)) if b != a]
    if len(changed) > 3:
        return None
    return [Line(prefix(f"argument {i + 1}"), say.arguments_text([before[i]]), say.arguments_text([after[i]]),
                 (element,)) for i in changed]


def _one_action(prefix: Callable[[str], str], before: dict[str, Any], after: dict[str, Any],
                element: str) -> list[Line]:
    if "command" not in before or "command" not in after or before["command"] != after["command"]:
        return [Line(prefix(""), say.action(before), say.action(after), (element,))]
    lines: list[Line] = []
    if before.get("arguments") != after.get("arguments"):
        old, new = say.arguments_list(before.get("arguments")), say.arguments_list(after.get("arguments"))
        one_by_one = _argument_lines(prefix, old, new, element) if old is not None and new is not None else None
        lines += one_by_one if one_by_one is not None else [Line(
            prefix("arguments"), say.arguments_text(before.get("arguments")) or NONE,
            say.arguments_text(after.get("arguments")) or NONE, (element,))]
    if before.get("workingDirectory") != after.get("workingDirectory"):
        lines.append(Line(prefix("working directory"), before.get("workingDirectory") or NONE,
                          after.get("workingDirectory") or NONE, (element,)))
    return lines


def _action_lines(before: _View, after: _View) -> list[Line]:
    many = max(len(before.actions), len(after.actions)) > 1
    lines: list[Line] = []
    for index in range(max(len(before.actions), len(after.actions))):
        old = before.actions[index] if index < len(before.actions) else None
        new = after.actions[index] if index < len(after.actions) else None
        element = f"{(after if new is not None else before).actions_at}[{index}]"
        if old == new:
            continue

        def prefix(what: str, index: int = index) -> str:
            return _action_label(index, many, what)

        if old is None or new is None:
            lines.append(Line(prefix(""), say.action(old) if old else None, say.action(new) if new else None,
                              (element,)))
        else:
            lines += _one_action(prefix, old, new, element)
    return lines


# Element paths a word of the views above stands for; a changed element outside them is
# said by its path.
_SAID_ELEMENTS = ("Triggers", "Actions", "Data", "protect", "password", "Settings/Enabled",
                  *(f"Principal/{e}" for e in ("UserId", "GroupId", "LogonType", "RunLevel", "DisplayName",
                                                "ProcessTokenSidType", "RequiredPrivileges")),
                  "RegistrationInfo/Description", *(f"RegistrationInfo/{e}" for e in vocabulary.REGISTRATION.values()),
                  *(f"Settings/{e}" for e in tasksettings.ELEMENTS))


def _said_by_a_word(path: str) -> bool:
    return any(path == p or path.startswith((p + "/", p + "[")) for p in _SAID_ELEMENTS)


def updated(change: Change, root: str) -> list[Line]:
    """An update in the manifest's words (drift: element by element)."""
    marker = [_element_line(f) for f in change.fields if f.field in ("protect", "password")]
    if change.drift or change.before is None or change.after is None:
        return [_element_line(f) for f in change.fields if f.field not in ("protect", "password")] + marker
    before, after = view(change.before, root), view(change.after, root, written_account(change.xml))
    lines = _said_lines(before.said, after.said)
    at = _index_of_label(lines, ("after", "trigger", "enabled", "description"))
    lines[at:at] = _action_lines(before, after)
    lines += [_element_line(f) for f in change.fields if not _said_by_a_word(f.field)]
    if not lines:  # what changed is only what the words derive (a root's spelling): say it as it is
        lines = [_element_line(f) for f in change.fields if f.field not in ("protect", "password")]
    return lines + marker


def describe(change: Change, root: str) -> list[Line]:
    """The lines every view prints for one change."""
    if change.action is Action.CREATE and change.after is not None:
        return created(change.after, root, protect=change.protect, password_env=change.password_env,
                       xml=change.xml)
    if change.action is Action.UPDATE:
        return updated(change, root)
    return []
