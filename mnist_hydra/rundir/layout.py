"""What a run folder is: the names of its files, the statuses its metrics.json can hold,
and how its results are read. Every module asks here, so no status falls between two lists.

Torch-free: the sweep callbacks, the guards and the sweepers import it in every process.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

METRICS_JSON = "metrics.json"
METRICS_CSV = "metrics.csv"
CHECKPOINT = "best.pt"  # the best-validation weights: the run's checkpoint
LAST_CHECKPOINT = "last.pt"  # where an unfinished or stopped run continues from
EVENTS_GLOB = "events.out.tfevents.*"

# metrics.json statuses a run writes
COMPLETED = "completed"  # trained every epoch
DIVERGED = "diverged"  # the training loss became non-finite; the epochs before it count
STOPPED = "stopped"  # stopped early after `epochs_run` epochs (stop_at_epoch, an early-stopping
#                      sweep's rung); last.pt stays, so resume=true continues it
FAILED = "failed"  # raised; `error` says why
# ...and what a reader finds instead of a status
MISSING = "missing"  # no metrics.json: killed without warning, or never started
UNREADABLE = "unreadable"  # a metrics.json that is not a JSON object
OTHER_CONFIG = "other config"  # the folder holds a finished run of another config than its latest job
#                                (.hydra/ names that job), left untouched: the job never ran. An Optuna
#                                search resumed into a changed folder; grid sweeps refuse before any job.

FINAL = (COMPLETED, DIVERGED)  # the run is over: resume skips it
RESULTS = (*FINAL, STOPPED)  # the run has a result. Anything else (failed, missing, unreadable,
#                              a status this version does not know) has none: resume reruns it
#                              and the sweep exits 1.


def has_result(status: str) -> bool:
    return status in RESULTS


def load_metrics(run_dir: Path) -> dict[str, Any]:
    """The run's metrics.json; OSError when absent or unreadable, ValueError when not a JSON object."""
    data = json.loads((run_dir / METRICS_JSON).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    return data


def recorded_result(run_dir: Path) -> dict[str, Any] | None:
    """The metrics.json of a run in run_dir that has a result (RESULTS), else None."""
    try:
        metrics = load_metrics(run_dir)
    except (OSError, ValueError):
        return None
    return metrics if has_result(str(metrics.get("status"))) else None


def reached(metrics: dict[str, Any], epoch: int) -> bool:
    """Whether a recorded result needs no more training to stand for `epoch` epochs: a final
    run always, a stopped one once it has trained that far."""
    status = metrics.get("status")
    return status in FINAL or (status == STOPPED and (metrics.get("epochs_run") or 0) >= epoch)


def read_history(run_dir: Path) -> list[dict[str, float]]:
    """metrics.csv's rows as numbers (epoch, train_loss, ..., val_acc); [] when absent.
    Rows that do not parse are skipped."""
    path = run_dir / METRICS_CSV
    if not path.exists():
        return []
    rows = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            try:
                rows.append({name: float(value) for name, value in row.items()})
            except (TypeError, ValueError):
                continue
    return rows
