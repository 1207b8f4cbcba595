"""The Hydra application: `train(cfg)` composes one run; `main` is the @hydra.main task.

The task function lives here rather than in `run.py` because `python -m mnist_hydra.run`
executes that file as `__main__`, and the joblib launcher cannot pickle functions of
`__main__` (Hydra 1.3).
"""
import hashlib
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig, OmegaConf
from torch import nn
from tqdm import tqdm

from mnist_hydra.config import CONFIG_DIR, register_configs, validate
from mnist_hydra.data import load_dataset, split_indices
from mnist_hydra.models import count_parameters
from mnist_hydra.outputs import RunRecorder, read_metrics, save_checkpoint, write_metrics
from mnist_hydra.runtime import configure_threads, resolve_device, seed_everything
from mnist_hydra.training import EpochResult, Split, Transform, convergence_epoch, evaluate, fit

log = logging.getLogger("mnist_hydra")

FINISHED = ("completed", "diverged")

register_configs()


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data, interpolations resolved (for checkpoints and hashing)."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def config_hash(cfg: DictConfig) -> str:
    """Identity of a run's resolved config, for resume; `resume` itself is not part of it."""
    resolved = resolved_config(cfg)
    resolved.pop("resume", None)
    return hashlib.sha256(OmegaConf.to_yaml(OmegaConf.create(resolved)).encode()).hexdigest()[:16]


def build(node: DictConfig) -> Any:
    """hydra.utils.instantiate, logging what was built."""
    log.info("Instantiating <%s>", node._target_)
    return instantiate(node)


def progress_bar(total: int) -> Callable[[Iterable, int], Iterable]:
    """A tqdm bar per epoch on a terminal; plain iteration (log lines only) otherwise."""
    if not sys.stderr.isatty():
        return lambda batches, epoch: batches
    return lambda batches, epoch: tqdm(batches, total=total, desc=f"epoch {epoch}", leave=False)


def load_splits(cfg: DictConfig, device: torch.device) -> tuple[Split, Split, Split]:
    """Train/val carved from the training set by data.split_seed; the test set held out."""
    data = load_dataset(cfg.data.name, to_absolute_path(cfg.data.root), cfg.data.download)
    train_idx, val_idx = split_indices(
        len(data.train_labels), cfg.data.train_size, cfg.data.val_size, cfg.data.split_seed
    )

    def to_split(images: torch.Tensor, labels: torch.Tensor) -> Split:
        # In place on the fresh float copy: one 4-byte-per-pixel buffer, not two (start-up time).
        return Split(images.unsqueeze(1).to(device=device, dtype=torch.float32).div_(255.0), labels.to(device))

    return (
        to_split(data.train_images[train_idx], data.train_labels[train_idx]),
        to_split(data.train_images[val_idx], data.train_labels[val_idx]),
        to_split(data.test_images, data.test_labels),
    )


