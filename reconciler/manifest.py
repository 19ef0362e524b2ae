"""Manifests on disk -> TaskSpecs, or every problem found, each at ``file:line:col``.

Reads every ``*.yaml``/``*.yml`` under the directory (recursively, several documents
per file), validates each document against the schema, applies the nearest Defaults,
compiles each task and checks what spans files (duplicate names). It never stops at
the first problem: one run shows them all."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from . import names, schema
from .compiler import Compiler, Located
from .errors import ManifestError, Problem, UsageError
from .model import TaskSpec
from .yamlhints import escape_advice
from .yamlpos import Document as YamlDocument
from .yamlpos import MAX_FILE_BYTES, PosDict, YamlError, decode, load_all, position

# Keys that hold a path: a control character in one is never meant (Windows file names
# cannot hold characters 1 to 31: Microsoft Learn, "Naming Files, Paths, and Namespaces").
_PATHS = {"command", "workingDirectory"}
# Keys whose value replaces the Defaults' value instead of merging into it.
_REPLACED = {"schedule", "triggers", "actions", "runAs", "notify"}


class Selection(Protocol):
    """Which tasks one machine of a fleet receives (``reconciler.fleet.targets``)."""

    @property
    def label(self) -> str: ...  # "host srv-a02 (groups: prod)", for messages

    @property
    def host_name(self) -> str: ...  # the inventory's name of the host

    def wants(self, task: TaskSpec) -> bool: ...

    def problems(self, task: TaskSpec) -> list[Problem]: ...  # names in its targets the inventory lacks


@dataclass
class Document:
    file: str  # the path as shown to the user
    directory: Path  # relative to --dir, for Defaults lookup
    data: PosDict
    line: int
    column: int
    schema_valid: bool = True


def is_manifest_file(name: str) -> bool:
    """``*.yaml`` and ``*.yml``, in any case (``Task.YAML``: Windows names ignore case);
    hidden files are not manifests."""
    return name.lower().endswith((".yaml", ".yml")) and not name.startswith(".")


_LOOK_ALIKE = re.compile(r"\.(ya?ml|yaml?|ymal|yalm)(?![a-z0-9])", re.IGNORECASE)


def look_alikes(directory: str) -> list[str]:
    """Warnings for files that look like manifests but are not read (``task.yaml.txt``,
    ``task.yml.bak``, ``task.ymal``): a manifest saved under such a name would silently
    describe nothing."""
    out: list[str] = []
    if not os.path.isdir(directory):
        return out
    for current, folders, files in os.walk(directory):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and not is_manifest_file(name) and _LOOK_ALIKE.search(name):
                out.append(f"{os.path.join(current, name)}: not read: only files named *.yaml or *.yml "
                           "are manifests")
    return out


def discover(directory: str) -> list[tuple[str, list[str]]]:
    """Manifest files under ``directory``, folder by folder (a folder before the folders
    in it), as paths the user recognises (``tasks.d/excel.yaml``). Hidden folders
    (``.git``) are skipped."""
    if not os.path.isdir(directory):
        if os.path.exists(directory):
            raise UsageError(f"--dir {directory}: not a directory")
        raise UsageError(f"--dir {directory}: no such directory")
    found: list[tuple[str, list[str]]] = []
    for current, folders, files in os.walk(directory):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        manifests = [os.path.join(current, f) for f in sorted(files) if is_manifest_file(f)]
        if manifests:
            found.append((current, manifests))
    return found


def _read(file: str, problems: list[Problem]) -> list[Any]:
    try:
        size = os.path.getsize(file)
        if size > MAX_FILE_BYTES:
            problems.append(Problem(file, 1, 1, f"the file is {size // 1024 // 1024} MB; manifests are "
                                                f"limited to {MAX_FILE_BYTES // 1024 // 1024} MB"))
            return []
        with open(file, "rb") as handle:
            raw = handle.read()
        return load_all(decode(raw))
    except YamlError as err:
        problems.append(Problem(file, err.line, err.column, err.message))
    except OSError as err:
        problems.append(Problem(file, 1, 1, f"cannot read the file: {err.strerror}"))
    return []


def _merge(defaults: PosDict, own: PosDict, defaults_file: str, top: bool = False) -> PosDict:
    """Key-by-key merge (own keys win); lists and runAs are replaced, never appended.
    Merged-in keys remember the Defaults file, so problems point there."""
    merged = PosDict()
    merged.start = own.start
    files: dict[Any, str] = dict(own.files)
    for key, value in defaults.items():
        if key in own:
            continue
        if top and key == "run":
            continue  # run keys in Defaults apply only to tasks that have their own run block
        merged[key] = value
        merged.pos[key] = defaults.pos[key]
        files[key] = defaults_file
    for key, value in own.items():
        base = defaults.get(key)
        if (key not in _REPLACED and isinstance(value, PosDict) and isinstance(base, PosDict)):
            value = _merge(base, value, defaults_file)
        merged[key] = value
        merged.pos[key] = own.pos[key]
    merged.files = files
    return merged


class Loader:
    """One run over the manifest folder: documents are read, checked and compiled folder
    by folder, top down, so a folder's Defaults and its parents' are known when its tasks
    compile, and only one folder's documents are held at a time."""

    def __init__(self, directory: str, root: str, convert_cron: Callable[..., Any] | None,
                 select: Selection | None = None) -> None:
        self.base = Path(directory)
        self.root = root
        self.convert_cron = convert_cron
        self.problems: list[Problem] = []
        self.schema_positions: set[tuple[str, int, int]] = set()
        self.defaults: dict[Path, Document] = {}
        self.tasks: list[TaskSpec] = []
        # Tasks with a run block, by names.key(path) -> their document (workflow problems point into it).
        self.located: dict[str, Located] = {}
        self.seen: dict[str, TaskSpec] = {}
        # Folder keys the tasks so far live in -> the first such task: a task may not
        # have the path of a folder. Task Scheduler keeps a task as a file and a folder
        # as a directory under %SystemRoot%\System32\Tasks, and one name cannot be both.
        self.folders: dict[str, TaskSpec] = {}
        self.select = select  # one host's subset (fleet); None: every task, and targets are an error
        self.elsewhere: list[TaskSpec] = []  # tasks ``select`` left out

    def relative(self, folder: str) -> Path:
        return Path(folder).relative_to(self.base) if Path(folder) != self.base else Path(".")

    def folder(self, folder: str, files: list[str]) -> None:
        relative = self.relative(folder)
        docs = [doc for file in files for doc in self.documents(file, relative)]
        for doc in docs:
            if doc.data.get("kind") == "Defaults":
                self.add_defaults(doc)
        for doc in docs:
            if doc.data.get("kind") == "ScheduledTask":
                self._task(doc)

    def documents(self, file: str, relative: Path) -> list[Document]:
        out = []
        for document in _read(file, self.problems):
            data = document.data
            if data is None:
                continue  # an empty document (a trailing ---)
            if not isinstance(data, PosDict):
                self.problems.append(Problem(file, document.line, document.column,
                                             "a manifest document must be a mapping with apiVersion and kind"))
                continue
            self.escape_slips(file, document)
            found = schema.problems(data)
            for problem in found:
                where = position(data, list(problem.path), problem.at_key) or (document.line, document.column)
                self.problems.append(Problem(file, where[0], where[1], problem.message))
                self.schema_positions.add((file, where[0], where[1]))
            # A document with schema problems is still compiled (every problem in one
            # run), as long as its outline is there to compile.
            if not found or (data.get("kind") in ("ScheduledTask", "Defaults")
                             and isinstance(data.get("spec", PosDict()), PosDict)
                             and isinstance(data.get("metadata", PosDict()), PosDict)):
                out.append(Document(file, relative, data, document.line, document.column, schema_valid=not found))
        return out

    def escape_slips(self, file: str, document: YamlDocument) -> None:
        """Characters task XML cannot hold, control characters a backslash escape put in
        a path (``"C:\\temp"`` holds a tab) and line breaks one put in an argument: each
        said once, at its value, with the escape named (what the compiler says there, such
        as "cannot contain a line break", is left out). A tab in an argument may be meant."""
        escaped = {(slip.line, slip.column): slip for slip in document.escapes}
        for line, column, char in document.not_xml:
            if (line, column) not in escaped:
                self.problems.append(Problem(file, line, column, f"contains the character "
                                                                 f"U+{ord(char):04X}, which task XML cannot hold"))
        for slip in document.escapes:
            path = slip.key in _PATHS
            if path or slip.not_xml or (slip.breaks and slip.key == "arguments"):
                # A line break: where the compiler would say so (for an argument in a
                # list, at the list), instead of it.
                where = slip.at if slip.breaks else (slip.line, slip.column)
                self.problems.append(Problem(file, *where, escape_advice(
                    slip.key, slip.source, list(slip.done), path, slip.not_xml)))
                self.schema_positions.add((file, *where))

    def add_defaults(self, doc: Document) -> None:
        if doc.directory in self.defaults:
            first = self.defaults[doc.directory]
            self.problems.append(Problem(doc.file, doc.line, doc.column,
                                         f"a second Defaults document for this directory "
                                         f"(the first is at {first.file}:{first.line}:{first.column})"))
            return
        self.defaults[doc.directory] = doc

    def _task(self, doc: Document) -> None:
        self.add(compile_task(doc, self.defaults, self.root, self.convert_cron))

    def add(self, compiled: Compiled) -> None:
        """A compiled task joins the others (in the order a serial run compiles them:
        which of two same-named tasks is "first" depends on it)."""
        self.problems.extend(p for p in compiled.problems
                             if (p.path, p.line, p.column) not in self.schema_positions)
        task = compiled.task
        if task is None or compiled.lenient:
            return
        if not self._selected(task):
            self.elsewhere.append(task)
            return
        key = names.key(task.path)
        if key in self.seen:
            first = self.seen[key]
            both = f"; both go to {self.select.label}" if self.select is not None else ""
            self.problems.append(Problem(task.origin.file, task.origin.line, task.origin.column,
                                         f"task {task.path} is also defined at {first.origin} "
                                         f"(task paths compare case-insensitively){both}"))
            return
        clash = self._folder_clash(task, key)
        if clash is not None:
            self.problems.append(Problem(task.origin.file, task.origin.line, task.origin.column, clash))
            return
        self.seen[key] = task
        self.tasks.append(task)
        if task.run is not None and compiled.located is not None:
            self.located[key] = compiled.located

    def _folder_clash(self, task: TaskSpec, key: str) -> str | None:
        """Why ``task`` cannot sit beside the tasks so far: its path is one of their
        folders, or one of its folders is one of their paths; else None (and noted)."""
        if key in self.folders:
            other = self.folders[key]
            return (f"task {task.path} has the path of the folder that holds {other.path} "
                    f"({other.origin}); Task Scheduler cannot hold a task and a folder of one name")
        parts = task.path.rstrip("\\").split("\\")
        ancestors = [names.key("\\".join(parts[:depth])) for depth in range(2, len(parts))]
        for folder in ancestors:
            if folder in self.seen:
                other = self.seen[folder]
                return (f"task {task.path} would live in a folder named like the task {other.path} "
                        f"({other.origin}); Task Scheduler cannot hold a task and a folder of one name")
        for folder in ancestors:
            self.folders.setdefault(folder, task)
        return None

    def _selected(self, task: TaskSpec) -> bool:
        """Whether this run keeps ``task``: the selected host's subset, or every task
        (then a task with targets is an error: it needs an inventory)."""
        if self.select is not None:
            self.problems.extend(self.select.problems(task))
            return self.select.wants(task)
        if task.targets is not None:
            from .fleet.targets import needs_inventory

            self.problems.append(needs_inventory(task.targets))
        return True


