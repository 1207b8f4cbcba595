"""The run folder, in one package: what it is and where it goes.

    layout.py   what a run folder holds: file names, statuses, readers (re-exported here)
    writer.py   what a run writes into it: metrics, TensorBoard events, checkpoints (torch)
    files.py    how every file is written: atomically, under the umask; a folder's writability
    folders.py  which folder an invocation gets: one of its own (the unique_dir resolver)

Torch-free: `from mnist_hydra import rundir` gives layout's names (rundir.COMPLETED,
rundir.recorded_result, ...) in every process; the writer is imported where a job trains.
"""
from mnist_hydra.rundir.layout import (
    CHECKPOINT, COMPLETED, DIVERGED, EVENTS_GLOB, FAILED, FINAL, LAST_CHECKPOINT, METRICS_CSV, METRICS_JSON, MISSING,
    OTHER_CONFIG, RESULTS, STOPPED, UNREADABLE, has_result, load_metrics, reached, read_history, recorded_result,
)

__all__ = ["CHECKPOINT", "COMPLETED", "DIVERGED", "EVENTS_GLOB", "FAILED", "FINAL", "LAST_CHECKPOINT", "METRICS_CSV",
           "METRICS_JSON", "MISSING", "OTHER_CONFIG", "RESULTS", "STOPPED", "UNREADABLE", "has_result", "load_metrics",
           "reached", "read_history", "recorded_result"]
