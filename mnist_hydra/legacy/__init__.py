"""The original argparse tool's command line on top of the Hydra app.

``cli`` holds the flags and runs the app (``mnist-legacy``, ``python -m mnist_hydra.legacy``,
``python main.py`` in a checkout); ``config_file`` reads the original tool's YAML config.
"""
