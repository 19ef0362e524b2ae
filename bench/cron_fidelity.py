"""Cron fidelity over real-world expressions.

Converts every expression of the corpus TSVs (first column; ``cron.tsv`` and
``cron-test-fixtures.tsv`` from the shared corpus, or the files / folders given as
arguments) and classifies it:

- exact: the rendered triggers, read back in canonical form and simulated, start at the
  same minutes as crontab(5) over two years (2027-06-01 .. 2029-06-01, 29 Feb 2028 in);
- refused: grouped by reason;
- wrong: anything else (a mismatch, a crash). Must be zero; the exit code is 1 otherwise.

The reference is the brute-force crontab(5) matcher of tests/test_cron_property.py; it is
also compared with croniter 7.0.0 (Vixie mode) on the first 50 fires where croniter can
spell the expression.

    python bench/cron_fidelity.py [PATH ...]
"""
from __future__ import annotations

import collections
import datetime
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from croniter import CroniterError  # noqa: E402

from reconciler import cron, model, simulate  # noqa: E402
from test_cron_property import (  # noqa: E402
    ReferenceError_, croniter_minutes, croniter_spelling, reference_first, reference_minutes,
    rendered_triggers,
)

WINDOW = (datetime.datetime(2027, 6, 1), datetime.datetime(2029, 6, 1))
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
CORPUS_FILES = ("cron.tsv", "cron-test-fixtures.tsv")

REASONS = [
    ("six fields", "six fields (seconds)"),
    ("seven fields", "seven fields (seconds and years)"),
    ("'?' is Quartz", "'?' (Quartz)"),
    ("hashed 'H'", "'H' (Jenkins hash)"),
    ("'W' (nearest weekday)", "'W' (nearest weekday)"),
    ("@every", "@every"),
    ("time zone prefix", "CRON_TZ= prefix"),
    ("never fires", "never fires (impossible date)"),
    ("does not exist every month", "N#5 (5th weekday)"),
    ("out of range", "value out of range"),
    ("reversed range", "reversed range"),
    ("step 0", "step 0"),
    ("Task Scheduler cannot express", "day-of-month AND day-of-week (a '*'-led field)"),
    ("triggers, Task Scheduler allows", "more than 48 triggers"),
    ("'L'", "misplaced L"),
    ("only a plain L", "L-n / other L forms"),
    ("'#'", "misplaced #"),
    ("fields: write five", "wrong number of fields"),
]


def reason_of(message: str) -> str:
    for needle, reason in REASONS:
        if needle in message:
            return reason
    return re.sub(r"'[^']*'", "'…'", message)


def expressions(paths: list[Path]) -> list[tuple[str, str]]:
    """(expression, file name) for every data row, in file order."""
    out = []
    for path in paths:
        files = [path / name for name in CORPUS_FILES] if path.is_dir() else [path]
        for file in files:
            if not file.exists():
                continue
            for number, line in enumerate(file.read_text(encoding="utf-8").splitlines()):
                expression = line.split("\t")[0]
                if number == 0 and expression.strip().lower() == "expression":
                    continue
                out.append((expression, file.name))
    return out


def classify(expression: str) -> tuple[str, str, cron.Conversion | None]:
    """('exact' | 'refused' | 'wrong' | 'startup', detail, conversion)."""
    try:
        conversion = cron.convert(expression)
    except cron.CronError as error:
        return "refused", reason_of(str(error)), None
    except Exception as error:  # noqa: BLE001 - a crash is a finding, not a stop
        return "wrong", f"crash: {error!r}", None
    if all(isinstance(t, model.BootTrigger) for t in conversion.triggers):
        return "startup", "@reboot", conversion
    try:
        expected = reference_minutes(expression, *WINDOW)
    except ReferenceError_ as error:
        return "wrong", f"converted, but the reference cannot read it ({error})", conversion
    fired = simulate.fire_times(rendered_triggers(conversion), *WINDOW)
    if fired != expected:
        missing = sorted(set(expected) - set(fired))[:3]
        extra = sorted(set(fired) - set(expected))[:3]
        return "wrong", f"missing {missing}, extra {extra}", conversion
    return "exact", "", conversion


def cross_check(expression: str) -> bool | None:
    """Does croniter agree with the reference on the first fires? None: not comparable."""
    if croniter_spelling(expression) is None:
        return None
    ours = reference_first(expression, WINDOW[0], 50)
    if not ours:
        return None
    try:
        return croniter_minutes(expression, WINDOW[0], len(ours)) == ours
    except CroniterError:  # croniter refusing it is "not comparable"
        return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in args] or [DEFAULT_CORPUS]
    rows = expressions(paths)
    if not rows:
        print(f"no corpus found at {', '.join(str(p) for p in paths)}: nothing to measure "
              "(pass a TSV file or a folder holding cron.tsv / cron-test-fixtures.tsv)")
        return 0
    began = time.perf_counter()
    unique = list(dict.fromkeys(expression for expression, _ in rows))
    results = {expression: classify(expression) for expression in unique}
    checks = {e: cross_check(e) for e, (kind, _, _) in results.items() if kind == "exact"}
    elapsed = time.perf_counter() - began

    counts = collections.Counter(kind for kind, _, _ in results.values())
    print(f"cron fidelity: {len(rows)} rows, {len(unique)} distinct expressions, "
          f"simulated {WINDOW[0]:%Y-%m-%d} .. {WINDOW[1]:%Y-%m-%d}")
    for kind in ("exact", "refused", "wrong", "startup"):
        print(f"  {kind:8} {counts.get(kind, 0)}")
    per_file = collections.defaultdict(collections.Counter)
    for expression, name in rows:
        per_file[name][results[expression][0]] += 1
    for name, counter in per_file.items():
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(counter.items())))

    print("refused, by reason:")
    reasons = collections.Counter(detail for kind, detail, _ in results.values() if kind == "refused")
    for reason, number in reasons.most_common():
        print(f"  {number:4}  {reason}")

    print("triggers per exact conversion:")
    sizes = collections.Counter(len(c.triggers) for kind, _, c in results.values()
                                if kind == "exact" and c is not None)
    for size, number in sorted(sizes.items()):
        print(f"  {size:4} trigger{'s' if size > 1 else ' '}: {number}")
    converted = [c for kind, _, c in results.values() if kind == "exact" and c is not None]
    with_time = sum(1 for c in converted if any(isinstance(t, model.TimeTrigger) for t in c.triggers))
    overlapping = sum(1 for c in converted if c.may_overlap)
    print(f"  using a TimeTrigger (immune to the registration gap): {with_time}")
    print(f"  may_overlap (needs multipleInstances ignoreNew): {overlapping}")

    agree = sum(1 for v in checks.values() if v is True)
    disagree = [e for e, v in checks.items() if v is False]
    print(f"reference vs croniter (Vixie mode), first 50 fires: {agree} agree, "
          f"{len(disagree)} disagree, {sum(1 for v in checks.values() if v is None)} not comparable")
    for expression in disagree:
        print(f"  disagree: {expression!r}")

    wrong = [(e, d) for e, (kind, d, _) in results.items() if kind == "wrong"]
    for expression, detail in wrong:
        print(f"WRONG {expression!r}: {detail}")
    print(f"wrong: {len(wrong)}   ({elapsed:.1f} s)")
    return 1 if wrong or disagree else 0


if __name__ == "__main__":
    raise SystemExit(main())
