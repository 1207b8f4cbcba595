"""Training throughput (images/s, one epoch): the project's loop against a bare eager loop
and the standard torchvision + DataLoader pipeline; and augmented against standard."""
import tempfile
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from benchmarks.common import compose_config, interleaved, machine, table, timed, torchvision_root
from mnist_hydra.train import build, build_parts
from mnist_hydra.runtime import configure_threads
from mnist_hydra.training import Precision, evaluate, train_epoch

ROWS = [("stabilized", 16), ("stabilized", 128), ("simple_cnn", 16), ("simple_cnn", 128)]
PRECISION_BATCHES = (16, 64, 128)  # issue 13's rows: SimpleCNN, Adam, training at these batch sizes
Arm = Callable[[], float]


def project_arm(overrides: list[str]) -> Arm:
    """`train_epoch` called as `fit` calls it, on parts built as `train` builds them."""
    cfg = compose_config(overrides)
    configure_threads(cfg.threads)

    def arm() -> float:
        torch.manual_seed(0)
        p = build_parts(cfg, torch.device("cpu"))
        return len(p.train) / timed(lambda: train_epoch(
            model=p.model, data=p.train, batch_size=cfg.batch_size, optimizer=p.optimizer, criterion=p.criterion,
            transform=p.transform, precision=Precision(cfg.precision)))
    return arm


def eval_arm(overrides: list[str]) -> Arm:
    """`evaluate` over the 10,000 test images, as a run's test evaluation calls it."""
    cfg = compose_config(overrides)
    configure_threads(cfg.threads)
    p = build_parts(cfg, torch.device("cpu"))
    return lambda: len(p.test) / timed(lambda: evaluate(
        model=p.model, data=p.test, criterion=p.criterion, transform=p.transform,
        batch_size=cfg.eval_batch_size, precision=Precision(cfg.precision)))


def bare_arm(overrides: list[str]) -> Arm:
    """Plain eager PyTorch: same model, optimizer and batch size over normalised tensors in
    memory, default layout and settings, nothing else."""
    cfg = compose_config(overrides)
    split = build_parts(cfg, torch.device("cpu")).train
    images, labels = (split.images - cfg.transform.mean) / cfg.transform.std, split.labels

    def arm() -> float:
        torch.manual_seed(0)
        model = build(cfg.model)
        optimizer = build(cfg.optimizer)(model.parameters())

        def epoch() -> None:
            for start in range(0, len(labels), cfg.batch_size):
                optimizer.zero_grad()
                batch = slice(start, start + cfg.batch_size)
                loss = F.cross_entropy(model(images[batch]), labels[batch])
                loss.backward()
                optimizer.step()
        model.train()
        return len(labels) / timed(epoch)
    return arm


def standard_arm(overrides: list[str], root: Path, size: int, workers: int) -> Arm:
    """What most MNIST code does: torchvision MNIST, per-sample ToTensor + Normalize, a DataLoader."""
    cfg = compose_config(overrides)
    to_tensor = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize((cfg.transform.mean,), (cfg.transform.std,))])
    dataset = Subset(datasets.MNIST(str(root), train=True, transform=to_tensor), range(size))

    def arm() -> float:
        torch.manual_seed(0)
        model = build(cfg.model)
        optimizer = build(cfg.optimizer)(model.parameters())
        loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=workers)

        def epoch() -> None:
            for images, labels in loader:
                optimizer.zero_grad()
                loss = F.cross_entropy(model(images), labels)
                loss.backward()
                optimizer.step()
        model.train()
        return size / timed(epoch)
    return arm


def data_overrides(size: int, threads: int | None) -> list[str]:
    # `threads` reaches every arm: they share this process, and configure_threads sets it for all.
    return [f"data.train_size={size}", "data.val_size=1000", f"threads={'null' if threads is None else threads}"]


def precision_run(reps: int, size: int, threads: int | None) -> str:
    """Issue 13: the project's training epoch and test evaluation in float32 against
    bfloat16 autocast (SimpleCNN, Adam, defaults otherwise: channels-last, eval batch 128)."""
    base = ["model=simple_cnn", "optimizer=adam", *data_overrides(size, threads)]
    rows = []
    for batch in PRECISION_BATCHES:
        print(f"[precision] training, batch {batch} ...", flush=True)
        rows.append([f"training, batch {batch}", *arms_ratio({
            precision: project_arm([*base, f"batch_size={batch}", f"precision={precision}"])
            for precision in ("32-true", "bf16-mixed")}, reps)])
    print("[precision] evaluation ...", flush=True)
    rows.append(["evaluation (10,000 test images), batch 128", *arms_ratio({
        precision: eval_arm([*base, f"precision={precision}"]) for precision in ("32-true", "bf16-mixed")}, reps)])
    return "\n\n".join([
        f"### Precision, images/s (SimpleCNN, Adam, {size} training images, median of {reps}, arms interleaved, "
        f"{torch.get_num_threads()} torch threads)",
        table(["what", "32-true", "bf16-mixed", "bf16 / fp32"], rows),
        f"Machine: {machine()}",
    ])


def arms_ratio(arms: dict[str, Arm], reps: int) -> list[object]:
    """Two arms' medians, interleaved, and the second's over the first's."""
    first, second = interleaved(arms, reps).values()
    return [round(first), round(second), second / first]


def run(reps: int, size: int, threads: int | None) -> str:
    data = data_overrides(size, threads)
    speed_rows, aug_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = torchvision_root(Path(tmp))
        for model, batch in ROWS:
            base = [f"model={model}", f"batch_size={batch}", *data]
            print(f"[throughput] {model} batch {batch} ...", flush=True)
            r = interleaved({
                "bare": bare_arm(base),
                "project": project_arm(base),
                "project_nchw": project_arm([*base, "channels_last=false"]),
                "augmented": project_arm([*base, "transform=augmented"]),
                "std_w0": standard_arm(base, root, size, workers=0),
                "std_w2": standard_arm(base, root, size, workers=2),
            }, reps)
            speed_rows.append([model, batch, round(r["bare"]), round(r["std_w0"]), round(r["std_w2"]),
                               round(r["project_nchw"]), round(r["project"]), r["project_nchw"] / r["bare"],
                               r["project"] / r["bare"], r["project"] / r["std_w0"], r["std_w0"] / r["bare"]])
            aug_rows.append([model, batch, round(r["project"]), round(r["augmented"]), r["augmented"] / r["project"]])
    return "\n\n".join([
        f"### Training throughput, images/s ({size} images, 1 epoch, median of {reps}, arms interleaved, "
        f"{torch.get_num_threads()} torch threads)",
        table(["model", "batch", "bare eager", "std DataLoader w0", "std DataLoader w2", "project NCHW",
               "project (defaults)", "NCHW / bare", "project / bare", "project / std w0", "std w0 / bare"],
              speed_rows),
        "### Augmented vs standard transform (project loop, defaults), images/s",
        table(["model", "batch", "standard", "augmented", "augmented / standard"], aug_rows),
        f"Machine: {machine()}",
    ])
