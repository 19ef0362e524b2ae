#!/usr/bin/env python3
"""The schtasks emulator kept resident, for benchmarks that time many calls.

Started per call, the emulator spends about 0.15 s of CPU on Python start-up and imports
(lxml, the rules) before it does anything: with two cores, four parallel callers then
wait for CPU, not for Task Scheduler, and a benchmark of parallel writes measures
Python start-up. The real schtasks.exe is a small native program that mostly waits for
the Task Scheduler service. Here the same emulator code runs in one resident process;
each call is a tiny client (``python -S``, built-in modules only) that forwards its arguments and
``SCHTASKS_EMULATOR_*`` settings over a Unix socket and prints the answer.

    python resident.py SOCKET            # serve until killed (or: start(SOCKET))
    python -S resident.py --client ...   # one call (SCHTASKS_EMULATOR_RESIDENT=SOCKET)

``SCHTASKS_EMULATOR_DELAY_MS`` is slept per call before the call takes the machine's
lock, as the emulator does; the calls themselves run one at a time (the state lock of
the emulator is a file lock, which threads of one process would not feel)."""
from __future__ import annotations

import marshal  # built in: the client imports nothing that costs start-up time
import os
import sys

TYPE_CHECKING = False  # typing itself is not imported: the client must start fast
if TYPE_CHECKING:
    import subprocess

ENV_SOCKET = "SCHTASKS_EMULATOR_RESIDENT"
PREFIX = "SCHTASKS_EMULATOR_"


def client(argv: list[str]) -> int:
    import _socket  # socket.py would import enum and more

    request = {"argv": argv, "env": {k: v for k, v in os.environ.items() if k.startswith(PREFIX)},
               "stdin": sys.stdin.read() if not sys.stdin.isatty() else ""}
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        connection.connect(os.environ[ENV_SOCKET])
        connection.sendall(marshal.dumps(request))
        connection.shutdown(_socket.SHUT_WR)
        chunks = []
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        connection.close()
    answer = marshal.loads(b"".join(chunks))
    sys.stdout.buffer.write(answer["out"])
    sys.stderr.buffer.write(answer["err"])
    return int(answer["code"])


def start(path: str) -> "subprocess.Popen[bytes]":
    """A resident emulator serving on ``path``, started and ready (its socket exists);
    the caller terminates it."""
    import subprocess
    import time

    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), path])
    for _ in range(1000):
        if os.path.exists(path):
            return server
        if server.poll() is not None:
            break
        time.sleep(0.01)
    server.kill()
    raise RuntimeError(f"the resident emulator did not start on {path}")


def serve(path: str) -> None:
    import io
    import socketserver
    import threading
    import time

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import schtasks_emulator

    one_at_a_time = threading.Lock()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            request = marshal.loads(self.rfile.read())
            env = dict(request["env"])
            delay = float(env.pop(PREFIX + "DELAY_MS", "0") or 0)
            if delay:
                time.sleep(delay / 1000)
            out, err = io.BytesIO(), io.BytesIO()
            with one_at_a_time:
                code = schtasks_emulator.main(request["argv"], env, io.StringIO(request["stdin"]), out, err)
            self.wfile.write(marshal.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue()}))

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    with Server(path, Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        sys.exit(client(sys.argv[2:]))
    serve(sys.argv[1])
