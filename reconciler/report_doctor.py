"""Views of ``doctor``'s evidence: one line per check and a summary for a terminal, JSON
for a bug report."""
from __future__ import annotations

import json

from .app.doctor import DIFFERS, OK, SKIPPED, Check, Evidence

FORMAT_VERSION = 1
_WIDTH = max(len(OK), len(DIFFERS), len(SKIPPED))


def check_line(check: Check) -> str:
    detail = f" — {check.detail}" if check.detail else ""
    return f"{check.result:<{_WIDTH}}  {check.name}{detail}\n"


def summary(evidence: Evidence) -> str:
    machine = evidence.machine
    where = machine.get("windows_build") or machine.get("os") or machine.get("platform")
    verdict = "everything matched" if evidence.passed else "Windows and reconcile.py disagree"
    return (f"doctor: {evidence.count(OK)} ok, {evidence.count(DIFFERS)} DIFFERS, "
            f"{evidence.count(SKIPPED)} SKIPPED on the {machine.get('backend')} backend ({where}): "
            f"{verdict}.\n")


def as_json(evidence: Evidence) -> str:
    body = {"format_version": FORMAT_VERSION, "passed": evidence.passed, "root": evidence.root,
            "machine": evidence.machine,
            "checks": [{"name": c.name, "result": c.result, "detail": c.detail, "observed": c.observed}
                       for c in evidence.checks]}
    return json.dumps(body, indent=2, ensure_ascii=False, default=str) + "\n"
