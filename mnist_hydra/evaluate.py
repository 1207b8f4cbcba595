"""Evaluate a saved checkpoint: `python -m mnist_hydra.eval ckpt_path=RUN_DIR/best.pt [split=val]`.

The model, transform, criterion and data come from the config stored in the checkpoint, so
the result equals the run's own evaluation (same weights, images, batches and precision).
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import hydra
import torch
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import MISSING, DictConfig, OmegaConf

from mnist_hydra.config import CONFIG_DIR, PRECISIONS, ConfigError
from mnist_hydra.data import DataError
from mnist_hydra.rundir.folders import discard, register_resolver
from mnist_hydra.guards import refuse, run_app
from mnist_hydra.rundir.writer import load_checkpoint
from mnist_hydra.process import exit_quickly
from mnist_hydra.runtime import run_device
from mnist_hydra.train import build, build_model, load_splits  # the run's own builders
from mnist_hydra.training import Precision, evaluate

SPLITS = ("test", "val")


class CheckpointError(ValueError):
    """The file is missing, unreadable, or not a checkpoint this project wrote."""


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A best.pt/last.pt payload with its config, or a CheckpointError saying what is wrong."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = load_checkpoint(path)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a damaged or foreign file
        raise CheckpointError(f"{path}: not a readable mnist-hydra checkpoint: damaged, not a torch file, "
                              f"or holding objects other than tensors and plain data ({type(err).__name__})") from None
    if not isinstance(payload, dict) or not {"model_state", "config"} <= payload.keys():
        raise CheckpointError(f"{path}: not an mnist-hydra checkpoint (no model_state and config)")
    return payload


def evaluate_checkpoint(ckpt_path: Path, split: str = "test", device: str = "auto",
                        precision: str | None = None, data_root: str | None = None) -> dict[str, Any]:
    """Accuracy (%), loss, per-class accuracy and confusion matrix of a checkpoint on a split.

    `precision` and `data_root` default to the run's own. A user's mistake raises ConfigError
    (split, precision, device), CheckpointError or DataError, with the fix.
    """
    if split not in SPLITS:
        raise ConfigError(f"split={split} must be one of {', '.join(SPLITS)}")
    payload = read_checkpoint(Path(ckpt_path))
    cfg = OmegaConf.create(payload["config"])
    if data_root is not None:
        cfg.data.root = data_root
    run_precision = Precision(precision or cfg.get("precision", "32-true"))
    if run_precision.name not in PRECISIONS:
        raise ConfigError(f"precision={run_precision.name} must be one of {', '.join(PRECISIONS)}, or null: the run's")
    try:
        torch_device = run_device(device, run_precision.name)
    except RuntimeError as err:  # runtime.resolve_device's absent device; its message names the fix
        raise ConfigError(str(err)) from None
    model = build_model(cfg.model, cfg.channels_last, torch_device)
    try:
        model.load_state_dict(payload["model_state"])
    except RuntimeError:  # torch lists every mismatched tensor, many lines that say no more than this
        raise CheckpointError(f"{ckpt_path}: its weights do not fit the model its config names "
                              f"({cfg.model._target_}); the file is damaged or its config was edited") from None
    criterion, transform = build(cfg.criterion), build(cfg.transform)
    _, val, test = load_splits(cfg, torch_device)
    data = test if split == "test" else val
    confusion = torch.zeros(10, 10, dtype=torch.long)

    def count(predicted: torch.Tensor, labels: torch.Tensor) -> None:
        confusion.index_put_((labels.cpu(), predicted.cpu()), torch.ones_like(labels.cpu()), accumulate=True)

    loss, accuracy = evaluate(model=model, data=data, criterion=criterion, transform=transform,
                              batch_size=cfg.eval_batch_size, precision=run_precision, on_predictions=count)
    per_class = (100.0 * confusion.diag() / confusion.sum(1).clamp(min=1)).tolist()
    return {"checkpoint": str(Path(ckpt_path).resolve()), "split": split, "images": len(data),
            "accuracy": accuracy, "loss": loss, "precision": run_precision.name,
            "epoch": payload.get("epoch"), "per_class_accuracy": per_class, "confusion": confusion.tolist()}


def plot_confusion(confusion: list[list[int]], title: str, path: Path) -> None:
    from matplotlib.figure import Figure  # only the eval command plots

    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax, label="images")
    peak = max(max(row) for row in confusion) or 1
    for i, row in enumerate(confusion):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize="small",
                    color="white" if count > peak / 2 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.savefig(path, dpi=100)


@dataclass
class EvalConfig:
    ckpt_path: str = MISSING  # a run's best.pt (or last.pt)
    split: str = "test"  # test or val (the run's own validation images)
    device: str = "auto"
    precision: Optional[str] = None  # null: the precision the run trained with
    data_root: Optional[str] = None  # null: the data root the run used


PROG = "mnist-eval"

register_resolver()
ConfigStore.instance().store(name="base_eval", node=EvalConfig)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def task(cfg: DictConfig) -> None:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        result = evaluate_checkpoint(Path(cfg.ckpt_path), cfg.split, cfg.device, cfg.precision, cfg.data_root)
    except (ValueError, DataError) as err:  # ConfigError and CheckpointError are ValueErrors
        discard(out_dir)  # nothing was evaluated: leave no folder
        refuse(str(err), PROG)
    (out_dir / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_confusion(result["confusion"], f"{result['split']} accuracy {result['accuracy']:.2f}%",
                   out_dir / "confusion.png")
    worst = min(range(10), key=lambda k: result["per_class_accuracy"][k])
    print(f"{result['split']} accuracy {result['accuracy']:.2f}% ({result['images']} images), "
          f"loss {result['loss']:.4f}; weakest class {worst} ({result['per_class_accuracy'][worst]:.2f}%)\n"
          f"Wrote eval.json and confusion.png to {out_dir}", flush=True)


def main() -> None:
    """The `mnist-eval` command and `python -m mnist_hydra.eval`: a config mistake is one line."""
    exit_quickly()
    run_app(task, PROG)
