"""Around the reconcile loop: importing live tasks as manifests, a starter project,
the runner's history and its installation."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import accounts, importing
from ..backends.base import Backend
from ..errors import UsageError


def import_tasks(root: str, out: str, *, wanted: list[str], all_: bool, source: str | None,
                 path: str | None, backend: Callable[[], Backend]) -> list[importing.Imported] | None:
    """Live tasks as manifests (``adopt: true``) in ``out``: from a saved export or a
    copied Tasks folder (``source``), one task anywhere (``path``), or the root's tasks;
    ``backend`` opens the machine's backend when one is needed. None: nothing to import."""
    if not wanted and not all_ and not path:
        raise UsageError("import needs task names, --all, or --path \\X\\Y")
    if path and (wanted or all_ or source):
        raise UsageError("--path imports one task: give no names, --all or --from with it")
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out} is a file; import writes manifests into a folder")
    resolve: Callable[[str], str] = accounts.well_known
    if source:
        found = (importing.from_folder(source) if os.path.isdir(source)
                 else importing.from_export(source, root))
        chosen = importing.select(found, wanted, all_, root)
    else:
        opened = backend()
        resolve = opened.resolve_account
        if path:
            live = opened.read_task("\\" + path.strip("\\"))
            chosen = [importing.Found(live.path, live.xml)]
        else:
            state = opened.read_state(root)
            found = [importing.Found(t.path, t.xml) for t in state.tasks.values()]
            chosen = importing.select(found, wanted, all_, root)
    if not chosen:
        return None
    return importing.run(chosen, out, root, resolve)


def init_project(target: str) -> list[Path]:
    """A starter ``tasks.d/``, CI workflow and schema in ``target``; never overwrites."""
    from ..resources import example_workflow, schema_text, template

    base = Path(target)
    if base.exists() and not base.is_dir():
        raise UsageError(f"init {target}: it is a file; name a folder (new or existing) to start a project in")
    files = {
        base / "tasks.d" / "hello.yaml": template("starter.yaml"),
        base / ".github" / "workflows" / "reconcile.yml": example_workflow(),
        # For editors: completion and hover help from the yaml-language-server modeline.
        base / "schemas" / "manifest.schema.json": schema_text(),
    }
    taken = [str(path) for path in files if path.exists()]
    if (base / "tasks.d").exists():
        taken.insert(0, str(base / "tasks.d"))
    if taken:
        raise UsageError(f"init never overwrites anything: {taken[0]} exists")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    return list(files)


@dataclass(frozen=True)
class History:
    home: str
    text: str
    runs: int
    home_exists: bool


def history(home: str, name: str | None, form: str, days: int | None) -> History:
    """The runs the runner recorded under ``home`` as text, JSON or an HTML page (the
    last ``days`` days; HTML defaults to 7)."""
    from ..runner import history as reading

    if days is not None and days < 1:
        raise UsageError("--days must be at least 1")
    if days is None and form == "html":
        days = 7
    try:
        runs = reading.select(reading.load(home), name)
    except LookupError as err:
        raise UsageError(str(err)) from None
    runs = reading.since(runs, days)
    return History(home, reading.render(runs, form, home, days), len(runs), os.path.isdir(home))


def install_runner(home: str | None, accounts_: list[str], python: str | None) -> None:
    """Set the runner up on this machine (see ``runner_install``)."""
    from .. import history as homes, runner_install

    chosen = home or os.environ.get(homes.HOME_VARIABLE) or homes.platform_home()
    runner_install.install(chosen, accounts_, python)