@dataclass
class Compiled:
    """One task document compiled: the task (None if it could not be), its problems
    (not yet filtered against the schema's), and the merged document if it has a run
    block (workflow problems point into it)."""
    task: TaskSpec | None
    lenient: bool
    problems: list[Problem]
    located: Located | None


def compile_task(doc: Document, defaults: dict[Path, Document], root: str,
                 convert_cron: Callable[..., Any] | None) -> Compiled:
    """A task document with its nearest Defaults merged in, compiled."""
    merged = doc.data
    nearest = _nearest(defaults, doc.directory)
    if nearest is not None and isinstance(nearest.data.get("spec"), PosDict):
        own_spec = doc.data.get("spec") or PosDict()
        spec = _merge(nearest.data["spec"], own_spec, nearest.file, top=True)
        merged = _with_key(doc.data, "spec", spec)
    lenient = not doc.schema_valid or (nearest is not None and not nearest.schema_valid)
    compiler = Compiler(Located(merged, doc.file), root, convert_cron, lenient=lenient)
    task = compiler.compile()
    located = compiler.doc if task is not None and task.run is not None else None
    return Compiled(task, lenient, compiler.problems, located)


def load(directory: str, root: str, convert_cron: Callable[..., Any] | None = None,
         select: Selection | None = None) -> list[TaskSpec]:
    """Every task under ``directory`` (``select``: one host's subset); raises
    ManifestError listing every problem."""
    return load_prepared(directory, root, convert_cron, select=select)[0]


