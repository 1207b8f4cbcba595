"""Hydra callbacks of a sweep, registered in conf/config.yaml under `hydra.callbacks`.

Hydra imports this module in every job process (joblib workers and SLURM jobs too), so it
imports nothing heavy at module level: the summary and its matplotlib load at the end.
"""
from __future__ import annotations

import logging
import sys
import time
from textwrap import shorten
from pathlib import Path
from typing import Any, Optional

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mnist_hydra import search, sweepers
from mnist_hydra.config import training_overrides
from mnist_hydra.guards import PROG, resume_command
from mnist_hydra.process import say
from mnist_hydra.rundir import METRICS_JSON
from mnist_hydra.sweep.read import (
    MULTIRUN_YAML, Run, blocked, human_override, human_value, job_dirs, job_plan, read_run, swept_only,
)

log = logging.getLogger(__name__)
RESULT_CHARS = 60
REASON_CHARS = 120  # a job's error in the line a sweep with unfinished jobs ends with


class SweepSummaryCallback(Callback):
    """Writes the summary files into the sweep folder, prints the table, and ends the
    process with status 1 when any run failed, left no result or has no folder, with one
    line naming those jobs and the command that resumes the sweep.

    Failing jobs are recorded instead of raised (so every job runs and this callback
    fires at all); the exit status is how a script or CI still learns about them.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from mnist_hydra.sweep import SweepError, format_table, summarize_sweep

        sweep_dir = Path(str(config.hydra.sweep.dir))
        unfinished: dict[int, str] = {}
        try:
            summary = summarize_sweep(sweep_dir)
            print(format_table(summary), flush=True)
        except SweepError as err:  # neither a job folder nor a plan of the jobs
            log.warning("Could not summarize the sweep: %s", err)
        except Exception:
            # A summary problem must not turn a finished sweep into a Hydra error.
            log.exception("Could not summarize the sweep")
        else:
            if summary.write_error:
                log.warning("Summary files not written: %s", summary.write_error)
            unfinished = {run.job: trouble(run) for run in summary.unfinished}
        if unfinished:
            print(unfinished_line(sweep_dir, unfinished), file=sys.stderr, flush=True)
            # SystemExit passes through Hydra's callback wrapper (it catches Exception only).
            raise SystemExit(1)


def trouble(run: Run) -> str:
    """What went wrong with a job without a result, and what keeps its folder from being written."""
    why = shorten(" ".join((f"{run.status}: {run.error}" if run.error else run.status).split()), REASON_CHARS)
    reason = blocked(run.job_dir) if run.job_dir.is_dir() else None  # a job without a folder says so itself
    return why + (f" ({reason})" if reason else "")


def unfinished_line(sweep_dir: Path, unfinished: dict[int, str]) -> str:
    """One line: the jobs without a result and why, what was kept, and how to go on."""
    jobs = "; ".join(f"job {job}: {why}" for job, why in unfinished.items())
    return (f"{PROG}: error: {len(unfinished)} job(s) without a result ({jobs}); finished runs keep their results "
            f"in {sweep_dir}. Fix the cause, then resume (finished runs are skipped): {resume_command(sweep_dir)}")


def format_duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`."""
    seconds = int(round(max(seconds, 0.0)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def finished_rank(directories: list[Path], job_dir: Path, since_ns: int = 0) -> int:
    """k of `[k/N]`: how many of the jobs in `directories` had finished when this one did.

    Jobs run in separate processes, so the count comes from the sweep folder: the job
    folders holding a metrics.json written no later than this job's (and, for a halving
    rung, not before the rung started). Ordering by mtime gives concurrent jobs distinct
    numbers and counts jobs a resumed sweep skips in turn.
    """
    stamps = {}
    for directory in directories:
        try:
            stamp = (directory / METRICS_JSON).stat().st_mtime_ns
        except OSError:
            continue  # still running, or killed
        if stamp >= since_ns:
            stamps[directory.resolve()] = stamp
    own = stamps.get(job_dir.resolve())
    if own is None:  # this job wrote no metrics.json: it ended after every recorded one
        return len(stamps) + 1
    return sum(1 for stamp in stamps.values() if stamp <= own)


def sweep_start(sweep_dir: Path) -> Optional[float]:
    """When the sweep (or its latest resume) started: the basic sweeper writes multirun.yaml
    before launching; other sweepers (Optuna) do not, so the first job folder stands in."""
    candidates = [sweep_dir / MULTIRUN_YAML] + [d / ".hydra" for d in job_dirs(sweep_dir)]
    for path in candidates:
        try:
            return path.stat().st_mtime
        except OSError:
            continue
    return None


def _result(job_dir: Path, job_return: JobReturn) -> str:
    if job_return.status == JobStatus.FAILED:  # raised instead of recording the failure
        return f"failed: {job_return._return_value}"[:RESULT_CHARS]
    run = read_run(job_dir)
    acc = run.metrics.get("best_val_acc")
    text = run.status + ("" if acc is None else f" {acc:.2f}% val")
    return (text + (f": {' '.join(run.error.split())}" if run.error else ""))[:RESULT_CHARS]


def progress_line(config: DictConfig, job_return: JobReturn, job_seconds: Optional[float]) -> str:
    """`[k/N] job J  <swept overrides>  <result>  <time>  ETA <time left>`; in a halving
    study `[k/N] rung R/M (E epochs) job J ...`, N counting every rung's jobs."""
    hydra = config.hydra
    sweep_dir, job_dir = Path(str(hydra.sweep.dir)), Path(str(hydra.runtime.output_dir))
    plan = job_plan(hydra)
    shown = swept_only(training_overrides(str(o) for o in job_return.overrides or []), plan)
    rung = sweepers.running(sweep_dir, hydra.sweeper)
    if rung is None:
        k, size, where = finished_rank(job_dirs(sweep_dir), job_dir), plan.size, ""
    else:
        k = rung.launched_before + finished_rank(rung.jobs, job_dir, since_ns=rung.started_ns)
        size, where = rung.planned_jobs, f" {rung.label}"
    total = "?" if size is None else str(size)
    show = search.short_value if sweepers.sweeper_kind(hydra.sweeper) == sweepers.SEARCH else human_value
    parts = [f"[{k}/{total}]{where} job {job_dir.name}", " ".join(human_override(o, show) for o in shown),
             _result(job_dir, job_return)]
    if job_seconds is not None:
        parts.append(format_duration(job_seconds))
    start = sweep_start(sweep_dir)
    if size is not None and start is not None and k < size:
        parts.append(f"ETA {format_duration((time.time() - start) / k * (size - k))}")
    elif size is not None and k >= size:
        parts.append("last job")
    return "  ".join(parts)


class JobProgressCallback(Callback):
    """One line per finished job of a multirun, on stdout: readable where several parallel
    jobs' progress bars would overwrite each other. Runs in the job's own process."""

    def __init__(self) -> None:
        self._started: Optional[float] = None

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._started = time.monotonic()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if OmegaConf.select(config, "hydra.mode") != RunMode.MULTIRUN:
            return
        elapsed = None if self._started is None else time.monotonic() - self._started
        try:
            say(progress_line(config, job_return, elapsed))
        except Exception:  # a progress line must never fail a job
            log.debug("No progress line", exc_info=True)
