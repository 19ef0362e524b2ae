"""reconcile.py's runner: what a task with a ``run`` block executes instead of its actions.

Task Scheduler starts ``python -m reconciler.runner run --payload P``; the payload carries
everything the run needs (the task's path, its real actions, the run block, the runner's
home), so no repository checkout and no service are needed on the machine. The runner
checks the task's dependencies (``after``) and preconditions (``when``), runs the actions
with retries and an attempt timeout, keeps one log file per run and one history line
per run, notifies on failure, and finally writes a "finished" event to the Application
log that wakes the tasks that run after this one.

Standard library only (plus ``reconciler.cmdline``): ``runner-install`` copies these files
into a bare virtual environment. Nothing here may import PyYAML, lxml or jsonschema.

Exit codes (what Task Scheduler shows as Last Run Result):
    0      the run succeeded, or it did not need to run: "waiting" for a dependency,
           "skipped" (a precondition failed), "busy" (another start of the task runs)
    N      the run failed after its last attempt: the command's own exit code
    1460   the last attempt was stopped at attemptTimeout (ERROR_TIMEOUT)
    2      the command could not be started (ERROR_FILE_NOT_FOUND)
    254    the runner itself failed (unreadable payload, history not writable)
"""
from __future__ import annotations

VERSION = "1"
FORMAT = 1  # the payload's format version
MODULE = "reconciler.runner"

EVENT_LOG = "Application"
EVENT_SOURCE = "reconcile.py"
EVENT_ID = 4100  # "a run finished": event data = task path, result, exit code, run id

EXIT_OK = 0
EXIT_NOT_STARTED = 2
EXIT_TIMEOUT = 1460
EXIT_RUNNER_ERROR = 254

# Results a history record can carry. Only "succeeded" and "failed" are real runs:
# they are what dependents look at, and what wakes them.
RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
WAITING, SKIPPED, BUSY, ERROR = "waiting", "skipped", "busy", "error"
REAL_RESULTS = (SUCCEEDED, FAILED)
