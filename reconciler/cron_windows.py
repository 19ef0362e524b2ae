"""The minutes of a cron schedule's day as the fewest windows (start, interval, count):
each window becomes one trigger's start time and repetition."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, cast

@dataclass(frozen=True, order=True)
class Window:
    start: int  # minute of the day, 0..1439
    step: int  # minutes between fires (0 for a single fire)
    count: int

    @property
    def span(self) -> int:
        return (self.count - 1) * self.step

    @property
    def whole_day(self) -> bool:
        """Fires every ``step`` minutes all day long: a period that runs on across
        midnight (a TimeTrigger when every day fires)."""
        return self.count >= 3 and self.count * self.step == 1440


# (number of windows, longest window that can be in progress at registration, windows)
_Plan = tuple[int, int, tuple[Window, ...]]


def _plan(windows: Iterable[Window], every_day: bool) -> _Plan:
    items = tuple(sorted(windows))
    longest = max((0 if every_day and w.whole_day else w.span for w in items), default=0)
    return (len(items), longest, items)


def _progression(start: int, step: int, count: int) -> list[Window]:
    """One window, or two single fires where a window would need Duration == Interval."""
    if count == 2:
        return [Window(start, 0, 1), Window(start + step, 0, 1)]
    return [Window(start, step if count > 1 else 0, count)]


_Option = tuple[int, object]  # (bitmask of the members, payload)


def _partition(universe: int, options: Callable[[int, int], list[_Option]],
               cost: Callable[[object], tuple[int, int]],
               lower_bound: Callable[[int], int], budget: int = 3000) -> list[object]:
    """The cheapest partition of a small set (a bitmask) into options, cost (count,
    longest) added up as (sum, max). Branches on the lowest member left, which the
    chosen option must contain; memo, lower bound and a node budget (past the budget,
    the best found so far: still exact, maybe not the fewest)."""
    memo: dict[int, tuple[int, int, tuple[object, ...]]] = {0: (0, 0, ())}
    nodes = 0

    def solve(rest: int) -> tuple[int, int, tuple[object, ...]]:
        nonlocal nodes
        if rest in memo:
            return memo[rest]
        nodes += 1
        low = (rest & -rest).bit_length() - 1
        best: tuple[int, int, tuple[object, ...]] | None = None
        for mask, payload in options(low, rest):
            count, longest = cost(payload)
            if best is not None:
                if nodes > budget or count + lower_bound(rest & ~mask) > best[0]:
                    continue
            sub = solve(rest & ~mask)
            total = (count + sub[0], max(longest, sub[1]), (payload,) + sub[2])
            if best is None or total[:2] < best[:2]:
                best = total
        assert best is not None, "every search offers a single member"
        memo[rest] = best
        return best

    return list(solve(universe)[2])


def _bitmask(values: Iterable[int]) -> int:
    return sum(1 << v for v in set(values))


def _hour_progressions(hours: frozenset[int]) -> list[tuple[int, int, int]]:
    """The fewest progressions (first hour, step, count; count 1 or >= 3) partitioning
    the hours."""
    def options(low: int, rest: int) -> list[_Option]:
        out: list[_Option] = []
        for step in range(1, 24):
            count = 1
            while rest >> (low + count * step) & 1 and low + count * step < 24:
                count += 1
            out.extend((_bitmask(low + i * step for i in range(n)), (low, step, n))
                       for n in range(3, count + 1))
        out.sort(key=lambda o: (-o[1][2], o[1][1]))  # type: ignore[index]
        return out + [(1 << low, (low, 0, 1))]

    def cost(payload: object) -> tuple[int, int]:
        _, step, count = cast("tuple[int, int, int]", payload)
        return 1, (count - 1) * step * 60

    longest = 24
    return _partition(_bitmask(hours), options, cost,
                      lambda rest: -(-bin(rest).count("1") // longest))  # type: ignore[return-value]


def _hour_runs(hours: frozenset[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive hours: (first hour, length)."""
    runs: list[tuple[int, int]] = []
    for hour in sorted(hours):
        if runs and runs[-1][0] + runs[-1][1] == hour:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((hour, 1))
    return runs


_DIVISORS_OF_60 = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)


_Group = tuple[tuple[int, ...], int, bool]  # (minutes, step, a full cycle of the hour?)


