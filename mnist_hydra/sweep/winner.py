"""The winner's test accuracy: recorded by its run, or measured once after the selection.

Runs with `test: false` never look at the test set; the sweep picks its winner on
validation accuracy and only then evaluates that one checkpoint on the test set. The result
is kept in summary.json with the checkpoint's size and mtime, so summarizing the sweep again
reuses it instead of looking at the test set a second time.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from mnist_hydra.rundir import CHECKPOINT
from mnist_hydra.sweep.read import Run

log = logging.getLogger(__name__)

SUMMARY_JSON = "summary.json"
# How the winner's test_acc was obtained (summary.json "test_acc_source").
FROM_RUN = "run"  # the run evaluated its best weights on the test set itself (`test: true`)
EVALUATED = "selected on validation, tested once"
UNAVAILABLE = "unavailable"


@dataclass
class Checkpoint:
    """Identity of a best.pt file: a rewritten file gets a new result."""

    file: str  # relative to the sweep folder
    size: int
    mtime_ns: int


@dataclass
class WinnerTest:
    test_acc: Optional[float]
    source: str  # FROM_RUN | EVALUATED | UNAVAILABLE
    note: Optional[str] = None  # why it is unavailable
    test_loss: Optional[float] = None
    test_images: Optional[int] = None
    checkpoint: Optional[Checkpoint] = None


def _checkpoint(run: Run, sweep_dir: Path) -> Optional[Checkpoint]:
    path = run.job_dir / CHECKPOINT
    try:
        stat = path.stat()
    except OSError:
        return None
    return Checkpoint(str(path.relative_to(sweep_dir)), stat.st_size, stat.st_mtime_ns)


def _previous(sweep_dir: Path, run: Run, checkpoint: Checkpoint) -> Optional[WinnerTest]:
    """The result of an earlier summary for this very checkpoint, if summary.json has one."""
    try:
        winner = json.loads((sweep_dir / SUMMARY_JSON).read_text()).get("winner") or {}
        same = (winner.get("job") == run.job and winner.get("test_acc_source") == EVALUATED
                and winner.get("checkpoint") == asdict(checkpoint)
                and isinstance(winner.get("test_acc"), (int, float)))
    except (OSError, ValueError, AttributeError):
        return None
    if not same:
        return None
    return WinnerTest(winner["test_acc"], EVALUATED, test_loss=winner.get("test_loss"),
                      test_images=winner.get("test_images"), checkpoint=checkpoint)


def winner_test(run: Run, sweep_dir: Path, evaluate: bool = True) -> WinnerTest:
    """The test accuracy to report for the sweep's validation-selected winner `run`."""
    if run.metrics.get("test_acc") is not None:
        return WinnerTest(run.metrics["test_acc"], FROM_RUN)
    if run.tested is not False:
        return WinnerTest(None, UNAVAILABLE, note="the run recorded no test accuracy")
    checkpoint = _checkpoint(run, sweep_dir)
    if checkpoint is None:
        return WinnerTest(None, UNAVAILABLE, note=f"no {CHECKPOINT} in job {run.job}")
    if (previous := _previous(sweep_dir, run, checkpoint)) is not None:
        return previous
    if not evaluate:
        return WinnerTest(None, UNAVAILABLE, note="test evaluation turned off", checkpoint=checkpoint)
    # Imported here: torch and the data layer are needed only for this one evaluation.
    from mnist_hydra.evaluate import evaluate_checkpoint

    log.info("Evaluating the winner's %s on the test set", checkpoint.file)
    try:
        result = evaluate_checkpoint(run.job_dir / CHECKPOINT, split="test")
    except Exception as exc:  # a broken checkpoint or missing data must not lose the summary
        log.warning("Could not evaluate %s on the test set: %s", checkpoint.file, exc)
        return WinnerTest(None, UNAVAILABLE, note=f"evaluation failed: {exc}", checkpoint=checkpoint)
    return WinnerTest(result["accuracy"], EVALUATED, test_loss=result.get("loss"),
                      test_images=result.get("images"), checkpoint=checkpoint)


def winner_record(run: Run, test: WinnerTest) -> dict[str, Any]:
    """summary.json's "winner": the run, its validation accuracy and its test accuracy."""
    return {
        "job": run.job,
        "overrides": run.overrides,
        "best_val_acc": run.metrics.get("best_val_acc"),
        "test_acc": test.test_acc,
        "test_acc_source": test.source,
        "test_note": test.note,
        "test_loss": test.test_loss,
        "test_images": test.test_images,
        "checkpoint": asdict(test.checkpoint) if test.checkpoint else None,
    }
