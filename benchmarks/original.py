"""A faithful stand-in for the original tool's `main.py --grid_search`: one process, a
sequential loop over lr x batch size, torchvision's MNIST through per-sample `ToTensor` +
`Normalize((0.5,), (0.5,))`, `Subset`, a `DataLoader` per batch size, SimpleCNN, Adam
(weight decay 0), seed 42, validation on the 100 held-out images every epoch, no test set.

    python -m benchmarks.original --root <torchvision root> --lrs 0.001 0.1 --batch-sizes 8 16 --epochs 5

Prints one line per run and, with `--out`, writes {"lr,batch": {"best": best val acc %,
"seconds": the run's time}} as JSON (the rest of the wall time is start-up: imports, data).
It takes the same 800 / 100 images as the project's split (`data.split_seed` 0), so that
the two pipelines can be compared cell by cell; what differs is the pipeline only.
"""
import argparse
import itertools
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import datasets, transforms

from mnist_hydra.data import split_indices
from mnist_hydra.models import SimpleCNN

SEED = 42
TRAIN_SIZE, VAL_SIZE = 800, 100


def cell(lr: float, batch_size: int) -> str:
    """The key of one grid cell in the results JSON (shared with benchmarks.sweep)."""
    return f"{lr:g},{batch_size}"


def accuracy(model: torch.nn.Module, loader: DataLoader) -> float:
    """Accuracy % over a loader, in eval mode without gradients (as the original validated)."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (model(images).argmax(1) == labels).sum().item()
            total += len(labels)
    return 100.0 * correct / total


def train_run(train_set: Dataset, val_set: Dataset, lr: float, batch_size: int, epochs: int,
              seed: int = SEED) -> list[float]:
    """One grid cell: the validation accuracy % after each epoch."""
    torch.manual_seed(seed)  # per run, as the original seeded each grid combination
    model = SimpleCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=0.0)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=batch_size)
    curve = []
    for _ in range(epochs):
        model.train()
        running_loss = 0.0
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()  # the original logged the epoch's loss from per-step values
        curve.append(accuracy(model, val_loader))
    return curve


def grid(root: str, lrs: list[float], batch_sizes: list[int], epochs: int,
         seed: int = SEED) -> dict[str, dict[str, float]]:
    """Every lr x batch size cell in turn: {cell: {"best": best val acc %, "seconds": run time}}."""
    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    dataset = datasets.MNIST(root, train=True, transform=to_tensor)
    train_idx, val_idx = split_indices(len(dataset), TRAIN_SIZE, VAL_SIZE, split_seed=0)
    train_set, val_set = Subset(dataset, train_idx.tolist()), Subset(dataset, val_idx.tolist())
    results = {}
    for lr, batch_size in itertools.product(lrs, batch_sizes):
        start = time.perf_counter()
        curve = train_run(train_set, val_set, lr, batch_size, epochs, seed)
        results[cell(lr, batch_size)] = {"best": max(curve), "seconds": time.perf_counter() - start}
        print(f"lr {lr:g} batch {batch_size}: best val acc {max(curve):.1f}%  curve {curve}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.original", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="folder holding MNIST/raw/ (benchmarks.common.torchvision_root)")
    parser.add_argument("--lrs", type=float, nargs="+", required=True)
    parser.add_argument("--batch-sizes", type=int, nargs="+", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seed", type=int, default=SEED, help="torch seed of every run (the study's: 42)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    results = grid(args.root, args.lrs, args.batch_sizes, args.epochs, args.seed)
    if args.out:
        args.out.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
