"""Workflows, compile-time side: what a task with a ``run`` block becomes in Task Scheduler.

Such a task is registered with ONE Exec action that starts reconcile.py's runner
(``<runner.python> -m reconciler.runner run --payload P``); the payload carries the task's
path, its real actions, the run block and the runner's home (see
``reconciler.runner.payload``). A task with ``run.after`` also gets one EventTrigger per
dependency, subscribed to the "run finished" event the runner writes to the Application
log (``reconciler.runner.events``). Everything here is pure and deterministic.

- ``spec``: the run block as typed records (``RunSpec.from_manifest``), carried on
  ``TaskSpec.run``;
- ``checks``: ``check_run(run)`` / ``check_task(spec)``, problems the JSON schema cannot
  express;
- ``graph``: ``DepNode``, ``dependency_problems(nodes)``, ``resolve_dependencies(nodes)``:
  ``after`` across all tasks (unknown or ambiguous names, targets without ``run``,
  ``settings.retry`` with ``run.retry``, cycles);
- ``payload``: ``runner_action(...)``, the action that replaces the task's actions, and
  ``parse_runner_action(command, arguments)`` for import;
- ``wake``: ``wake_triggers(paths)``, the triggers appended to the task's own, and
  ``is_wake_trigger(canonical)`` for import;
- ``home``: where the runner keeps a task's history (``store_account``)."""
from __future__ import annotations

from .checks import Problems, check_run, check_task
from .graph import (
    DepNode, ResolvedDependency, dependency_problems, dependency_problems_at, node_from_spec,
    resolve_dependencies,
)
from .home import DEFAULT_RUNNER, RUNNER_KEYS, store_account
from .payload import (
    MAX_ARGUMENTS, PayloadTooLarge, denormalize_run, normalize_run, parse_runner_action, payload_data,
    runner_action,
)
from .spec import (
    DEFAULT_TIME_LIMIT, MULTIPLE_INSTANCES_WITH_AFTER, NOTIFY_KINDS, REQUIRE, RUN_KEYS, TLS, WHEN_KINDS,
    CommandCheck, Condition, Dependency, Email, FileExists, LogPolicy, Notifier, RetryPolicy, RunSpec, Smtp,
    UrlReachable, Webhook, to_seconds,
)
from .wake import is_wake_trigger, wake_query, wake_trigger_task, wake_triggers

__all__ = [
    "CommandCheck", "Condition", "DEFAULT_RUNNER", "DEFAULT_TIME_LIMIT", "DepNode", "Dependency", "Email",
    "FileExists", "LogPolicy", "MAX_ARGUMENTS", "MULTIPLE_INSTANCES_WITH_AFTER", "NOTIFY_KINDS", "Notifier",
    "PayloadTooLarge", "Problems", "REQUIRE", "RUNNER_KEYS", "RUN_KEYS", "ResolvedDependency", "RetryPolicy",
    "RunSpec", "Smtp", "TLS", "UrlReachable", "WHEN_KINDS", "Webhook", "check_run", "check_task",
    "denormalize_run", "dependency_problems", "dependency_problems_at", "is_wake_trigger", "node_from_spec",
    "normalize_run", "parse_runner_action", "payload_data", "resolve_dependencies", "runner_action",
    "store_account", "to_seconds", "wake_query", "wake_trigger_task", "wake_triggers",
]
