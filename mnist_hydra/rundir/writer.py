"""What a run leaves in its folder: metrics.csv, metrics.json, TensorBoard events, best.pt,
and last.pt while it is unfinished. Every file honours the umask (readable by the group)."""
import csv
import hashlib
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary

from mnist_hydra.config import training_overrides
from mnist_hydra.rundir.files import atomic_write
from mnist_hydra.rundir import EVENTS_GLOB, METRICS_CSV, METRICS_JSON
from mnist_hydra.sweep.read import human_override, human_value
from mnist_hydra.training import EpochResult

CSV_FIELDS = [name for name in EpochResult.__dataclass_fields__]
UNNAMED_RUN = "defaults"
MAX_NAME_BYTES = 200  # folder names stop at 255 bytes


def tensorboard_name(overrides: Sequence[str]) -> str:
    """The folder in the run folder that holds its TensorBoard events, and so the run's
    name in TensorBoard: its overrides, sorted and joined by commas as Hydra's
    override_dirname does (in a sweep TensorBoard puts the job number first:
    `3/batch_size=8,lr=0.001`), values as a person writes them (human_value). Keys that
    change no result (RUN_CONTROL_KEYS) are left out; `/` cannot be in a folder name; a long
    name keeps its start and a hash of the whole.
    """
    kept = sorted(human_override(o) for o in training_overrides(overrides))
    name = ",".join(kept).replace("/", "_") or UNNAMED_RUN
    if len(name.encode()) > MAX_NAME_BYTES:
        digest = hashlib.sha1(name.encode()).hexdigest()[:12]
        name = name.encode()[:MAX_NAME_BYTES - 13].decode(errors="ignore") + "-" + digest
    return name


def _finite_or_none(value: Any) -> Any:
    """NaN and infinities as None (JSON null): strict JSON parsers reject NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(item) for item in value]
    return value


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    text = json.dumps(_finite_or_none(metrics), indent=2, allow_nan=False)
    atomic_write(run_dir / METRICS_JSON, lambda tmp: tmp.write_text(text + "\n"))


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint this project wrote; weights_only, so a foreign pickle cannot run code."""
    return torch.load(path, map_location="cpu", weights_only=True)


def history_rows(history: list[EpochResult]) -> list[dict[str, Any]]:
    return [asdict(row) for row in history]


def earlier_events(run_dir: Path) -> list[Path]:
    """The event files earlier attempts of the run in run_dir left: only where one already
    wrote metrics.csv, and only in run_dir itself or in a sub-folder holding nothing but
    event files (its TensorBoard folder, named by that attempt's overrides). Anything deeper,
    such as the job folders of a sweep that shares the folder, belongs to other runs."""
    if not (run_dir / METRICS_CSV).exists():
        return []
    found = list(run_dir.glob(EVENTS_GLOB))
    for sub in (p for p in run_dir.iterdir() if p.is_dir()):
        files = list(sub.iterdir())
        if files and all(f.is_file() and f.match(EVENTS_GLOB) for f in files):
            found += files
    return found


class RunRecorder:
    """Per-epoch rows to metrics.csv and TensorBoard (in the sub-folder `name`, see
    tensorboard_name), flushed as they come, so an interrupted or diverged run still leaves
    its history behind.

    `history` holds the epochs a resumed run already has: the CSV is rewritten with them and
    TensorBoard drops anything the killed attempt logged after them (purge_step). A fresh run
    removes the event files of its own earlier attempts (earlier_events), so TensorBoard
    shows one history per run folder.
    """

    def __init__(self, run_dir: Path, history: Sequence[EpochResult] = (), name: str = UNNAMED_RUN) -> None:
        if not history:
            for stale in earlier_events(run_dir):
                stale.unlink()
                if stale.parent != run_dir and not any(stale.parent.iterdir()):
                    stale.parent.rmdir()
        self._csv_file = open(run_dir / METRICS_CSV, "w", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=CSV_FIELDS)
        self._csv.writeheader()
        self._csv.writerows(history_rows(list(history)))
        self._csv_file.flush()
        self.writer = SummaryWriter(log_dir=str(run_dir / name), purge_step=len(history) + 1 if history else None)

    def log_epoch(self, row: EpochResult) -> None:
        self._csv.writerow(asdict(row))
        self._csv_file.flush()
        for name, value in [("Loss/train", row.train_loss), ("Loss/val", row.val_loss),
                            ("Accuracy/train", row.train_acc), ("Accuracy/val", row.val_acc)]:
            self.writer.add_scalar(name, value, row.epoch)
        self.writer.flush()

    def log_hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """The HParams tab: this run's settings against its final metrics, in the run's
        own event file (SummaryWriter.add_hparams would make a sub-folder per call).

        No experiment summary: one written per run holds only that run's values, and
        TensorBoard takes the first it finds for the whole logdir, so no key would differ.
        Without one TensorBoard builds the experiment from every run's values and marks the
        keys that differ (the swept ones) to show first. A metric left out of `metrics` is
        shown as absent. Floats as human_value writes them; booleans as typed (`false`),
        which TensorBoard would otherwise show as 0 and 1.
        """
        shown = {key: float(human_value(repr(value))) if isinstance(value, float)
                 else str(value).lower() if isinstance(value, bool) else value
                 for key, value in hparams.items()}
        _, session_start, session_end = hparams_summary(shown, metrics)
        for summary in (session_start, session_end):
            # torch's __init__ sets file_writer = None before creating it, so mypy infers None.
            self.writer.file_writer.add_summary(summary)  # type: ignore[attr-defined]
        for name, value in metrics.items():
            self.writer.add_scalar(name, value)

    def close(self) -> None:
        self._csv_file.close()
        self.writer.close()
