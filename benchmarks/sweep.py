"""Wall time of the lr_batch_grid study (20 runs, 1 epoch each): the app with the basic and
the joblib launchers, against a sequential loop over the standard pipeline in one process
(a stand-in for the original tool)."""
import itertools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import MNIST_ROOT, REPO, interleaved, machine, table, timed, torchvision_root

EPOCHS = 1
LRS = (0.0001, 0.001, 0.01, 0.1)  # conf/experiment/lr_batch_grid.yaml
BATCH_SIZES = (8, 16, 32, 64, 128)
TRAIN_SIZE, VAL_SIZE = 800, 100


def standard_study(root: str) -> None:
    """For each lr x batch size: DataLoader + SimpleCNN + Adam, train, evaluate on the held-out images."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from mnist_hydra.models import SimpleCNN

    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    dataset = datasets.MNIST(root, train=True, transform=to_tensor)
    train_set = Subset(dataset, range(TRAIN_SIZE))
    val_set = Subset(dataset, range(TRAIN_SIZE, TRAIN_SIZE + VAL_SIZE))
    for lr, batch_size in itertools.product(LRS, BATCH_SIZES):
        torch.manual_seed(42)
        model = SimpleCNN()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(EPOCHS):
            model.train()
            for images, labels in DataLoader(train_set, batch_size=batch_size, shuffle=True):
                optimizer.zero_grad()
                F.cross_entropy(model(images), labels).backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                correct = sum((model(x).argmax(1) == y).sum().item() for x, y in DataLoader(val_set, batch_size=1000))
        print(f"lr {lr} batch {batch_size}: val acc {100 * correct / VAL_SIZE:.1f}%", flush=True)


def seconds(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "MNIST_ROOT": MNIST_ROOT}
    return timed(lambda: subprocess.run([sys.executable, *args], cwd=cwd, env=env, check=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def run(reps: int) -> str:
    print("[sweep] ...", flush=True)
    app = ["-m", "mnist_hydra.run", "-m", "+experiment=lr_batch_grid", f"epochs={EPOCHS}"]
    with tempfile.TemporaryDirectory() as tmp:
        root = torchvision_root(Path(tmp) / "torchvision")
        runs = itertools.count()
        r = interleaved({
            "basic": lambda: seconds([*app, f"hydra.sweep.dir={tmp}/{next(runs)}"], REPO),
            "joblib": lambda: seconds([*app, "hydra/launcher=joblib", f"hydra.sweep.dir={tmp}/{next(runs)}"], REPO),
            "standard": lambda: seconds(["-c", f"from benchmarks.sweep import standard_study; standard_study({str(root)!r})"], REPO),
        }, reps)
    return "\n\n".join([
        f"### lr_batch_grid study wall time, seconds (20 runs x {EPOCHS} epoch, {TRAIN_SIZE}/{VAL_SIZE} images, median of {reps})",
        table(["sequential standard pipeline", "app, basic launcher", "app, joblib launcher",
               "basic / standard", "joblib / standard"],
              [[r["standard"], r["basic"], r["joblib"], r["basic"] / r["standard"], r["joblib"] / r["standard"]]]),
        f"Machine: {machine()}",
    ])
