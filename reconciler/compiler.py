"""A schema-valid manifest document (Defaults merged in) -> TaskSpec.

The schema has already checked shapes and spellings; this module checks what a schema
cannot (names, dates that exist, cron, account rules, limits that span keys) and turns
the friendly manifest forms into Task Scheduler's own terms. Every problem is recorded
with the position of the key that causes it; compilation goes on to find the rest.

The parts live beside it: ``compile_triggers`` (schedule and triggers),
``compile_actions`` (actions and runAs), ``compile_settings`` (settings, through the
one table in ``tasksettings``), ``compile_rules`` (Windows' rules across them);
``compile_base`` holds what they share."""
from __future__ import annotations

from typing import Any, Callable

from . import names, vocabulary
from .compile_actions import compile_actions, compile_principal
from .compile_base import Located, Reporter, short
from .compile_rules import check_task
from .compile_settings import compile_settings
from .compile_triggers import TriggerCompiler
from .fleet.targets import compile_targets
from .limits import DEFAULT_START, MAX_TRIGGERS
from .model import Origin, Principal, TaskSpec, Trigger
from .tasksettings import ORDER as _SETTINGS_ORDER
from .taskxml import invalid_xml_char
from .yamlpos import PosDict

__all__ = ["Compiler", "Located", "short", "DEFAULT_START", "MAX_TRIGGERS"]


def _plain(value: Any) -> Any:
    """Plain dicts and lists (no YAML positions) for data carried into the TaskSpec."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Compiler(Reporter):
    def __init__(self, located: Located, root: str,
                 convert_cron: Callable[..., Any] | None = None, lenient: bool = False) -> None:
        super().__init__(located)
        self.root = root
        self._trigger_compiler = TriggerCompiler(self, convert_cron)
        # lenient: the document already failed the schema. Each part is still compiled
        # to find more problems, and a part whose shape is wrong is skipped, not a crash.
        self.lenient = lenient

    def _part(self, build: Callable[[], Any], fallback: Any) -> Any:
        if not self.lenient:
            return build()
        try:
            return build()
        except (KeyError, TypeError, AttributeError, ValueError, IndexError):
            return fallback

    # --- the task ------------------------------------------------------------------
    def compile(self) -> TaskSpec | None:
        data = self.doc.data
        metadata = data.get("metadata") or {}
        spec = data.get("spec") or {}
        path = self._part(lambda: self._path(metadata), None)
        triggers = self._part(lambda: self._triggers(spec), ())
        actions = self._part(lambda: self._actions(spec), ())
        principal = self._part(lambda: self._principal(spec), None)
        settings = self._part(lambda: self._settings(spec), ())
        run = spec.get("run") if isinstance(spec.get("run"), dict) else None
        if run is not None:
            from .workflow.spec import RunSpec  # only a task with a run block needs the workflow code
            settings = self._part(lambda: self._run_settings(spec, run, settings), settings)
        self._part(lambda: check_task(spec, triggers, settings, self), None)
        if (self._overlap and not (run or {}).get("after")
                and dict(settings).get("MultipleInstancesPolicy", "IgnoreNew") != "IgnoreNew"):
            self.problem(("spec", "settings", "multipleInstances"),
                         "this task's cron schedule can fire two triggers at the same minute; "
                         "it needs multipleInstances: ignoreNew so no minute starts two runs")
        targets = self._part(lambda: compile_targets(self, metadata, spec), None)
        registration = tuple(
            (element, metadata[key]) for key, element in vocabulary.REGISTRATION.items() if key in metadata
        )
        if self.problems or self.lenient or path is None or principal is None:
            return None  # lenient: the document failed the schema; only its problems count
        file, line, column = self.doc.where(("metadata", "name"))
        return TaskSpec(
            path=path,
            name=metadata["name"],
            folder=tuple(names.split_folder(metadata.get("folder", ""))),
            description=metadata.get("description"),
            triggers=triggers,
            actions=actions,
            principal=principal,
            settings=settings,
            registration=registration,
            data=spec.get("data"),
            protect=bool(spec.get("protect", False)),
            adopt=bool(metadata.get("adopt", False)),
            origin=Origin(file, line, column),
            run=RunSpec.from_manifest(run) if run is not None else None,
            runner=_plain(spec.get("runner")) if run is not None else None,
            targets=targets,
        )

    def _run_settings(self, spec: dict[str, Any], run: dict[str, Any],
                      settings: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
        """What a run block changes beside it: its own checks, the retry rule, and the
        default "queue" for tasks started by their dependencies."""
        from . import workflow

        for path, message in workflow.check_task(spec):
            self.problem(("spec",) + tuple(path), message)
        out = dict(settings)
        if run.get("retry") and "RestartOnFailure" in out and self._inherited(("spec", "settings", "retry")):
            # run.retry replaces Task Scheduler's restarts; an inherited settings.retry
            # (from Defaults) yields to it. The task's own settings.retry is an error
            # (reported with the dependencies, where the rule lives).
            del out["RestartOnFailure"]
        if run.get("after") and "multipleInstances" not in (spec.get("settings") or {}):
            # A dependency's wake-up must not be dropped while another start is deciding:
            # the runner's lock makes a queued second start harmless.
            out["MultipleInstancesPolicy"] = workflow.MULTIPLE_INSTANCES_WITH_AFTER
        return tuple((name, out[name]) for name in _SETTINGS_ORDER if name in out)

    def _inherited(self, path: tuple[Any, ...]) -> bool:
        """True if the value at ``path`` came from a Defaults document."""
        node: Any = self.doc.data
        for step in path:
            if not isinstance(node, PosDict) or step not in node:
                return False
            if step in node.files:
                return True
            node = node[step]
        return False

    def _path(self, metadata: dict[str, Any]) -> str | None:
        name = metadata.get("name")
        if not isinstance(name, str):
            return None
        ok = True
        # A character XML cannot hold is reported once, by the XML check.
        problem = names.segment_problem(name) if invalid_xml_char(name) is None else "(reported)"
        if problem == "(reported)":
            ok = False
        elif problem:
            self.problem(("metadata", "name"), f"task name {short(name)} {problem}")
            ok = False
        folder = metadata.get("folder", "")
        segments = names.split_folder(folder) if isinstance(folder, str) else []
        if isinstance(folder, str) and "/" in folder:
            self.problem(("metadata", "folder"), f"folder {short(folder)} uses '/': separate folders with '\\'")
            ok = False
            segments = []
        for segment in segments:
            problem = names.segment_problem(segment)
            if problem and invalid_xml_char(segment) is not None:
                ok = False  # reported by the XML check
            elif problem:
                self.problem(("metadata", "folder"), f"folder {short(segment)} {problem}")
                ok = False
        if not ok:
            return None
        path = names.join(self.root, segments, name)
        if len(path) > names.MAX_PATH:
            self.problem(("metadata", "name"),
                         f"the task path {path} is {len(path)} characters long; "
                         f"Task Scheduler allows {names.MAX_PATH}")
            return None
        return path

    # --- the parts --------------------------------------------------------------------
    @property
    def _overlap(self) -> bool:
        """One of the task's cron schedules can fire two triggers at the same minute."""
        return self._trigger_compiler.overlap

    def _triggers(self, spec: dict[str, Any]) -> tuple[Trigger, ...]:
        return self._trigger_compiler.compile(spec)

    def _actions(self, spec: dict[str, Any]) -> tuple[Any, ...]:
        return compile_actions(spec, self)

    def _principal(self, spec: dict[str, Any]) -> Principal | None:
        return compile_principal(spec, self)

    def _settings(self, spec: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
        return compile_settings(spec, self)
