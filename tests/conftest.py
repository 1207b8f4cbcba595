"""Shared helpers: compose configs the way the app does, and run the real CLI."""
import csv
import os
import subprocess
import sys
from pathlib import Path

from mnist_hydra.config import compose_config  # noqa: F401 - the tests' way to build configs

REPO = Path(__file__).resolve().parent.parent
# Tiny, fast settings on the shipped sample: a real run in a few seconds.
TINY = ["data=mnist_sample", "data.train_size=300", "data.val_size=100", "epochs=1",
        "optimizer=adam"]


def run_cli(args: list[str], cwd: Path, module: str = "mnist_hydra.run", **kwargs) -> subprocess.CompletedProcess:
    """The app as a user runs it, in a subprocess, from `cwd`."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(cwd / ".cache")}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=kwargs.pop("timeout", 600), **kwargs,
    )


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))
