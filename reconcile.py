#!/usr/bin/env python3
"""reconcile.py: make a Windows Task Scheduler folder match YAML manifests.

Thin entry point; everything lives in the ``reconciler`` package."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reconciler.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
