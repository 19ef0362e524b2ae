"""``after`` across all tasks: which task each entry names, what is wrong with the names
(unknown, ambiguous, listed twice, a target without ``run``), cycles, and the resolved
entries the runner's payload carries.

Tasks are known by their position in the list the caller passes (the load order): an
edge of the graph goes from one index to another, and a cycle is reported at the task
that comes last in that order."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from .. import names
from ..errors import quoted
from .home import DEFAULT_RUNNER, store_account
from .spec import REQUIRE, Dependency

if TYPE_CHECKING:
    from ..model import TaskSpec

KeyPath = tuple[Any, ...]
# For each task (by index): the tasks it runs after, as (their index, position in its after).
Edges = dict[int, list[tuple[int, int]]]


@dataclass(frozen=True)
class DepNode:
    """What ``after`` needs to know about one task."""

    path: str                       # \Root\Folder\Name
    name: str                       # metadata.name
    folder: str = ""                # metadata.folder, '\'-separated ('' for none)
    after: tuple[Dependency, ...] = ()  # run.after as written
    has_run: bool = False
    has_settings_retry: bool = False  # settings.retry is set (Task Scheduler's RestartOnFailure)
    has_run_retry: bool = False       # run.retry is set
    account: str | None = None      # runAs.user or runAs.group: where its history is kept
    home: str | None = None         # its runner home (None: the default)
    ref: Any = field(default=None, compare=False, repr=False)  # the caller's object (TaskSpec, ...)

    @property
    def display(self) -> str:
        return "\\".join(names.split_folder(self.folder) + [self.name])


@dataclass(frozen=True)
class ResolvedDependency:
    """One ``after`` entry resolved: the dependency's full path, and where the runner
    finds its history when that is not where this task keeps its own."""

    task: str                   # the dependency's path
    require: str                # succeeded | completed
    account: str | None = None  # its store below <home>\accounts (None: it runs as SYSTEM)
    home: str | None = None     # its runner home, when it is not this task's


def node_from_spec(spec: TaskSpec, runner: Mapping[str, Any] | None = None, ref: Any = None) -> DepNode:
    """A DepNode from a compiled TaskSpec."""
    run = spec.run
    settings = dict(spec.settings or ())
    principal = spec.principal
    return DepNode(
        path=spec.path, name=spec.name, folder="\\".join(spec.folder),
        after=run.after if run is not None else (), has_run=run is not None,
        has_settings_retry="RestartOnFailure" in settings,
        has_run_retry=run is not None and run.retry is not None,
        account=(principal.user_id or principal.group_id) if principal is not None else None,
        home=(runner or {}).get("home"), ref=spec if ref is None else ref)


def _matches(name: str, nodes: list[DepNode]) -> list[int]:
    """The indexes of the nodes NAME names, as the CLI reads it: ``metadata.name``,
    ``folder\\name``, or a full path."""
    text = name.strip()
    if text.startswith("\\") and text.count("\\") > 1:
        return [i for i, n in enumerate(nodes) if names.key(n.path) == names.key(text)]
    wanted = text.strip("\\").casefold()
    exact = [i for i, n in enumerate(nodes) if n.display.casefold() == wanted]
    return exact or [i for i, n in enumerate(nodes) if n.name.casefold() == wanted]


def _lookup(name: str, nodes: list[DepNode], elsewhere: Sequence[DepNode] = (),
            scope: str = "") -> tuple[int | None, str]:
    """The index of the one node ``name`` names, or None and why (``elsewhere``: tasks
    that exist but go to other hosts than ``scope``)."""
    found = _matches(name, nodes)
    if not found and _matches(name, list(elsewhere)):
        return None, f"after: no task {name!r} on {scope}"
    if not found:
        close = difflib.get_close_matches(name.casefold(), sorted({n.display.casefold() for n in nodes}), 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return None, f"after: no task named {quoted(name)} in the manifests{hint}"
    if len(found) > 1:
        options = ", ".join(sorted(nodes[i].display for i in found))
        return None, f"after: {quoted(name)} is ambiguous: {options}; write folder\\name"
    return found[0], ""


def _after_edges(index: int, nodes: list[DepNode], problems: list[tuple[DepNode, KeyPath, str]],
                 elsewhere: Sequence[DepNode] = (), scope: str = "") -> list[tuple[int, int]]:
    """The edges of one task's ``after``; each entry that cannot be one is a problem."""
    node = nodes[index]
    edges: list[tuple[int, int]] = []
    seen: dict[str, int] = {}
    for position, entry in enumerate(node.after):
        where = ("run", "after", position)
        if entry.require not in REQUIRE:
            problems.append((node, where + ("require",),
                             f"require must be succeeded or completed, not {entry.require!r}"))
        found, why = _lookup(entry.task, nodes, elsewhere, scope)
        if found is None:
            problems.append((node, where, why))
            continue
        target = nodes[found]
        key = names.key(target.path)
        if key in seen:
            problems.append((node, where, f"after: {target.display} is already listed (entry {seen[key] + 1})"))
            continue
        seen[key] = position
        if found == index or key == names.key(node.path):
            problems.append((node, where, f"dependency cycle: {node.display} -> {node.display} "
                                          "(a task cannot run after itself)"))
        elif not target.has_run:
            problems.append((node, where, f"after: {target.display} has no run block; a task named "
                                          "in after must have one (the runner records its outcome)"))
        else:
            edges.append((found, position))
    return edges


