"""`python -m mnist_hydra.run [overrides]`: the same app as the `mnist-hydra` command."""
from mnist_hydra.app import main

if __name__ == "__main__":
    main()
