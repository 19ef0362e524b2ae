"""``reconcile.py import``: where live tasks come from, which are chosen, and how the
manifests are written. Every manifest is checked before it is written: compiled and
rendered again, its canonical form must equal the live task's, so that importing and
then planning says ``No changes.``; a task that would not round-trip is refused with
the field that differs. Existing files are never overwritten."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import diff, names, normalize, schema
from .compiler import Compiler, Located
from .errors import ReconcileError, UsageError, quoted
from .importer import to_manifest
from .render import render
from .taskxml import TaskXmlError, children, decode, localname, parse, split_export, text_of
from .yamlout import dump
from .yamlpos import load_all


@dataclass(frozen=True)
class Found:
    path: str
    xml: str


def from_export(file: str, root: str | None = None) -> list[Found]:
    """Tasks of a ``/Query /XML ONE`` export, or of one task's XML file (a lone task
    that does not say its path is named after the file, in the root)."""
    try:
        text = decode(Path(file).read_bytes())
    except OSError as err:
        raise UsageError(f"--from {file}: {err.strerror}") from None
    found = []
    for path, xml in split_export(text):
        if path is None:
            path = _uri(xml) or (root or "\\") + Path(file).stem
        found.append(Found(path, xml))
    return found


def _uri(xml: str) -> str | None:
    try:
        task = parse(xml)
    except TaskXmlError:
        return None
    for info in (c for c in children(task) if localname(c) == "RegistrationInfo"):
        for element in children(info):
            if localname(element) == "URI" and text_of(element).strip():
                uri = text_of(element).strip()
                return uri if uri.startswith("\\") else "\\" + uri
    return None


def from_folder(folder: str) -> list[Found]:
    """Tasks of a folder copied from ``C:\\Windows\\System32\\Tasks``."""
    base = Path(folder)
    found = []
    for current, dirs, files in os.walk(base):
        dirs.sort()
        for file in sorted(files):
            relative = (Path(current) / file).relative_to(base)
            try:
                xml = decode((Path(current) / file).read_bytes())
            except OSError as err:
                raise ReconcileError(f"{Path(current) / file}: {err.strerror}") from None
            found.append(Found("\\" + "\\".join(relative.parts), xml))
    return found


def select(found: list[Found], wanted: list[str], all_: bool, root: str) -> list[Found]:
    """``--all``: every task under the root. NAMEs: a task's path below the root
    (``Finance\\report``, or just its name when unique) or its full path."""
    if all_:
        return [f for f in found if names.is_under(f.path, root)]
    chosen = []
    for name in wanted:
        key = name.strip("\\").casefold()
        full = [f for f in found if f.path.strip("\\").casefold() == key]
        below = [f for f in found if names.is_under(f.path, root)
                 and names.relative(f.path, root).casefold() == key]
        by_name = [f for f in found if names.is_under(f.path, root)
                   and f.path.rsplit("\\", 1)[-1].casefold() == key]
        matches = below or full or by_name
        if not matches:
            raise UsageError(f"no task named {quoted(name)} (looked under {root} and for the full path)")
        if len(matches) > 1:
            raise UsageError(f"{quoted(name)} is ambiguous: {', '.join(m.path for m in matches)}")
        chosen.append(matches[0])
    return chosen


@dataclass(frozen=True)
class Imported:
    path: str
    file: str | None  # the manifest written, or None
    error: str | None


def _modeline(target: Path) -> str:
    """The editor's schema hint, when the schema is in this repository (``schemas/``)."""
    schema = Path("schemas") / "manifest.schema.json"
    if not schema.is_file():
        return ""
    relative = os.path.relpath(schema, target.parent).replace(os.sep, "/")
    return f"# yaml-language-server: $schema={relative}\n"


def manifest_file(out: str, path: str, root: str) -> Path:
    relative = names.relative(path, root) if names.is_under(path, root) else path.strip("\\")
    *folders, name = relative.split("\\")
    return Path(out).joinpath(*folders, f"{name}.yaml")


def _round_trip_problems(documents: list[tuple[Found, dict[str, Any], dict[str, Any]]], root: str,
                         resolve: Callable[[str], str]) -> dict[str, str]:
    """Each imported task whose manifest would not render back to it exactly, with why.

    The documents are compiled together, as ``plan`` will compile them, because a task
    that runs after others is registered with its dependencies resolved."""
    from . import manifest
    from .errors import Problem

    problems: dict[str, str] = {}
    compiled = []
    located: dict[str, Located] = {}  # by names.key(path), as manifest.workflows reads it
    for item, document, _ in documents:
        (parsed,) = load_all(dump(document))
        invalid = schema.problems(parsed.data)
        if invalid:  # never write a manifest that validate would refuse
            problems[item.path] = "the manifest would be invalid: " + invalid[0].message
            continue
        compiler = Compiler(Located(parsed.data, item.path), root)
        spec = compiler.compile()
        if spec is None:
            problems[item.path] = "; ".join(p.message for p in compiler.problems[:2])
            continue
        compiled.append((item, spec))
        located[names.key(spec.path)] = compiler.doc
    found: list[Problem] = []
    specs = manifest.workflows([s for _, s in compiled], located, found)
    for problem in found:
        problems.setdefault(problem.path, problem.message + " (import the tasks it runs after too)")
    live = {item.path: canonical for item, _, canonical in documents}
    for spec, (item, _) in zip(specs, compiled):
        if item.path in problems:
            continue
        rendered = render(spec, root, resolve).canonical
        if rendered != live[item.path]:
            first = diff.changes(live[item.path], rendered)[:1]
            where = f"{first[0].field}: {first[0].before} became {first[0].after}" if first else "content"
            problems[item.path] = f"the manifest would not reproduce the task exactly ({where})"
    return problems


def run(found: list[Found], out: str, root: str, resolve: Callable[[str], str]) -> list[Imported]:
    documents: list[tuple[Found, dict[str, Any], dict[str, Any]]] = []
    results: list[Imported] = []
    for item in found:
        try:
            task = parse(item.xml, item.path)
            documents.append((item, to_manifest(task, item.path, root), normalize.canonical(task, resolve)))
        except ReconcileError as err:
            results.append(Imported(item.path, None, str(err)))
    refused = _round_trip_problems(documents, root, resolve)
    plans: list[tuple[Found, Path, str]] = []
    for item, document, _ in documents:
        if item.path in refused:
            results.append(Imported(item.path, None, refused[item.path]))
            continue
        target = manifest_file(out, item.path, root)
        header = _modeline(target) + f"# Imported by reconcile.py from {item.path}; review it, then commit it.\n"
        plans.append((item, target, header + dump(document)))
    taken = [str(t) for _, t, _ in plans if t.exists()]
    if taken:
        raise UsageError(f"import never overwrites a manifest: {taken[0]} exists"
                         + (f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""))
    seen: dict[str, str] = {}
    for item, target, text in plans:
        key = str(target).casefold()
        if key in seen:
            results.append(Imported(item.path, None, f"its manifest file {target} is also the file of {seen[key]}"))
            continue
        seen[key] = item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "x", encoding="utf-8", newline="\n") as handle:  # "x": never overwrite
            handle.write(text)
        results.append(Imported(item.path, str(target), None))
    return sorted(results, key=lambda r: names.key(r.path))
