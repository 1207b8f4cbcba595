"""The old tool's entry point, kept so that `python main.py --grid_search --lr 0.001 0.01 ...`
still works from a checkout without installing.  It runs the Hydra app through the legacy
command-line wrapper (the same as `mnist-legacy` / `python -m mnist_hydra.legacy`)."""

import os
import sys

if __name__ == "__main__":
    root = os.path.dirname(os.path.abspath(__file__))
    if root not in (os.path.abspath(p or os.curdir) for p in sys.path):
        sys.path.insert(0, root)
    from mnist_hydra.legacy.cli import main

    sys.exit(main())
