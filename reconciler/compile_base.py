"""What every part of the compiler shares: the merged document with the position of each
value (``Located``), and the record of problems found in it (``Reporter``)."""
from __future__ import annotations

from typing import Any

from . import durations
from .durations import Duration
from .errors import Problem, quoted
from .yamlpos import PosDict, PosList


def short(value: Any, limit: int = 60) -> str:
    """A value for a message: quoted, and cut if long (a 5 MB value is one short line)."""
    text = quoted(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-3:]


class Located:
    """A merged document and where each of its values was written (which file, too:
    values from a Defaults document point at that document)."""

    def __init__(self, data: PosDict, file: str) -> None:
        self.data = data
        self.file = file

    def where(self, path: tuple[Any, ...], key: bool = False) -> tuple[str, int, int]:
        node: Any = self.data
        file = self.file
        line, column = getattr(node, "start", (1, 1))
        for index, step in enumerate(path):
            last = index == len(path) - 1
            if isinstance(node, PosDict) and step in node.pos:
                kl, kc, vl, vc = node.pos[step]
                file = node.files.get(step, file)
                line, column = (kl, kc) if (last and key) else (vl, vc)
                node = node[step]
            elif isinstance(node, PosList) and isinstance(step, int) and 0 <= step < len(node.pos):
                line, column = node.pos[step]
                node = node[step]
            else:
                break
        return file, line, column


class Reporter:
    """The problems of one document, each at the position of the key that causes it, and
    the readers of values that report their own problems (compilation goes on)."""

    def __init__(self, located: Located) -> None:
        self.doc = located
        self.problems: list[Problem] = []

    def problem(self, path: tuple[Any, ...], message: str, key: bool = False) -> None:
        file, line, column = self.doc.where(path, key)
        self.problems.append(Problem(file, line, column, message))

    def duration(self, value: Any, path: tuple[Any, ...]) -> Duration | None:
        try:
            return durations.parse(value)
        except ValueError as err:
            self.problem(path, str(err))
            return None

    def bounded(self, value: Any, path: tuple[Any, ...], low: Duration | None,
                high: Duration | None, what: str) -> Duration | None:
        duration = self.duration(value, path)
        if duration is None:
            return None
        if duration.months and (low or high):
            self.problem(path, f"{what} cannot use months or years (write days)")
            return None
        if low is not None and duration.seconds < low.seconds:
            self.problem(path, f"{what} must be at least {low.short()}, not {duration.short()}")
            return None
        if high is not None and duration.seconds > high.seconds:
            self.problem(path, f"{what} must be at most {high.short()}, not {duration.short()}")
            return None
        return duration
