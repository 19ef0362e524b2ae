"""``python -m reconciler``: the same as ``python reconcile.py``."""
from .cli import main

# Guarded: a worker process started with "spawn" imports the main module again.
if __name__ == "__main__":
    raise SystemExit(main())
