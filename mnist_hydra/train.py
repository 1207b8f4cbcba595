"""One run: `train(cfg, run_dir)` builds the data, model, optimizer, criterion and transform
a config names, trains and records them (the run folder's files), and returns the metrics.

Everything here needs torch; the Hydra application (app.py) imports it only in a job, so
that a sweep's main process starts its workers before loading torch.
"""
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn
from tqdm import tqdm

from mnist_hydra import rundir
from mnist_hydra.config import (
    RUN_CONTROL_KEYS, config_hash, override_key, resolved_config, target_epochs, training_overrides, validate,
)
from mnist_hydra.data import load_dataset, split_indices
from mnist_hydra.models import count_parameters
from mnist_hydra.rundir.writer import UNNAMED_RUN, RunRecorder, history_rows, load_checkpoint, save_checkpoint
from mnist_hydra.rundir import CHECKPOINT, LAST_CHECKPOINT
from mnist_hydra.runtime import configure_threads, rng_states, run_device, seed_everything, set_rng_states
from mnist_hydra.training import (
    EpochResult, FitResult, Precision, Progress, Split, Transform, autocast_speedup, convergence_epoch, evaluate,
    fit,
)

log = logging.getLogger("mnist_hydra")

HPARAM_KEYS = ("lr", "batch_size", "weight_decay", "epochs", "precision")  # in every run's HParams entry
# metrics.json fields a person sorts the HParams tab by, as `hparam/<name>`; one a run did not
# measure (test_acc under test: false, best_val_acc of a run diverged in epoch 1) is left out.
HPARAM_METRICS = ("best_val_acc", "best_epoch", "train_time_s", "test_acc")


def build(node: DictConfig) -> Any:
    """hydra.utils.instantiate, logging what was built."""
    log.info("Instantiating <%s>", node._target_)
    return instantiate(node)


def progress_bar(total: int, enabled: bool) -> Progress:
    """A tqdm bar per epoch on a terminal; plain iteration (log lines only) otherwise."""
    if not (enabled and sys.stderr.isatty()):
        return lambda batches, epoch: batches
    return lambda batches, epoch: tqdm(batches, total=total, desc=f"epoch {epoch}", leave=False)


def load_splits(cfg: DictConfig, device: torch.device) -> tuple[Split, Split, Split]:
    """Train/val carved from the training set by data.split_seed; the test set held out;
    val and test cut to their first `limit_eval_images` images when that is set (debug)."""
    data_cfg = cfg.data
    data = load_dataset(data_cfg.name, data_cfg.root, data_cfg.download)
    train_idx, val_idx = split_indices(
        len(data.train_labels), data_cfg.train_size, data_cfg.val_size, data_cfg.split_seed
    )
    limit = cfg.get("limit_eval_images")  # absent from checkpoints of older versions

    def to_split(images: torch.Tensor, labels: torch.Tensor, limit: int | None = None) -> Split:
        images, labels = images[:limit], labels[:limit]
        # In place on the fresh float copy: one 4-byte-per-pixel buffer, not two (start-up time).
        return Split(images.unsqueeze(1).to(device=device, dtype=torch.float32).div_(255.0), labels.to(device))

    return (
        to_split(data.train_images[train_idx], data.train_labels[train_idx]),
        to_split(data.train_images[val_idx], data.train_labels[val_idx], limit),
        to_split(data.test_images, data.test_labels, limit),
    )


def build_model(model_cfg: DictConfig, channels_last: bool, device: torch.device) -> nn.Module:
    # Channels-last weights make oneDNN (CPU) and cuDNN pick their faster NHWC convolutions;
    # a 1-channel input has the same memory in both layouts, so the inputs need no change.
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return build(model_cfg).to(device=device, memory_format=memory_format)


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
    model = build_model(cfg.model, cfg.channels_last, device)
    optimizer = build(cfg.optimizer)(model.parameters())
    return Parts(model, optimizer, build(cfg.criterion), build(cfg.transform), train_split, val_split, test_split)


_speedups: dict[tuple, float] = {}  # measured once per process: a joblib worker runs many jobs
SPEED_PROBE_IMAGES = 64  # one batch of this size: the question is only faster or slower


def check_speed(cfg: DictConfig, parts: Parts, precision: Precision) -> None:
    """Warn (never switch silently) when mixed precision is slower than float32 here. The
    random state is restored, so the run draws the same numbers as without the check."""
    key = (str(parts.train.images.device), OmegaConf.to_yaml(cfg.model), precision.name)
    if key not in _speedups:
        with torch.random.fork_rng():
            images = parts.transform(parts.train.images[:SPEED_PROBE_IMAGES], True)
            _speedups[key] = autocast_speedup(parts.model, images, precision)
    speedup = _speedups[key]
    log.info("precision %s: %.2fx the speed of 32-true on this device (forward + backward)", precision.name, speedup)
    if speedup < 1:
        log.warning("precision=%s is slower than 32-true on this hardware (%.2fx); precision=32-true "
                    "may be faster", precision.name, speedup)


