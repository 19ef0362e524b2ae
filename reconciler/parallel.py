"""Reading a large manifest folder on several cores.

Parsing YAML, checking the schema, compiling and rendering are work per document, and
most of what a plan of thousands of tasks costs. Worker processes share the files out:

1. each reads its files and checks them against the schema, keeps its task documents and
   sends back its problems and its Defaults documents;
2. the main process registers the Defaults in the order a serial run meets them (so
   "a second Defaults document" names the same one) and sends them to every worker;
3. each worker compiles its task documents with their nearest Defaults, prepares
   (renders) those without a run block, and sends the results back;
4. the main process adds the tasks in the serial order: duplicate names, problems and
   results are exactly a serial run's (tests compare the two).

Anything that goes wrong with the machinery (a worker that cannot start, dies, or
raises) makes ``load`` return None and the caller reads serially, which reports a real
problem the way it always does. Nothing is written anywhere: the processes talk over
pipes.

Where ``fork`` exists (Linux) workers start in milliseconds and are used from
``MIN_FILES`` files on. Elsewhere (Windows) a worker must start a new interpreter and
import the package first; not measured on Windows, so there it is opt-in:
``RECONCILE_WORKERS=N``. ``RECONCILE_WORKERS=1`` always reads serially."""
from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import names
from .errors import UsageError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from .manifest import Compiled, Document, Loader, Selection
    from .model import TaskSpec

    # (file index in serial order, index of the document in the file, the document)
    _Numbered = tuple[int, int, Document]
    _Result = tuple[int, int, Compiled, Any]

ENV_WORKERS = "RECONCILE_WORKERS"
MIN_FILES = 100  # below this, starting workers costs more than it saves
MAX_WORKERS = 4  # processes, this one included; RECONCILE_WORKERS may ask for twice that
# This process's share, against a worker's, when it has other work to do meanwhile (a
# plan reads the live state). Measured at 10,000 tasks on two cores: reading the local
# store (about 1 s) costs a little more than a worker spends pickling its results.
MEANWHILE_SHARE = 0.95


def start_method() -> str:
    return "fork" if sys.platform.startswith("linux") else "spawn"