def load_prepared(directory: str, root: str, convert_cron: Callable[..., Any] | None = None,
                  prepare: Callable[[TaskSpec], Any] | None = None,
                  meanwhile: Callable[[], None] | None = None,
                  select: Selection | None = None) -> tuple[list[TaskSpec], dict[str, Any]]:
    """``load``, and ``prepare(task)`` for some tasks without a run block, by
    ``names.key(task.path)`` (a caller prepares the others itself). Large folders are read on several cores (see ``parallel``), and then
    ``meanwhile`` may be called while other processes finish; the result is the same
    either way."""
    from . import parallel

    found = discover(directory)
    loaded = parallel.load(directory, root, found, convert_cron, prepare, meanwhile=meanwhile, select=select)
    loader, prepared = loaded or (read_serially(directory, root, found, convert_cron, select), {})
    tasks = workflows(loader.tasks, loader.located, loader.problems, loader.elsewhere,
                      select.label if select is not None else "")
    if loader.problems:
        raise ManifestError(sorted(set(loader.problems)))
    return sorted(tasks, key=lambda t: names.key(t.path)), prepared


def read_serially(directory: str, root: str, found: list[tuple[str, list[str]]],
                  convert_cron: Callable[..., Any] | None = None, select: Selection | None = None) -> Loader:
    """The manifests ``discover`` found, read in this process, folder by folder."""
    loader = Loader(directory, root, convert_cron, select)
    for folder, files in found:
        loader.folder(folder, files)
    return loader


