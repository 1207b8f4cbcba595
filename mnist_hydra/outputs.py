"""What a run leaves in its folder: metrics.csv, metrics.json, TensorBoard events, best.pt."""
import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary

from mnist_hydra.training import EpochResult

METRICS_JSON = "metrics.json"
METRICS_CSV = "metrics.csv"
CHECKPOINT = "best.pt"
CSV_FIELDS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]


def _atomic_write(path: Path, write: Any, mode: str = "w") -> None:
    """Write via a temp file in the same folder and rename it: a reader (or a resumed
    sweep) never sees half a file, even if the process is killed mid-write."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    _atomic_write(run_dir / METRICS_JSON, lambda f: json.dump(metrics, f, indent=2, sort_keys=False))


def read_metrics(run_dir: Path) -> dict[str, Any] | None:
    """The run's metrics.json, or None when absent or unreadable."""
    try:
        return json.loads((run_dir / METRICS_JSON).read_text())
    except (OSError, ValueError):
        return None


def save_checkpoint(run_dir: Path, state: dict[str, torch.Tensor], config: dict, epoch: int, val_acc: float) -> None:
    payload = {"model_state": state, "config": config, "epoch": epoch, "val_acc": val_acc}
    _atomic_write(run_dir / CHECKPOINT, lambda f: torch.save(payload, f), mode="wb")


class RunRecorder:
    """Per-epoch rows to metrics.csv and TensorBoard, flushed as they come, so an
    interrupted or diverged run still leaves its history behind."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._csv_file = open(run_dir / METRICS_CSV, "w", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=CSV_FIELDS)
        self._csv.writeheader()
        self.writer = SummaryWriter(log_dir=str(run_dir))

    def log_epoch(self, row: EpochResult) -> None:
        self._csv.writerow({name: getattr(row, name) for name in CSV_FIELDS})
        self._csv_file.flush()
        for name, value in [("Loss/train", row.train_loss), ("Loss/val", row.val_loss),
                            ("Accuracy/train", row.train_acc), ("Accuracy/val", row.val_acc)]:
            self.writer.add_scalar(name, value, row.epoch)
        self.writer.flush()

    def log_hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """The HParams tab: this run's settings against its final metrics, in the run's
        own event file (SummaryWriter.add_hparams would make a sub-folder per call)."""
        experiment, session_start, session_end = hparams_summary(hparams, metrics)
        for summary in (experiment, session_start, session_end):
            self.writer.file_writer.add_summary(summary)
        for name, value in metrics.items():
            self.writer.add_scalar(name, value)

    def close(self) -> None:
        self._csv_file.close()
        self.writer.close()
