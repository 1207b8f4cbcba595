"""`python -m mnist_hydra.eval ckpt_path=RUN_DIR/best.pt`: the same app as `mnist-eval`."""
from mnist_hydra.evaluate import main

if __name__ == "__main__":
    main()