def workflows(tasks: list[TaskSpec], located: dict[str, Located], problems: list[Problem],
              elsewhere: list[TaskSpec] | None = None, scope: str = "") -> list[TaskSpec]:
    """Tasks with a run block: check ``after`` across every task (names, cycles), then
    register each with the runner's action and the triggers that wake it when one of
    its dependencies finishes. Needs every task compiled first; ``located`` holds the
    document of each task with a run block, by ``names.key(path)`` (task paths are
    unique by then), for the problems' positions. ``elsewhere``: the tasks that go to
    other hosts than ``scope`` (fleet), which ``after`` cannot name."""
    if not any(t.run is not None for t in tasks):
        return tasks
    import dataclasses

    from . import workflow
    from .compiler import MAX_TRIGGERS

    nodes = [workflow.node_from_spec(t, t.runner) for t in tasks]
    others = [workflow.node_from_spec(t, t.runner) for t in elsewhere or ()]
    found = workflow.dependency_problems_at(nodes, others, scope)
    for node, path, message in found:
        file, line, column = located[names.key(node.path)].where(("spec",) + tuple(path))
        problems.append(Problem(file, line, column, message))
    if found:
        return tasks
    resolved = workflow.resolve_dependencies(nodes)
    out = []
    for task in tasks:
        if task.run is None:
            out.append(task)
            continue
        key = names.key(task.path)
        dependencies = resolved.get(key, ())
        try:
            action = workflow.runner_action(
                task.path, task.actions, task.run, task.runner,
                account=task.principal.user_id or task.principal.group_id, dependencies=dependencies)
        except ValueError as err:
            file, line, column = located[key].where(("spec", "run"), key=True)
            problems.append(Problem(file, line, column, str(err)))
            out.append(task)
            continue
        triggers = task.triggers + workflow.wake_triggers([d.task for d in dependencies])
        if len(triggers) > MAX_TRIGGERS:
            file, line, column = located[key].where(("spec", "run", "after"))
            problems.append(Problem(file, line, column,
                                    f"with one wake-up trigger per dependency the task needs "
                                    f"{len(triggers)} triggers; Task Scheduler allows {MAX_TRIGGERS}"))
        out.append(dataclasses.replace(task, actions=(action,), triggers=triggers))
    return out


def _nearest(defaults: dict[Path, Document], directory: Path) -> Document | None:
    current = directory
    while True:
        if current in defaults:
            return defaults[current]
        if current == Path("."):
            return None
        current = current.parent if current.parent != current else Path(".")


def _with_key(data: PosDict, key: str, value: Any) -> PosDict:
    copy = PosDict()
    copy.start = data.start
    for k, v in data.items():
        copy[k] = value if k == key else v
        copy.pos[k] = data.pos[k]
    if key not in data:
        copy[key] = value
        copy.pos[key] = data.start + data.start
    return copy