def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_count(files: int, method: str) -> int:
    """How many processes read ``files`` manifest files, this one included (1: no
    workers, a serial read)."""
    value = os.environ.get(ENV_WORKERS, "").strip()
    if value:
        try:
            wanted = int(value)
        except ValueError:
            raise UsageError(f"{ENV_WORKERS}={value!r}: expected a number of processes") from None
        return max(1, min(wanted, files, 2 * MAX_WORKERS))
    if method != "fork" or files < MIN_FILES:
        return 1
    return max(1, min(_cpus(), MAX_WORKERS, files // (MIN_FILES // 2)))


def load(directory: str, root: str, found: list[tuple[str, list[str]]],
         convert_cron: Callable[..., Any] | None, prepare: Callable[[TaskSpec], Any] | None,
         method: str | None = None, meanwhile: Callable[[], None] | None = None,
         select: Selection | None = None) -> tuple[Loader, dict[str, Any]] | None:
    """The loader state a serial run over ``found`` ends with, and the prepared value of
    each task (by ``names.key`` of its path); None where workers are not worth it or failed. ``meanwhile``
    is called once this process has done its share, while the workers finish theirs (it
    gets a smaller share for it); it must not raise."""
    from .manifest import Loader

    method = method or start_method()
    loader = Loader(directory, root, convert_cron, select)
    files = [(loader.relative(folder), file) for folder, files_in in found for file in files_in]
    count = worker_count(len(files), method)
    if count < 2:
        return None
    shares = _shares(files, count, first=MEANWHILE_SHARE if meanwhile else 1.0)
    try:
        return _run(loader, shares, method, convert_cron, prepare, meanwhile)
    except Exception:
        # The machinery failed, or a worker raised: a serial run does it right, and
        # reports any real problem in the usual way.
        return None


class _WorkerFailed(Exception):
    pass


def _shares(files: list[tuple[Path, str]], count: int,
            first: float = 1.0) -> list[list[tuple[int, Path, str]]]:
    """Files dealt out by size, each to the process with the least work so far; the
    first (this process) does ``first`` times a worker's part."""
    shares: list[list[tuple[int, Path, str]]] = [[] for _ in range(count)]
    weights = [first] + [1.0] * (count - 1)
    loads = [0.0] * count
    for index, (relative, file) in enumerate(files):
        try:
            size = os.path.getsize(file)
        except OSError:
            size = 0  # the reader reports it
        lightest = min(range(count), key=lambda k: loads[k] / weights[k])
        shares[lightest].append((index, relative, file))
        loads[lightest] += size + 512
    return [share for share in shares if share]


def _run(loader: Loader, shares: list[list[tuple[int, Path, str]]], method: str,
         convert_cron: Callable[..., Any] | None,
         prepare: Callable[[TaskSpec], Any] | None,
         meanwhile: Callable[[], None] | None = None) -> tuple[Loader, dict[str, Any]]:
    """The first share is read here, the others by worker processes meanwhile: this
    process would otherwise only wait, and its results need no pickling."""
    context: Any = multiprocessing.get_context(method)
    workers: list[tuple[Any, Connection]] = []
    if method == "fork":
        from . import schema

        schema.fast_validator()  # built once here, shared by every forked worker
    try:
        for share in shares[1:]:
            mine, theirs = context.Pipe()
            process = context.Process(target=work, daemon=True,
                                      args=(theirs, str(loader.base), loader.root, share, convert_cron, prepare,
                                            os.getpid()))
            process.start()
            theirs.close()
            workers.append((process, mine))
        here = _Share(str(loader.base), loader.root, shares[0], convert_cron, prepare)
        read = [here.read()] + [_receive(connection, "read") for _, connection in workers]
        defaults: list[_Numbered] = []
        for problems, positions, found in read:
            loader.problems.extend(problems)
            loader.schema_positions.update(positions)
            defaults.extend(found)
        for _, _, doc in sorted(defaults, key=lambda d: (d[0], d[1])):
            loader.add_defaults(doc)
        for _, connection in workers:
            connection.send(loader.defaults)
        compiled = here.compile(loader.defaults)
        if meanwhile is not None:
            meanwhile()
        for _, connection in workers:
            compiled.extend(_receive(connection, "compiled"))
        prepared: dict[str, Any] = {}
        for _, _, result, ready in sorted(compiled, key=lambda c: (c[0], c[1])):
            loader.add(result)
            task = result.task
            # Only a task the loader kept: a second task at the same path is a problem,
            # and its rendering must not stand in for the first's.
            if ready is not None and task is not None and loader.seen.get(names.key(task.path)) is task:
                prepared[names.key(task.path)] = ready
        return loader, prepared
    finally:
        for process, connection in workers:
            connection.close()
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()


def _receive(connection: Connection, expected: str) -> Any:
    message = connection.recv()
    if message[0] != expected:
        raise _WorkerFailed(message[1] if len(message) > 1 else "a worker failed")
    return message[1]



class _Share:
    """One process's part of the work: its files read and checked, then its task
    documents compiled and prepared."""

    def __init__(self, directory: str, root: str, share: list[tuple[int, Path, str]],
                 convert_cron: Callable[..., Any] | None, prepare: Callable[[TaskSpec], Any] | None) -> None:
        from .manifest import Loader

        self.loader = Loader(directory, root, convert_cron)
        self.share = share
        self.prepare = prepare
        self.tasks: list[_Numbered] = []

    def read(self) -> tuple[list[Any], set[Any], list[_Numbered]]:
        defaults: list[_Numbered] = []
        for index, relative, file in self.share:
            for number, doc in enumerate(self.loader.documents(file, relative)):
                kind = doc.data.get("kind")
                if kind == "Defaults":
                    defaults.append((index, number, doc))
                elif kind == "ScheduledTask":
                    self.tasks.append((index, number, doc))
        return self.loader.problems, self.loader.schema_positions, defaults

    def compile(self, registered: dict[Path, Document]) -> list[_Result]:
        from .manifest import compile_task

        results: list[_Result] = []
        for index, number, doc in self.tasks:
            result = compile_task(doc, registered, self.loader.root, self.loader.convert_cron)
            ready = None
            if (self.prepare is not None and result.task is not None and not result.lenient
                    and result.task.run is None):
                try:
                    ready = self.prepare(result.task)
                except Exception:  # prepared again by the main process, which reports it
                    ready = None
            results.append((index, number, result, ready))
        return results


def _parent_gone(parent: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - Windows: a spawned child has its parent's handle
        process = multiprocessing.parent_process()
        return process is not None and not process.is_alive()
    return os.getppid() != parent  # POSIX: an orphan is adopted by another process


def _watch_parent(parent: int) -> None:
    """A thread that ends this worker as soon as its parent is gone, wherever the
    worker is (reading, or waiting for the parent's next message)."""
    import threading
    import time

    def watch() -> None:
        while not _parent_gone(parent):
            time.sleep(0.25)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def detach_from_parent(parent: int) -> None:
    """Make a worker die with its parent and let go of the parent's output.

    A worker forked from ``plan`` holds copies of everything the parent had open,
    stdout and stderr included: if the parent is killed (a CI step cancelled), a worker
    left waiting would keep the step's pipes open and the step would wait for an output
    that never ends. So the worker points its standard streams at the null device (it
    reports through its pipe only), asks Linux to kill it when its parent dies
    (PR_SET_PDEATHSIG, prctl(2)), and watches its parent besides (other systems, and a
    parent that died before the request took effect)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watcher does it
            pass
    if _parent_gone(parent):
        os._exit(1)
    _watch_parent(parent)


def work(connection: Connection, directory: str, root: str, share: list[tuple[int, Path, str]],
         convert_cron: Callable[..., Any] | None, prepare: Callable[[TaskSpec], Any] | None,
         parent: int | None = None) -> None:
    """A worker process: read and check its files, wait for the Defaults, compile and
    prepare its tasks."""
    import traceback

    try:
        detach_from_parent(os.getppid() if parent is None else parent)
        mine = _Share(directory, root, share, convert_cron, prepare)
        connection.send(("read", mine.read()))
        connection.send(("compiled", mine.compile(connection.recv())))
    except BaseException:  # noqa: BLE001 - reported to the main process, which reads serially
        try:
            connection.send(("failed", traceback.format_exc()))
        except Exception:
            pass
    finally:
        connection.close()
