"""`python -m mnist_hydra.summarize DIR...`: the sweep summary CLI under its first name."""
import sys

from mnist_hydra.sweep.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
