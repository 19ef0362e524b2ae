"""Shared test helpers: running the CLI as a user would, and the shared corpus.

Most CLI tests run ``reconciler.cli.main(argv)`` in this process (``run_cli``): the same
code a user's ``python reconcile.py`` runs, without starting an interpreter and importing
the package again for every call. A few smoke tests start the real thing
(``run_cli_process``): the entry point, exit codes, pipes, fork, kill and time bounds."""
from __future__ import annotations

import contextlib
import gc
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping

import pytest

REPO = Path(__file__).resolve().parents[1]
RECONCILE = REPO / "reconcile.py"
SHARED = REPO.parent / "shared"
EXAMPLES = REPO / "tasks.d"


def shared(*parts: str) -> Path:
    """A path in ../shared, skipping the test cleanly when it is absent (a user's clone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/{'/'.join(parts)} is not available")
    return path


@dataclass
class Result:
    code: int
    out: str
    err: str


def user_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a run sees: this one, without the variables that switch on
    GitHub annotations or turn colour off, plus ``env``."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "NO_COLOR")}
    full_env.update(env or {})
    return full_env


def run_cli(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> Result:
    """``python reconcile.py ARGS`` in ``cwd``, run as ``reconciler.cli.main(ARGS)`` in
    this process (see ``_as_a_new_process`` for what makes it look like a new one)."""
    from reconciler import cli

    with _as_a_new_process(cwd, user_env(env)) as said:
        try:
            code = cli.main(list(args))
        except SystemExit as stop:  # what the interpreter makes of it (argparse's --help)
            code = _exit_status(stop)
    return Result(code, said.out, said.err)


def run_cli_process(*args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 60,
                    script: Path = RECONCILE, preexec_fn: Callable[[], None] | None = None) -> Result:
    """``python reconcile.py ARGS`` (or another ``script``) in ``cwd`` as a new process,
    as a user runs it. For what only a process shows: the entry point, exit status, time
    bounds (subprocess.TimeoutExpired past ``timeout``), memory limits, signals."""
    process = subprocess.run(
        [sys.executable, str(script), *args], cwd=cwd, env=user_env(env), capture_output=True,
        timeout=timeout, preexec_fn=preexec_fn,
    )
    return Result(process.returncode, _decoded(process.stdout), _decoded(process.stderr))


def _decoded(raw: bytes) -> str:
    """What a program wrote, as the text it printed (Windows writes "\\n" as "\\r\\n")."""
    return raw.decode("utf-8", "replace").replace(os.linesep, "\n")


def _exit_status(stop: SystemExit) -> int:
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)
    return 1


@dataclass
class _Said:
    out: str = ""
    err: str = ""


@contextlib.contextmanager
def _as_a_new_process(cwd: Path, env: dict[str, str]) -> Iterator[_Said]:
    """Run the block as if it were a new ``python reconcile.py``: in ``cwd``, with exactly
    ``env`` as its environment, file descriptors 1 and 2 going to files of their own (so
    what a child process or a forked worker writes is captured too, as with a pipe), and
    the process-wide settings ``cli.main`` changes put back afterwards."""
    from reconciler import render

    said = _Said()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams, saved_tempdir, saved_gc = (sys.stdout, sys.stderr), tempfile.tempdir, gc.get_threshold()
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        for stream in saved_streams:
            stream.flush()
        saved_fds = os.dup(1), os.dup(2)
        try:
            os.chdir(cwd)
            _replace_environ(env)
            tempfile.tempdir = None  # computed again from TMPDIR, TEMP, TMP
            render._PARTS.clear()  # a new process starts with no cached canonical parts
            os.dup2(out_file.fileno(), 1)
            os.dup2(err_file.fileno(), 2)
            # As Python opens them when they are not a terminal; cli.main reconfigures them.
            sys.stdout = _text_stream(1, errors="strict", line_buffering=False)
            sys.stderr = _text_stream(2, errors="backslashreplace", line_buffering=True)
            yield said
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(ValueError, OSError):
                    stream.flush()
            sys.stdout, sys.stderr = saved_streams
            for fd, saved in zip((1, 2), saved_fds):
                os.dup2(saved, fd)
                os.close(saved)
            os.chdir(saved_cwd)
            _replace_environ(saved_env)
            tempfile.tempdir = saved_tempdir
            gc.unfreeze()  # cli.main freezes what exists and collects rarely: for one run
            gc.set_threshold(*saved_gc)
        for file, name in ((out_file, "out"), (err_file, "err")):
            file.seek(0)
            setattr(said, name, _decoded(file.read()))


def _text_stream(fd: int, errors: str, line_buffering: bool) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, "w", closefd=False)), encoding="utf-8",
                            errors=errors, line_buffering=line_buffering)


def _replace_environ(env: Mapping[str, str]) -> None:
    """Make ``os.environ`` exactly ``env`` (and the C library's TZ with it)."""
    zone = os.environ.get("TZ")
    for name in [n for n in os.environ if n not in env]:
        del os.environ[name]
    for name, value in env.items():
        if os.environ.get(name) != value:
            os.environ[name] = value
    if os.environ.get("TZ") != zone and hasattr(time, "tzset"):
        time.tzset()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder with a copy of the example manifests in tasks.d/."""
    shutil.copytree(EXAMPLES, tmp_path / "tasks.d")
    return tmp_path


def store_snapshot(store: Path) -> dict[str, bytes]:
    """Every file in a local store, by relative path, with its bytes."""
    if not store.exists():
        return {}
    return {
        str(p.relative_to(store)): p.read_bytes()
        for p in sorted(store.rglob("*")) if p.is_file() and ".reconcile" not in p.name
    }