@dataclass
class Parts:
    """What a run trains and evaluates, built from its config."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    criterion: nn.Module
    transform: Transform
    train: Split
    val: Split
    test: Split


def build_parts(cfg: DictConfig, device: torch.device) -> Parts:
    """Data, model, optimizer, criterion and transform as the config asks (the benchmarks
    build the project's arm with this too, so they time exactly what a run does)."""
    train_split, val_split, test_split = load_splits(cfg, device)
    # Channels-last weights make oneDNN (CPU) and cuDNN pick their faster NHWC convolutions;
    # a 1-channel input has the same memory in both layouts, so the inputs need no change.
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = build(cfg.model).to(device=device, memory_format=memory_format)
    optimizer = build(cfg.optimizer)(model.parameters())
    return Parts(model, optimizer, build(cfg.criterion), build(cfg.transform), train_split, val_split, test_split)


def train(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """seed -> data -> model -> optimizer -> criterion -> loop -> outputs; returns the metrics."""
    validate(cfg)
    started = time.perf_counter()
    seed = seed_everything(cfg.seed, cfg.deterministic)
    threads = configure_threads(cfg.threads)
    device = resolve_device(cfg.device.value)  # the schema makes `device` a Device enum
    log.info("seed %d, device %s, %d torch threads", seed, device, threads)

    parts = build_parts(cfg, device)
    model, optimizer, criterion, transform = parts.model, parts.optimizer, parts.criterion, parts.transform
    train_split, val_split, test_split = parts.train, parts.val, parts.test
    log.info("data: %d train / %d val / %d test images", len(train_split), len(val_split), len(test_split))
    params = count_parameters(model)
    resolved = resolved_config(cfg)

    recorder = RunRecorder(run_dir)

    def on_epoch(row: EpochResult, is_best: bool) -> None:
        log.info(
            "epoch %d/%d  train_loss %.4f  train_acc %.2f%%  val_loss %.4f  val_acc %.2f%%  %.1fs%s",
            row.epoch, cfg.epochs, row.train_loss, row.train_acc, row.val_loss, row.val_acc,
            row.seconds, "  *best*" if is_best else "",
        )
        recorder.log_epoch(row)
        if is_best:
            # At a new best the live weights are the best ones.
            save_checkpoint(run_dir, model.state_dict(), resolved, row.epoch, row.val_acc)

    try:
        result = fit(
            model, optimizer, criterion, transform, train_split, val_split, cfg.epochs,
            cfg.batch_size, cfg.eval_batch_size, on_epoch,
            progress_bar(-(-len(train_split) // cfg.batch_size)),
        )
        test_acc = None
        if result.best_state is not None:
            model.load_state_dict(result.best_state)
            _, test_acc = evaluate(model, test_split, criterion, transform, cfg.eval_batch_size)
        losses = [row.train_loss for row in result.history]
        metrics = {
            "status": "diverged" if result.diverged else "completed",
            "error": "training loss became non-finite" if result.diverged else None,
            "best_val_acc": result.best_val_acc,
            "best_epoch": result.best_epoch,
            "test_acc": test_acc,
            "final_train_loss": losses[-1] if losses else None,
            "params": params,
            "train_time_s": round(time.perf_counter() - started, 3),
            "convergence_epoch": convergence_epoch(losses, cfg.epochs),
            "epochs_run": len(result.history),
            "seed": seed,
            "device": str(device),
            "threads": threads,
            "channels_last": cfg.channels_last,
        }
        recorder.log_hparams(
            hparams(cfg, seed),
            {"hparam/best_val_acc": result.best_val_acc, "hparam/test_acc": test_acc or 0.0},
        )
    finally:
        recorder.close()
    log.info(
        "%s: best val_acc %.2f%% (epoch %d), test_acc %s, %.1fs",
        metrics["status"], result.best_val_acc, result.best_epoch,
        "n/a" if test_acc is None else f"{test_acc:.2f}%", metrics["train_time_s"],
    )
    return metrics


def hparams(cfg: DictConfig, seed: int) -> dict[str, Any]:
    """The values a sweep compares runs by: main keys plus the chosen config-group options."""
    values: dict[str, Any] = {key: cfg[key] for key in ("lr", "batch_size", "weight_decay", "epochs")}
    values["seed"] = seed
    if HydraConfig.initialized():
        values.update({group: str(choice) for group, choice in HydraConfig.get().runtime.choices.items()
                       if not group.startswith("hydra/") and choice is not None})
    return values


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    """One job: train and record; returns best validation accuracy for sweepers.

    In a sweep a failing job is recorded in its metrics.json and the sweep goes on;
    the sweep-summary callback then makes the process exit non-zero.
    """
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    identity = {"overrides": list(hydra_cfg.overrides.task), "config_hash": config_hash(cfg)}
    previous = read_metrics(run_dir)
    if cfg.resume and previous and previous.get("status") in FINISHED \
            and previous.get("config_hash") == identity["config_hash"]:
        log.info("resume: %s already holds a %s run of this config; skipped", run_dir, previous["status"])
        return float(previous["best_val_acc"])
    try:
        metrics = train(cfg, run_dir)
    except Exception as err:
        log.exception("run failed")
        write_metrics(run_dir, {"status": "failed", "error": f"{type(err).__name__}: {err}", **identity})
        if hydra_cfg.mode != RunMode.MULTIRUN:
            raise
        return 0.0  # a number a sweeper (Optuna) accepts; the summary marks the run failed
    write_metrics(run_dir, {**metrics, **identity})
    return float(metrics["best_val_acc"])
