"""The training loop: flat functions over in-memory tensors, batched by indexing."""
import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from torch import nn

Transform = Callable[[torch.Tensor, bool], torch.Tensor]


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
    history: list[EpochResult] = field(default_factory=list)
    best_val_acc: float = 0.0
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    diverged: bool = False


def train_epoch(
    model: nn.Module, data: Split, batch_size: int, optimizer: torch.optim.Optimizer,
    criterion: nn.Module, transform: Transform, progress: Callable[[Iterable], Iterable] = iter,
) -> tuple[float, float]:
    """One pass over a fresh permutation; returns (mean loss, accuracy %)."""
    model.train()
    order = torch.randperm(len(data), device=data.labels.device)
    # Sums stay on the device: a per-step .item() would sync every batch.
    loss_sum = torch.zeros((), device=data.labels.device)
    correct = torch.zeros((), dtype=torch.long, device=data.labels.device)
    for start in progress(range(0, len(data), batch_size)):
        idx = order[start:start + batch_size]
        images, labels = transform(data.images[idx], True), data.labels[idx]
        optimizer.zero_grad(set_to_none=True)
        logits = model(images)
        loss = criterion(logits, labels)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.detach().argmax(1) == labels).sum()
    return loss_sum.item() / len(data), 100.0 * correct.item() / len(data)


@torch.inference_mode()
def evaluate(
    model: nn.Module, data: Split, criterion: nn.Module, transform: Transform, batch_size: int
) -> tuple[float, float]:
    """Mean loss and accuracy % over a split, in large batches."""
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(data), batch_size):
        images = transform(data.images[start:start + batch_size], False)
        labels = data.labels[start:start + batch_size]
        logits = model(images)
        loss_sum += criterion(logits, labels).item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
    return loss_sum / len(data), 100.0 * correct / len(data)


def convergence_epoch(train_losses: list[float], epochs: int, tol: float = 1e-3, patience: int = 3) -> int:
    """The original tool's definition: the first epoch at which the training loss has
    improved by less than `tol` for `patience` epochs in a row; `epochs` if never."""
    streak = 0
    for epoch in range(1, len(train_losses)):
        streak = streak + 1 if train_losses[epoch - 1] - train_losses[epoch] < tol else 0
        if streak == patience:
            return epoch + 1
    return epochs


def fit(
    model: nn.Module, optimizer: torch.optim.Optimizer, criterion: nn.Module, transform: Transform,
    train: Split, val: Split, epochs: int, batch_size: int, eval_batch_size: int,
    on_epoch: Callable[[EpochResult, bool], None], progress: Callable[[Iterable, int], Iterable],
) -> FitResult:
    """Train for `epochs`, keeping the best-validation weights; stop on a non-finite loss.

    `on_epoch(result, is_best)` is called after every epoch (for logs and checkpoints).
    """
    result = FitResult()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        train_loss, train_acc = train_epoch(
            model, train, batch_size, optimizer, criterion, transform, lambda it: progress(it, epoch)
        )
        val_loss, val_acc = evaluate(model, val, criterion, transform, eval_batch_size)
        row = EpochResult(epoch, train_loss, train_acc, val_loss, val_acc, time.perf_counter() - start)
        result.history.append(row)
        if not math.isfinite(train_loss):
            result.diverged = True
            on_epoch(row, False)
            break
        is_best = val_acc > result.best_val_acc or result.best_state is None
        if is_best:
            result.best_val_acc, result.best_epoch = val_acc, epoch
            result.best_state = copy.deepcopy(model.state_dict())
        on_epoch(row, is_best)
    return result
