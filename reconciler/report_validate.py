"""The views of ``validate``: the JSON document for machines, and GitHub's annotations
for the problems (``--github``)."""
from __future__ import annotations

import json
import sys

from .errors import ManifestError


def as_json(directory: str, root: str, tasks: list[tuple[str, str]], warnings: list[str],
            error: ManifestError | None, host: str | None = None) -> str:
    """Every task (path, manifest) or every problem, with the look-alike warnings
    (``host``: the inventory host whose subset was validated)."""
    body: dict[str, object] = {"format_version": 1, "directory": directory, "root": root}
    if host is not None:
        body["host"] = host
    if error is not None:
        problems = [{"file": p.path, "line": p.line, "column": p.column, "message": p.message}
                    for p in error.problems]
        body.update(valid=False, tasks=[], problems=problems, warnings=warnings)
    else:
        body.update(valid=True, tasks=[{"path": path, "manifest": origin} for path, origin in tasks],
                    problems=[], warnings=warnings)
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def annotate(error: ManifestError) -> None:
    """Each problem as a GitHub Actions ``::error`` line on stderr, escaped as the runner
    reads workflow commands."""
    for problem in error.problems:
        message = problem.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        file = problem.path.replace("\\", "/").replace("%", "%25").replace(",", "%2C").replace(":", "%3A")
        print(f"::error file={file},line={problem.line},col={problem.column}::{message}",
              file=sys.stderr)