def dependency_problems_at(nodes: list[DepNode], elsewhere: Sequence[DepNode] = (),
                           scope: str = "") -> list[tuple[DepNode, KeyPath, str]]:
    """Every ``after`` problem, as (node, key path inside its spec, message).
    ``elsewhere``: tasks that go to other hosts of a fleet than ``scope``; ``after``
    naming one of them is a problem that says so."""
    problems: list[tuple[DepNode, KeyPath, str]] = []
    edges: Edges = {}
    for index, node in enumerate(nodes):
        if node.has_settings_retry and node.has_run_retry:
            problems.append((node, ("settings", "retry"),
                             "settings.retry (Task Scheduler restarts) and run.retry cannot both be "
                             "set: run.retry retries with backoff; remove settings.retry"))
        if node.after and not node.has_run:  # pragma: no cover - after lives inside run
            edges[index] = []
            continue
        edges[index] = _after_edges(index, nodes, problems, elsewhere, scope)
    for cycle in _cycles(edges):
        # Reported at the task of the cycle that comes last (where it "occurs second"),
        # printed from the one that comes first.
        last = max(cycle)
        successor = cycle[(cycle.index(last) + 1) % len(cycle)]
        position = next(p for t, p in edges[last] if t == successor)
        text = " -> ".join(nodes[i].display for i in cycle + [cycle[0]])
        problems.append((nodes[last], ("run", "after", position),
                         f"dependency cycle: {text} (each runs after the next)"))
    return problems


def dependency_problems(nodes: list[DepNode]) -> list[tuple[DepNode, str]]:
    """Every ``after`` problem as (node, message); ``dependency_problems_at`` also gives
    the key path inside the node's spec, for the problem's line and column."""
    return [(node, message) for node, _path, message in dependency_problems_at(nodes)]


# --- cycles ------------------------------------------------------------------------------------

def _cycles(edges: Edges) -> list[list[int]]:
    """One cycle per strongly connected component with more than one task, each starting
    at its lowest index."""
    return [_shortest_cycle(component, edges) for component in sorted(_components(edges))]


def _components(edges: Edges) -> list[list[int]]:
    """The strongly connected components with more than one task, each sorted."""
    search = _Tarjan(edges)
    for root in sorted(edges):
        if root not in search.index:
            search.run(root)
    return search.components


class _Tarjan:
    """Tarjan's strongly connected components, iterative: a long chain of ``after`` must
    not exhaust Python's stack."""

    def __init__(self, edges: Edges) -> None:
        self.edges = edges
        self.index: dict[int, int] = {}
        self.low: dict[int, int] = {}
        self.stack: list[int] = []
        self.on_stack: set[int] = set()
        self.components: list[list[int]] = []

    def run(self, root: int) -> None:
        work = [(root, self._enter(root))]
        while work:
            vertex, children = work[-1]
            child = self._next_unvisited(vertex, children)
            if child is not None:
                work.append((child, self._enter(child)))
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                self.low[parent] = min(self.low[parent], self.low[vertex])
            if self.low[vertex] == self.index[vertex]:
                self._pop_component(vertex)

    def _enter(self, vertex: int) -> Iterator[int]:
        self.index[vertex] = self.low[vertex] = len(self.index)
        self.stack.append(vertex)
        self.on_stack.add(vertex)
        return iter([target for target, _ in self.edges[vertex]])

    def _next_unvisited(self, vertex: int, children: Iterator[int]) -> int | None:
        """The next child not visited yet; a child met on the stack on the way lowers
        ``low[vertex]``."""
        for child in children:
            if child not in self.index:
                return child
            if child in self.on_stack:
                self.low[vertex] = min(self.low[vertex], self.index[child])
        return None

    def _pop_component(self, root: int) -> None:
        component = []
        while True:
            member = self.stack.pop()
            self.on_stack.discard(member)
            component.append(member)
            if member == root:
                break
        if len(component) > 1:
            self.components.append(sorted(component))


def _shortest_cycle(component: list[int], edges: Edges) -> list[int]:
    """A shortest cycle through the component's lowest index (breadth first, children in
    index order), from that index."""
    members = set(component)
    start = component[0]
    parent: dict[int, int] = {start: -1}
    queue = [start]
    end = None
    while queue and end is None:
        vertex = queue.pop(0)
        for child, _ in sorted(edges[vertex]):
            if child == start:
                end = vertex
                break
            if child in members and child not in parent:
                parent[child] = vertex
                queue.append(child)
    path = []
    vertex = end if end is not None else start
    while vertex != -1:
        path.append(vertex)
        vertex = parent[vertex]
    return list(reversed(path))


# --- resolution ----------------------------------------------------------------------------------

def resolve_dependencies(nodes: list[DepNode]) -> dict[str, tuple[ResolvedDependency, ...]]:
    """For each node with ``after`` (by ``names.key(path)``): the resolved entries to pass
    to ``runner_action(dependencies=...)``, sorted by path. Call it only when
    ``dependency_problems`` found none."""
    out: dict[str, tuple[ResolvedDependency, ...]] = {}
    for node in nodes:
        if not node.after:
            continue
        entries = []
        for entry in node.after:
            found = _matches(entry.task, nodes)
            if len(found) != 1:
                raise ValueError(f"{node.path}: after {quoted(entry.task)} is not resolved (check dependency_problems first)")
            target = nodes[found[0]]
            elsewhere = (target.home or None) != (node.home or None)
            entries.append(ResolvedDependency(
                task=target.path, require=entry.require, account=store_account(target.account),
                home=(target.home or DEFAULT_RUNNER["home"]) if elsewhere else None))
        out[names.key(node.path)] = tuple(sorted(entries, key=lambda e: names.key(e.task)))
    return out