def _by_minute_groups(minutes: frozenset[int], hours: frozenset[int], every_day: bool) -> _Plan:
    """Partition the minutes of the hour into groups, each repeated over the hours:
    - one minute: a column over the hours (``30 9-17``: 09:30 every hour for 8h);
    - a full cycle of a step that divides 60 (:00 :15 :30 :45): one window per run of
      consecutive hours (09:00 every 15 minutes for 8h45m), never drifting across hours;
    - any other progression inside the hour (``*/7``: :00 .. :56): one window per hour,
      or one column per minute, whichever is fewer."""
    columns = _hour_progressions(hours)
    runs = _hour_runs(hours)
    sorted_hours = sorted(hours)

    def column(minute: int) -> list[Window]:
        out: list[Window] = []
        for first, step, count in columns:
            out.extend(_progression(first * 60 + minute, step * 60, count))
        return out

    def layouts(group: _Group) -> dict[str, list[Window]]:
        members, step, full_cycle = group
        out = {"columns": [w for m in members for w in column(m)]}
        if full_cycle:
            merged: list[Window] = []
            for first, length in runs:
                merged.extend(_progression(first * 60 + members[0], step, len(members) * length))
            out["merged"] = merged
        elif len(members) >= 3:
            out["rows"] = [Window(h * 60 + members[0], step, len(members)) for h in sorted_hours]
        return out

    # Costs without building windows (the search asks for thousands of them).
    def longest(spans: Iterable[tuple[int, int]]) -> int:
        return max((0 if every_day and count >= 3 and count * step == 1440 else (count - 1) * step
                    for step, count in spans), default=0)

    column_cost = (len(columns), longest((step * 60, count) for _, step, count in columns))
    costs: dict[_Group, tuple[tuple[int, int], str]] = {}

    def cost(group: _Group) -> tuple[int, int]:
        if group not in costs:
            members, step, full_cycle = group
            options = [((len(members) * column_cost[0], column_cost[1]), "columns")]
            if full_cycle:
                counts = [len(members) * length for _, length in runs]
                options.append(((sum(2 if n == 2 else 1 for n in counts),
                                 longest((step, n) for n in counts if n != 2)), "merged"))
            elif len(members) >= 3:
                options.append(((len(hours), (len(members) - 1) * step), "rows"))
            costs[group] = min(options)
        return costs[group][0]

    def options(low: int, rest: int) -> list[_Option]:
        keys: list[_Group] = []
        for step in _DIVISORS_OF_60:
            cycle = tuple(range(low, 60, step))
            if low < step and len(cycle) > 1 and all(rest >> m & 1 for m in cycle):
                keys.append((cycle, step, True))
        for step in range(1, 30):
            count = 1
            while low + count * step < 60 and rest >> (low + count * step) & 1:
                count += 1
            for n in range(count, 2, -1):
                if not (low < step and n * step == 60):  # that is a full cycle, above
                    keys.append((tuple(low + i * step for i in range(n)), step, False))
        keys.sort(key=lambda k: -len(k[0]))
        keys.append(((low,), 0, False))
        return [(_bitmask(k[0]), k) for k in keys]

    # A window holds at most: a column, |hours| fires; a row, 60; a merged window, 60 per
    # hour of its run. That bounds the windows any set of minutes still needs.
    most = max(len(hours), 60 * max(length for _, length in runs))
    groups = _partition(_bitmask(minutes), options, cost,  # type: ignore[arg-type]
                        lambda rest: -(-bin(rest).count("1") * len(hours) // most))
    windows: list[Window] = []
    for group in groups:
        cost(group)  # type: ignore[arg-type]
        windows.extend(layouts(group)[costs[group][1]])  # type: ignore[index, arg-type]
    return _plan(windows, every_day)


def _by_runs(minutes: frozenset[int], hours: frozenset[int], every_day: bool) -> _Plan:
    """The sorted minutes of the day cut into runs of equal gaps (dynamic programming):
    catches progressions that cross hours in ways the groups above do not."""
    times = sorted(h * 60 + m for h in hours for m in minutes)
    size = len(times)
    # best[i]: (count, longest, next index, window) for times[i:]
    best: list[tuple[int, int, int, Window | None]] = [(0, 0, size, None)] * (size + 1)
    run = [1] * (size + 1)  # run[i]: items in the longest equal-gap run from times[i]
    for i in range(size - 1, -1, -1):
        if i + 1 < size:
            gap = times[i + 1] - times[i]
            same = i + 2 < size and times[i + 2] - times[i + 1] == gap
            run[i] = run[i + 1] + 1 if same else 2
        rest = best[i + 1]
        options = [(rest[0] + 1, rest[1], i + 1, Window(times[i], 0, 1))]
        length = run[i]
        if length >= 3:
            # Cutting a run anywhere but before its last two items only splits it in two.
            for n in {length, length - 1, length - 2}:
                if n >= 3:
                    window = Window(times[i], gap, n)
                    rest = best[i + n]
                    options.append((rest[0] + 1, max(window.span, rest[1]), i + n, window))
        best[i] = min(options, key=lambda o: o[:2])
    windows: list[Window] = []
    index = 0
    while index < size:
        _, _, following, chosen = best[index]
        assert chosen is not None
        windows.append(chosen)
        index = following
    return _plan(windows, every_day)


def fewest_windows(minutes: frozenset[int], hours: frozenset[int], every_day: bool) -> tuple[Window, ...]:
    """The fewest windows that fire at exactly the given minutes of every given hour."""
    plans = [_by_minute_groups(minutes, hours, every_day), _by_runs(minutes, hours, every_day)]
    return min(plans, key=lambda p: p[:2])[2]
