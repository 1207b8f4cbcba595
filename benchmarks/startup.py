"""Per-job start-up with the data on disk: a fresh interpreter imports the app (and the
sweep callback, as Hydra does in every job process) and the training code, composes the config, loads the splits."""
import os
import subprocess
import sys

from benchmarks.common import MNIST_ROOT, REPO, interleaved, machine, table, timed

JOB_START = """
import mnist_hydra.app, mnist_hydra.train, mnist_hydra.sweep.callback
from hydra import compose, initialize_config_dir
import torch
with initialize_config_dir(config_dir=mnist_hydra.app.CONFIG_DIR, version_base="1.3"):
    cfg = compose("config")
mnist_hydra.train.load_splits(cfg, torch.device("cpu"))
"""


def python_seconds(code: str) -> float:
    env = {**os.environ, "MNIST_ROOT": MNIST_ROOT}
    return timed(lambda: subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True))


def run(reps: int) -> str:
    print("[startup] ...", flush=True)
    python_seconds(JOB_START)  # fills the decoded-tensor cache if this machine has none yet
    r = interleaved({
        "python": lambda: python_seconds("pass"),
        "torch": lambda: python_seconds("import torch"),
        "job": lambda: python_seconds(JOB_START),
    }, reps)
    return "\n\n".join([
        f"### Per-job start-up, seconds (fresh interpreter, median of {reps})",
        table(["python alone", "import torch", "job: import + compose + 55,000/5,000/10,000 splits ready"],
              [[r["python"], r["torch"], r["job"]]]),
        f"Machine: {machine()}",
    ])
