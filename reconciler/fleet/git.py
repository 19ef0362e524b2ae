"""The one place pull mode runs git: fetch one ref of a repository into a checkout of
its own, read-only (nothing is ever pushed, no credentials are stored by us: git's own
credential helper answers for a private repository)."""
from __future__ import annotations

import os
import subprocess

from ..errors import ReconcileError

TIMEOUT = 600  # seconds for one git command
ENV_GIT = "RECONCILE_GIT"  # the git executable (default: git on PATH)


class GitError(ReconcileError):
    pass


def _git(*arguments: str, cwd: str | None = None) -> str:
    command = [os.environ.get(ENV_GIT) or "git", *arguments]
    # A scheduled task has no console: git must fail rather than wait for a password.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                              check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitError(f"git is not installed (or set {ENV_GIT} to its path)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {arguments[0]} took longer than {TIMEOUT}s") from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise GitError(f"git {arguments[0]} failed: {said[-1] if said else f'exit {done.returncode}'}")
    return done.stdout


def fetch(repo: str, ref: str, checkout: str) -> str:
    """``ref`` of ``repo`` checked out (detached, untracked files removed) in
    ``checkout``; returns its commit."""
    if not os.path.isdir(os.path.join(checkout, ".git")):
        os.makedirs(checkout, exist_ok=True)
        _git("init", "--quiet", cwd=checkout)
    _git("fetch", "--quiet", "--depth", "1", "--no-tags", repo, ref, cwd=checkout)
    _git("checkout", "--quiet", "--force", "--detach", "FETCH_HEAD", cwd=checkout)
    _git("clean", "-ffdxq", cwd=checkout)
    return _git("rev-parse", "HEAD", cwd=checkout).strip()
