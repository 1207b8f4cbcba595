"""Successive halving over a grid (`hydra/sweeper=halving`): the plain functions behind the
sweeper plugin in hydra_plugins/mnist_hydra_sweeper/.

Every configuration trains `min_epochs` epochs; after each rung the best ceil(n / eta) go on
to eta times as many epochs, until the survivors reach `epochs` (once one is left, it goes
straight there). A survivor continues in its own job folder from last.pt (`stop_at_epoch`
stops a run with status `stopped`, `resume=true` continues it), so its history is that of
an uninterrupted run. The rungs are recorded in the sweep folder's halving.json.

Torch-free: the progress callback reads the rung state in every job process.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar

from hydra.core.utils import JobReturn

from mnist_hydra import rundir
from mnist_hydra.config import override_key, training_overrides
from mnist_hydra.rundir.files import atomic_write

log = logging.getLogger(__name__)

STATE_JSON = "halving.json"
# What a rung ranks by: the best value of a metrics.csv column over the epochs trained so far.
METRICS = {"val_acc": max, "val_loss": min}

T = TypeVar("T")
Launch = Callable[[Sequence[Sequence[str]], int], Sequence[JobReturn]]  # Launcher.launch


@dataclass
class Rung:
    epochs: int  # every configuration of the rung trains to this epoch
    jobs: list[int]  # the job folders (grid positions) it launched
    promoted: Optional[list[int]] = None  # who goes on; None while the rung runs
    started: Optional[float] = None  # time.time() at its launch
    seconds: Optional[float] = None  # its launch's wall time


@dataclass
class Study:
    """halving.json: the settings and the rungs so far."""

    eta: int
    min_epochs: int
    metric: str
    epochs: int
    configurations: int
    rungs: list[Rung] = field(default_factory=list)

    @property
    def schedule(self) -> list[int]:
        """The epoch each rung trains to (rung_epochs)."""
        return rung_epochs(self.min_epochs, self.eta, self.epochs)

    @property
    def plan(self) -> list[tuple[int, int]]:
        """(epochs, configurations) of each rung when no run fails (planned_rungs)."""
        return planned_rungs(self.configurations, self.eta, self.schedule)


def rung_epochs(min_epochs: int, eta: int, epochs: int) -> list[int]:
    """The epoch each rung trains to: min_epochs, times eta each rung, the last one `epochs`."""
    budgets = [min(min_epochs, epochs)]
    while budgets[-1] < epochs:
        budgets.append(min(budgets[-1] * eta, epochs))
    return budgets


def survivors(configurations: int, eta: int) -> int:
    return math.ceil(configurations / eta)


def skipped(configurations: int, index: int, schedule: list[int]) -> bool:
    """A single survivor skips the rungs between: nothing is left to compare it with."""
    return configurations == 1 and 0 < index < len(schedule) - 1


def planned_rungs(configurations: int, eta: int, schedule: list[int]) -> list[tuple[int, int]]:
    """(epochs, configurations) of each rung when no run fails."""
    plan, n = [], configurations
    for index, epoch in enumerate(schedule):
        if not skipped(n, index, schedule):
            plan.append((epoch, n))
            n = survivors(n, eta)
    return plan


def rung_score(job_dir: Path, epoch: int, metric: str) -> Optional[float]:
    """The run's best `metric` over epochs 1..epoch; None when it has no such result (it failed,
    diverged or was killed before reaching `epoch`): it cannot go on."""
    metrics = rundir.recorded_result(job_dir)
    if metrics is None or metrics["status"] == rundir.DIVERGED or not rundir.reached(metrics, epoch):
        return None
    values = [row[metric] for row in rundir.read_history(job_dir)
              if row.get("epoch", math.inf) <= epoch and math.isfinite(row.get(metric, math.nan))]
    return METRICS[metric](values) if values else None


def promote(scores: dict[int, Optional[float]], count: int, metric: str) -> list[int]:
    """The `count` best jobs by score, in job order. Ties go to the lower job number (the
    configuration listed first in the grid); runs without a score never go on."""
    sign = -1 if METRICS[metric] is max else 1
    ranked = sorted((sign * score, job) for job, score in scores.items() if score is not None)
    return sorted(job for _, job in ranked[:count])


def job_overrides(overrides: Sequence[str], job: int, epoch: int) -> list[str]:
    """A rung's job: the configuration, trained to `epoch` in its own folder; resume=true so a
    survivor continues from last.pt and a run that already got there is skipped."""
    return [*training_overrides(overrides), f"stop_at_epoch={epoch}", "resume=true", f"hydra.sweep.subdir={job}"]


def save_state(path: Path, state: Any) -> None:
    """A study's state file (a dataclass as JSON), replaced atomically."""
    text = json.dumps(asdict(state), indent=2) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))


