"""The training loop: flat functions over in-memory tensors, batched by indexing."""
import copy
import math
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

Transform = Callable[[torch.Tensor, bool], torch.Tensor]
Progress = Callable[[Iterable, int], Iterable]  # (batches, epoch) -> batches, e.g. a tqdm bar


@dataclass
class Split:
    """Images in [0, 1] as float [N, 1, 28, 28] and int64 labels, on the run's device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float


@dataclass
class FitResult:
    """A run's history and its best epoch; best_* stay None when no epoch trained finitely."""

    history: list[EpochResult] = field(default_factory=list)
    best_val_acc: float | None = None
    best_epoch: int | None = None
    best_state: dict[str, torch.Tensor] | None = None
    diverged: bool = False


@dataclass
class Precision:
    """Lightning's precision names: autocast for the forward pass; weights, optimizer state,
    losses and metrics stay float32."""

    name: str = "32-true"

    DTYPES = {"32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}

    def autocast(self, device: torch.device) -> AbstractContextManager:
        dtype = self.DTYPES[self.name]
        return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)

    def scaler(self, device: torch.device) -> torch.amp.GradScaler | None:
        """float16 gradients underflow without loss scaling; bfloat16 has float32's range."""
        return torch.amp.GradScaler(device.type) if self.name == "16-mixed" else None


FP32 = Precision()


def autocast_speedup(model: nn.Module, images: torch.Tensor, precision: Precision, steps: int = 3) -> float:
    """float32 time over `precision` time for forward + backward on one batch, on a copy of
    the model (one warm-up step each, then `steps` timed ones). Below 1: autocast is slower,
    as bfloat16 is on CPUs without native bf16 instructions. An accelerator runs the steps
    asynchronously, so the clock is read only once it has finished them."""
    probe = copy.deepcopy(model).train()
    device = images.device

    def finish() -> None:
        if device.type != "cpu":
            torch.accelerator.synchronize(device)

    def seconds(p: Precision) -> float:
        for step in range(steps + 1):
            if step == 1:
                finish()  # the warm-up step included
                start = time.perf_counter()
            with p.autocast(device):
                probe(images).float().sum().backward()
        finish()
        return time.perf_counter() - start

    return seconds(FP32) / seconds(precision)


def train_epoch(
    *, model: nn.Module, data: Split, batch_size: int, optimizer: torch.optim.Optimizer,
    criterion: nn.Module, transform: Transform, precision: Precision = FP32,
    progress: Callable[[Iterable], Iterable] = iter, max_batches: int | None = None,
) -> tuple[float, float]:
    """One pass over a fresh permutation (its first `max_batches` batches, if set);
    returns (mean loss, accuracy %) over the images seen."""
    model.train()
    device = data.labels.device
    scaler = precision.scaler(device)
    seen = len(data) if max_batches is None else min(len(data), max_batches * batch_size)
    order = torch.randperm(len(data), device=device)[:seen]
    # Sums stay on the device: a per-step .item() would sync every batch.
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in progress(range(0, seen, batch_size)):
        idx = order[start:start + batch_size]
        images, labels = transform(data.images[idx], True), data.labels[idx]
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast(device):
            logits = model(images)
        loss = criterion(logits.float(), labels)  # the loss in float32 whatever the precision
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.detach().argmax(1) == labels).sum()
    return loss_sum.item() / seen, 100.0 * correct.item() / seen


@torch.inference_mode()
def evaluate(
    *, model: nn.Module, data: Split, criterion: nn.Module, transform: Transform, batch_size: int,
    precision: Precision = FP32, on_predictions: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy % over a split, in batches of `batch_size`;
    `on_predictions(predicted, labels)` sees every batch (e.g. for a confusion matrix)."""
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(data), batch_size):
        images = transform(data.images[start:start + batch_size], False)
        labels = data.labels[start:start + batch_size]
        with precision.autocast(labels.device):
            logits = model(images)
        predicted = logits.argmax(1)
        loss_sum += criterion(logits.float(), labels).item() * len(labels)
        correct += (predicted == labels).sum().item()
        if on_predictions is not None:
            on_predictions(predicted, labels)
    return loss_sum / len(data), 100.0 * correct / len(data)


def convergence_epoch(train_losses: list[float], epochs: int | None, tol: float = 1e-3,
                      patience: int = 3) -> int | None:
    """The original tool's definition: the first epoch ending a streak of `patience` epochs
    whose training loss fell by a positive amount below `tol` (a rise resets the streak);
    `epochs` if that never happened (None for a run stopped early: it may converge later)."""
    streak = 0
    for epoch in range(1, len(train_losses)):
        drop = train_losses[epoch - 1] - train_losses[epoch]
        streak = streak + 1 if 0 < drop < tol else 0
        if streak == patience:
            return epoch + 1
    return epochs


def fit(
    *, model: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module, transform: Transform,
    train: Split, val: Split, epochs: int, batch_size: int, eval_batch_size: int,
    on_epoch: Callable[[EpochResult, bool], None], progress: Progress = lambda batches, epoch: batches,
    precision: Precision = FP32, result: FitResult | None = None, max_batches: int | None = None,
) -> FitResult:
    """Train for `epochs`, keeping the best-validation weights; stop on a non-finite loss.

    `on_epoch(result, is_best)` is called after every epoch (for logs and checkpoints).
    An epoch whose training loss is not finite never counts as best: its weights are broken.
    `result` continues a resumed run after the epochs in its history.
    """
    result = result or FitResult()
    for epoch in range(len(result.history) + 1, epochs + 1):
        start = time.perf_counter()
        # The lambda is done with before the loop moves on, so it sees this epoch (bugbear cannot tell).
        train_loss, train_acc = train_epoch(
            model=model, data=train, batch_size=batch_size, optimizer=optimizer, criterion=criterion,
            transform=transform, precision=precision, progress=lambda batches: progress(batches, epoch),  # noqa: B023
            max_batches=max_batches,
        )
        val_loss, val_acc = evaluate(model=model, data=val, criterion=criterion, transform=transform,
                                     batch_size=eval_batch_size, precision=precision)
        row = EpochResult(epoch, train_loss, train_acc, val_loss, val_acc, time.perf_counter() - start)
        result.history.append(row)
        if not math.isfinite(train_loss):
            result.diverged = True
            on_epoch(row, False)
            break
        is_best = result.best_val_acc is None or val_acc > result.best_val_acc
        if is_best:
            result.best_val_acc, result.best_epoch = val_acc, epoch
            result.best_state = copy.deepcopy(model.state_dict())
        on_epoch(row, is_best)
    return result
