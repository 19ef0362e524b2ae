"""``python -m reconciler``: the same as ``python reconcile.py``."""
from .cli import main

raise SystemExit(main())