def resume_point(parts: Parts, result: FitResult, cfg_hash: str, seed: int, seconds: float) -> dict[str, Any]:
    """last.pt: everything `restore` needs to continue after the epochs in result.history,
    `seconds` the run's time so far."""
    return {"model_state": parts.model.state_dict(), "optimizer_state": parts.optimizer.state_dict(),
            "rng": rng_states(), "history": history_rows(result.history), "best_val_acc": result.best_val_acc,
            "best_epoch": result.best_epoch, "config_hash": cfg_hash, "seed": seed, "train_time_s": seconds}


def restore(run_dir: Path, cfg_hash: str, parts: Parts) -> tuple[FitResult, int, float] | None:
    """The unfinished run of the same config in run_dir (its last.pt), loaded into `parts`,
    the seed it was started with (a drawn one stays the run's seed) and the seconds its
    earlier attempts took up to that point."""
    path = run_dir / LAST_CHECKPOINT
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    if state.get("config_hash") != cfg_hash:
        log.warning("resume: %s belongs to another config; starting over", path)
        return None
    parts.model.load_state_dict(state["model_state"])
    parts.optimizer.load_state_dict(state["optimizer_state"])
    set_rng_states(state["rng"])
    result = FitResult(history=[EpochResult(**row) for row in state["history"]],
                       best_val_acc=state["best_val_acc"], best_epoch=state["best_epoch"])
    if result.best_epoch is not None:
        result.best_state = load_checkpoint(run_dir / CHECKPOINT)["model_state"]
    log.info("resume: continuing %s after epoch %d", run_dir, len(result.history))
    # A last.pt of an older version has no time: its epochs' own seconds are the closest.
    earlier = state.get("train_time_s", sum(row.seconds for row in result.history))
    return result, state["seed"], earlier


def train(cfg: DictConfig, run_dir: Path, *, parallel_jobs: int = 1, hparams: dict[str, Any] | None = None,
          progress: bool = True, run_name: str = UNNAMED_RUN) -> dict[str, Any]:
    """seed -> data -> model -> optimizer -> criterion -> loop -> outputs; returns the metrics.

    With `resume=true`, an unfinished or stopped run of the same config in run_dir continues
    from its last.pt. With `stop_at_epoch` the run stops after that epoch, keeping last.pt.
    `parallel_jobs` is how many jobs share the machine (for the thread count); `run_name` is the
    run's TensorBoard name (rundir.writer.tensorboard_name).
    """
    validate(cfg)
    started = time.perf_counter()
    seed = seed_everything(cfg.seed, cfg.deterministic)
    threads = configure_threads(cfg.threads, parallel_jobs)
    device = run_device(cfg.device.value, cfg.precision)  # the schema makes `device` a Device enum
    precision = Precision(cfg.precision)
    log.info("seed %d, device %s, %d torch threads, precision %s", seed, device, threads, precision.name)

    parts = build_parts(cfg, device)
    log.info("data: %d train / %d val / %d test images", len(parts.train), len(parts.val), len(parts.test))
    if precision.name != "32-true":
        check_speed(cfg, parts, precision)
    cfg_hash = config_hash(cfg)
    result, seed, earlier = (restore(run_dir, cfg_hash, parts) if cfg.resume else None) or (FitResult(), seed, 0.0)
    started -= earlier  # train_time_s is the whole run's: a continued (halving survivor's) run counts every attempt
    # The drawn seed, not null, and the data folder as an absolute path, so that best.pt
    # alone can replay the run (to the end), from any working folder.
    resolved = {k: v for k, v in resolved_config(cfg).items() if k not in RUN_CONTROL_KEYS}
    config = {**resolved, "seed": seed, "data": {**resolved["data"], "root": data_root(cfg)}}
    recorder = RunRecorder(run_dir, result.history, run_name)

    def on_epoch(row: EpochResult, is_best: bool) -> None:
        log.info(
            "epoch %d/%d  train_loss %.4f  train_acc %.2f%%  val_loss %.4f  val_acc %.2f%%  %.1fs%s",
            row.epoch, cfg.epochs, row.train_loss, row.train_acc, row.val_loss, row.val_acc,
            row.seconds, "  *best*" if is_best else "",
        )
        recorder.log_epoch(row)
        if is_best:  # at a new best the live weights are the best ones
            save_checkpoint(run_dir / CHECKPOINT, {"model_state": parts.model.state_dict(), "config": config,
                                                   "epoch": row.epoch, "val_acc": row.val_acc})
        if row.epoch < cfg.epochs and not result.diverged:  # a finished run deletes last.pt anyway
            save_checkpoint(run_dir / LAST_CHECKPOINT,
                            resume_point(parts, result, cfg_hash, seed, time.perf_counter() - started))

    try:
        fit(model=parts.model, optimizer=parts.optimizer, criterion=parts.criterion, transform=parts.transform,
            train=parts.train, val=parts.val, epochs=target_epochs(cfg), batch_size=cfg.batch_size,
            eval_batch_size=cfg.eval_batch_size, on_epoch=on_epoch, precision=precision, result=result,
            max_batches=cfg.limit_train_batches,
            progress=progress_bar(batches_per_epoch(cfg, len(parts.train)), progress))
        test_acc = None
        stopped = not result.diverged and len(result.history) < cfg.epochs
        if cfg.test and result.best_state is not None and not stopped:
            parts.model.load_state_dict(result.best_state)
            _, test_acc = evaluate(model=parts.model, data=parts.test, criterion=parts.criterion,
                                   transform=parts.transform, batch_size=cfg.eval_batch_size, precision=precision)
        metrics = run_metrics(result, cfg, stopped=stopped, test_acc=test_acc, params=count_parameters(parts.model),
                              seconds=time.perf_counter() - started, seed=seed, device=device, threads=threads)
        recorder.log_hparams({**{key: cfg[key] for key in HPARAM_KEYS}, **(hparams or {}), "seed": seed},
                             {f"hparam/{key}": metrics[key] for key in HPARAM_METRICS if metrics[key] is not None})
    finally:
        recorder.close()
    if not stopped:  # finished: best.pt is the run's checkpoint
        (run_dir / LAST_CHECKPOINT).unlink(missing_ok=True)
    log.info("%s: best val_acc %s (epoch %s), test_acc %s, %.1fs", metrics["status"],
             _pct(result.best_val_acc), result.best_epoch, _pct(test_acc), metrics["train_time_s"])
    return metrics


