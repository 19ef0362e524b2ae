"""reconcile.py: a declarative reconciler for Windows Task Scheduler (README.md)."""

__version__ = "0.1.0"  # the one place it is written: pyproject.toml reads it from here
