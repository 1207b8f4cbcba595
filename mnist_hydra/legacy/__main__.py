"""``python -m mnist_hydra.legacy``: the old tool's command line."""

import sys

from mnist_hydra.legacy.cli import main

sys.exit(main())