def load_state(path: Path, build: Callable[[dict[str, Any]], T]) -> Optional[T]:
    """A state file read back through `build`, or None (absent, unreadable or of another shape)."""
    try:
        return build(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def study_from(data: dict[str, Any]) -> Study:
    return Study(**{**data, "rungs": [Rung(**rung) for rung in data["rungs"]]})


def write_state(sweep_dir: Path, study: Study) -> None:
    save_state(sweep_dir / STATE_JSON, study)


def read_state(sweep_dir: Path) -> Optional[Study]:
    """The sweep folder's halving.json, or None (absent or unreadable)."""
    return load_state(sweep_dir / STATE_JSON, study_from)


@dataclass
class Position:
    """Where the running rung (or a search's wave) stands, for a job's progress line and threads."""

    label: str  # where the study stands: `rung 2/3 (3 epochs)`
    jobs: list[Path]  # the rung's job folders
    launched_before: int  # jobs of the earlier rungs
    planned_jobs: int  # of the whole study, when no run fails
    started_ns: int  # when the rung started


def position(sweep_dir: Path) -> Optional[Position]:
    """The running rung of the halving study in sweep_dir; None when it is not one."""
    study = read_state(sweep_dir)
    if study is None or not study.rungs:
        return None
    plan = study.plan
    rung = study.rungs[-1]
    label = f"rung {len(study.rungs)}/{max(len(plan), len(study.rungs))} ({rung.epochs} epoch{'s' * (rung.epochs > 1)})"
    return Position(label, [sweep_dir / str(job) for job in rung.jobs], sum(len(r.jobs) for r in study.rungs[:-1]),
                    sum(n for _, n in plan), int((rung.started or 0.0) * 1e9))


def describe(job: int, overrides: Sequence[str], score: Optional[float]) -> str:
    shown = " ".join(overrides) or f"job {job}"
    return f"{shown} ({'no result' if score is None else f'{score:.4g}'})"


def next_epochs(study: Study) -> Optional[int]:
    """The epoch the study's next rung trains to; None when it is over (its last rung reached
    `epochs` or promoted nobody) or its last rung is still open."""
    schedule = study.schedule
    if not study.rungs:
        index, count = 0, study.configurations
    else:
        last = study.rungs[-1]
        if not last.promoted or last.epochs == study.epochs:
            return None
        index, count = schedule.index(last.epochs) + 1, len(last.promoted)
    while skipped(count, index, schedule):
        index += 1
    return schedule[index]


def open_rung(study: Study, jobs: list[int]) -> Rung:
    """Start the study's next rung with `jobs` (its first: the configurations; later: the last
    rung's promoted ones)."""
    epochs = next_epochs(study)
    assert epochs is not None, "the study is over"
    rung = Rung(epochs, jobs, started=time.time())
    study.rungs.append(rung)
    return rung


def close_rung(study: Study, sweep_dir: Path) -> dict[int, Optional[float]]:
    """Decide who of the study's last rung goes on, once every job of it has ended; returns
    the jobs' scores (empty for the last rung, where nobody goes on)."""
    rung = study.rungs[-1]
    if rung.epochs == study.epochs:
        rung.promoted = []
        return {}
    scores = {job: rung_score(sweep_dir / str(job), rung.epochs, study.metric) for job in rung.jobs}
    rung.promoted = promote(scores, survivors(len(rung.jobs), study.eta), study.metric)
    return scores


def run_study(grid: list[list[str]], study: Study, sweep_dir: Path, launch: Launch) -> list[Sequence[JobReturn]]:
    """Launch the rungs of `study` over `grid` (one override list per configuration); returns
    the launches' results. The rung state is written before and after every launch."""
    jobs, launched, returns = list(range(len(grid))), 0, []
    while next_epochs(study) is not None:
        rung = open_rung(study, jobs)
        write_state(sweep_dir, study)  # the running rung, for the jobs' progress lines and threads
        log.info("rung %d: %d configuration(s) to epoch %d", len(study.rungs), len(jobs), rung.epochs)
        returns.append(launch([job_overrides(grid[job], job, rung.epochs) for job in jobs], launched))
        rung.seconds = round(time.time() - (rung.started or 0.0), 3)
        launched += len(jobs)
        scores = close_rung(study, sweep_dir)
        if scores:
            log.info("rung %d done: %d of %d go on (their best %s up to epoch %d): %s", len(study.rungs),
                     len(rung.promoted or []), len(jobs), study.metric, rung.epochs,
                     "; ".join(describe(job, swept(grid, job), scores[job]) for job in rung.promoted or []) or "none")
        write_state(sweep_dir, study)
        jobs = rung.promoted or []
    return returns


def swept(grid: list[list[str]], job: int) -> list[str]:
    """The overrides that tell this configuration apart from the others of the grid."""
    varying = {override_key(o) for o in grid[job] if any(o not in other for other in grid)}
    return [o for o in grid[job] if override_key(o) in varying]
