"""What ``plan`` says about the ``apply`` to come, so a pull request is not green while
the merge's apply fails:

- the deletion rails (``--max-deletions``, deleting every managed task): certain, because
  plan takes the same options and applies the same rules (``apply.refusals``); given one
  of those options, plan refuses too (exit 1), so the pull request is red;
- a ``password.fromEnv`` variable that is not set here: apply refuses without it, but
  the machine that applies may have it (CI secrets), so it is only a warning;
- tasks with a ``run`` block whose runner is not installed on this machine, or is
  another version: their registration works, their runs would not.

How the plan knows about the runner (README "Workflows: the runner"): ``spec.runner.python``
must exist on this machine, and ``runner-install`` leaves ``runner.json`` in the runner's
home with the runner's version and payload format, which must be this reconcile.py's. A
runner path that is not an absolute path on this platform (a Windows path read on Linux)
is not checked: that plan is not made on the machine that runs the tasks."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from ..model import Plan, TaskSpec
from ..runner_install import RUNNER_STAMP


@dataclass(frozen=True)
class Rails:
    """apply's deletion rails, as plan was given them."""

    max_deletions: int | None = None
    allow_delete_all: bool = False

    @property
    def given(self) -> bool:
        """Plan was given a rail option: then a plan apply would refuse is refused
        (exit 1), as apply with the same options would; without one, plan only warns."""
        return self.max_deletions is not None or self.allow_delete_all


@dataclass(frozen=True)
class Preflight:
    warnings: tuple[str, ...]
    refused: bool  # apply with the same options would refuse this plan


def check(plan: Plan, specs: Iterable[TaskSpec], rails: Rails,
          environ: Mapping[str, str] | None = None,
          exists: Callable[[str], bool] = os.path.isfile,
          read: Callable[[str], str | None] | None = None) -> Preflight:
    from ..apply import refusals

    environ = os.environ if environ is None else environ
    refused, passwords = refusals(plan, max_deletions=rails.max_deletions,
                                  allow_delete_all=rails.allow_delete_all, environ=environ)
    warnings = [f"apply would refuse this plan: {reason}" for reason in refused]
    warnings += [f"apply would refuse: {reason} (set it where apply runs)" for reason in passwords]
    warnings += runner_warnings(specs, environ, exists, read or _read_text)
    return Preflight(tuple(warnings), bool(refused) and rails.given)


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _runners(specs: Iterable[TaskSpec]) -> dict[tuple[str, str], list[str]]:
    """Each runner the tasks with a run block start (python, home) -> those tasks' names."""
    from ..workflow import DEFAULT_RUNNER

    found: dict[tuple[str, str], list[str]] = {}
    for spec in specs:
        if spec.run is None:
            continue
        runner = {**DEFAULT_RUNNER, **(spec.runner or {})}
        found.setdefault((str(runner["python"]), str(runner["home"])), []).append(spec.name)
    return found


def runner_warnings(specs: Iterable[TaskSpec], environ: Mapping[str, str],
                    exists: Callable[[str], bool], read: Callable[[str], str | None]) -> list[str]:
    from ..runner import FORMAT, VERSION
    from ..runner.paths import expand

    out: list[str] = []
    for (python, home), tasks in sorted(_runners(specs).items()):
        where = expand(python, dict(environ)) or python
        if not os.path.isabs(where):
            continue  # a path of another platform: this is not the machine that runs the tasks
        names = ", ".join(tasks[:3]) + (f" and {len(tasks) - 3} more" if len(tasks) > 3 else "")
        if not exists(where):
            out.append(f"the runner {python} is not installed on this machine, and {len(tasks)} task(s) "
                       f"with a run block start it ({names}): run `reconcile.py runner-install` before "
                       "they run")
            continue
        stamp = read(os.path.join(expand(home, dict(environ)) or home, RUNNER_STAMP))
        try:
            installed = json.loads(stamp) if stamp else None
        except ValueError:
            installed = None
        if not isinstance(installed, dict):
            out.append(f"the runner in {home} does not say its version ({RUNNER_STAMP} is missing): "
                       f"run `reconcile.py runner-install` again so that it is this reconcile.py's ({names})")
        elif installed.get("format") != FORMAT or installed.get("version") != VERSION:
            out.append(f"the runner in {home} is version {installed.get('version')} (payload format "
                       f"{installed.get('format')}), this reconcile.py writes version {VERSION} (format "
                       f"{FORMAT}): run `reconcile.py runner-install` again ({names})")
    return out
