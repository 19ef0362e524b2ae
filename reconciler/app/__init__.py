"""The application layer: what each command does, as plain functions over values that
take no command-line objects and print nothing (``commands`` parses and shows).

- ``plans``: load the desired state, read the actual state, plan, apply;
- ``tasks``: one task by name (render, next runs);
- ``status``: managed tasks and their runs;
- ``project``: import, init, history, the runner's installation."""
from __future__ import annotations

from ..backends import open_backend

__all__ = ["open_backend"]