def data_root(cfg: DictConfig) -> str:
    """The run's data folder as an absolute path: `./data` means another folder elsewhere."""
    return str(Path(cfg.data.root).expanduser().resolve())


def batches_per_epoch(cfg: DictConfig, images: int) -> int:
    batches = -(-images // cfg.batch_size)
    return batches if cfg.limit_train_batches is None else min(batches, cfg.limit_train_batches)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}%"


def run_metrics(result: FitResult, cfg: DictConfig, *, stopped: bool, test_acc: float | None, params: int,
                seconds: float, seed: int, device: torch.device, threads: int) -> dict[str, Any]:
    """metrics.json's fields for a fit that ended: completed, diverged or stopped early. A
    diverged run keeps the best epoch before it diverged (null when the first epoch did) and
    has no convergence epoch; a stopped one has one only if it already converged."""
    losses = [row.train_loss for row in result.history]
    status = rundir.DIVERGED if result.diverged else rundir.STOPPED if stopped else rundir.COMPLETED
    return {
        "status": status,
        "error": "training loss became non-finite" if result.diverged else None,
        "best_val_acc": result.best_val_acc,
        "best_epoch": result.best_epoch,
        "test_acc": test_acc,
        "test": cfg.test,
        "final_train_loss": losses[-1] if losses else None,
        "params": params,
        "train_time_s": round(seconds, 3),
        "convergence_epoch": None if result.diverged else convergence_epoch(losses, None if stopped else cfg.epochs),
        "epochs_run": len(result.history),
        "seed": seed,
        "device": str(device),
        "threads": threads,
        "precision": cfg.precision,
        "channels_last": cfg.channels_last,
        "data_root": data_root(cfg) if cfg.data.name.value == "mnist" else None,
    }


def task_hparams(cfg: DictConfig, hydra_cfg: DictConfig) -> dict[str, Any]:
    """What a sweep compares runs by, besides HPARAM_KEYS (TensorBoard's HParams tab): the
    group choices and every other key the command line set."""
    values: dict[str, Any] = {group: str(choice) for group, choice in hydra_cfg.runtime.choices.items()
                              if not group.startswith("hydra/") and choice is not None}
    for override in training_overrides(str(o) for o in hydra_cfg.overrides.task):
        key = override_key(override)
        value = OmegaConf.select(cfg, key, default=None)
        if key not in values and key not in HPARAM_KEYS and not isinstance(value, DictConfig):
            values[key] = value if isinstance(value, (bool, int, float, str)) else str(value)
    return values
