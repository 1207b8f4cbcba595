"""The analysis of a read sweep, without formatting: which runs rank first and which can win
(`is_best_candidate`), what was swept and what every run shared, the pivot of two swept
parameters, the groups of repeated configurations (seeds), and the Summary that holds them.
render.py writes it as terminal text, markdown, csv and json; plots.py draws it."""
from __future__ import annotations

import shlex
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from mnist_hydra import halving, rundir, search, sweepers
from mnist_hydra.sweep.read import (
    Run, human_value, hydra_overrides, read_optuna, read_runs, read_sweep_config, sweep_plan, task_overrides,
)
from mnist_hydra.sweep.winner import WinnerTest

APP_COMMAND = "python -m mnist_hydra.run --multirun"


@dataclass
class Pivot:
    """best_val_acc by (row value, column value) of the two swept parameters: the mean of a
    cell's completed runs; else, when the sweeper stopped its runs early, the best score of the
    one that got furthest and the epochs it trained; else the status of its first run."""

    row_param: str
    col_param: str
    row_values: list[str]
    col_values: list[str]
    values: dict[tuple[str, str], float]  # cells with a mean
    stopped: dict[tuple[str, str], tuple[int, float]]  # cells stopped early: (epochs_run, best_val_acc)
    statuses: dict[tuple[str, str], str]  # the other cells that hold a run
    repeated: bool  # some cell averages several runs


@dataclass
class Stat:
    """Mean and sample standard deviation of a metric over n runs (std None below 2)."""

    mean: Optional[float]
    std: Optional[float]
    n: int

    @classmethod
    def of(cls, values: list[float]) -> "Stat":
        return cls(statistics.fmean(values) if values else None,
                   statistics.stdev(values) if len(values) > 1 else None, len(values))


@dataclass
class Group:
    """Runs of one configuration (identical swept values), e.g. seed=42 run three times."""

    values: dict[str, str]  # swept parameter -> override value, as typed (seed=null stays null)
    runs: list[Run]
    best_val_acc: Stat  # over its completed runs
    test_acc: Stat


@dataclass
class Summary:
    sweep_dir: Path
    runs: list[Run]  # job order
    rows: list[Run]  # best first
    swept: list[str]
    shared: dict[str, str]  # overrides every run had, with the same value
    command: Optional[str]  # the command that made the sweep, from multirun.yaml
    best: Optional[Run]
    pivot: Optional[Pivot]
    groups: list[Group]  # empty unless some configuration ran more than once
    optuna: Optional[dict[str, Any]] = None  # optimization_results.yaml, if present
    halving: Optional[halving.Study] = None  # halving.json of a halving study
    search: Optional[search.Search] = None  # search.json of a search
    best_test: Optional[WinnerTest] = None  # set by summarize_sweep
    files: list[Path] = field(default_factory=list)  # written into sweep_dir
    write_error: Optional[str] = None  # why the files could not be written

    @property
    def sampled(self) -> bool:
        """A search's values were sampled: tables and plots show floats to 4 significant digits
        (summary.csv, metrics.json and .hydra/ keep them exact)."""
        return self.search is not None

    @property
    def unfinished(self) -> list[Run]:
        """Runs without a result (failed, killed, unreadable): the sweep's status is 1."""
        return [run for run in self.runs if not rundir.has_result(run.status)]




def swept_params(runs: list[Run]) -> list[str]:
    """Override names whose value differs between jobs, in order of first appearance."""
    names = list(dict.fromkeys(name for run in runs for name in run.overrides))
    return [name for name in names if len({run.overrides.get(name) for run in runs}) > 1]


def shared_overrides(runs: list[Run]) -> dict[str, str]:
    """Overrides that every run had, with one value."""
    first = runs[0].overrides
    return {k: v for k, v in first.items() if all(r.overrides.get(k) == v for r in runs)}


def sweep_command(hydra_cfg: Optional[dict[str, Any]]) -> Optional[str]:
    """The app's command line that makes this sweep again (Hydra overrides included)."""
    if hydra_cfg is None:
        return None
    args = task_overrides(hydra_cfg) + hydra_overrides(hydra_cfg)
    return " ".join([APP_COMMAND, *map(shlex.quote, args)])


def is_best_candidate(run: Run) -> bool:
    """Only a run that trained every epoch can win (not one stopped early or diverged)."""
    return run.status == rundir.COMPLETED and run.metrics.get("best_val_acc") is not None


def _sort_key(run: Run) -> tuple[int, float, float, int]:
    """Completed runs by accuracy; then runs stopped early, the longest trained first; then
    the other runs with an accuracy (diverged); then the rest."""
    acc = run.metrics.get("best_val_acc")
    rank = 0 if is_best_candidate(run) else 1 if run.status == rundir.STOPPED else 2 if acc is not None else 3
    return rank, -(run.metrics.get("epochs_run") or 0.0), -(acc if acc is not None else 0.0), run.job


def param_value(run: Run, name: str) -> str:
    """The run's value of a parameter, as the summary compares and shows it (human_value): runs
    with `lr=1e-3` and `lr=0.001` are one configuration."""
    return human_value(run.overrides.get(name, "unset"))


def _ordered_values(values: list[str]) -> list[str]:
    """Distinct values, numerically sorted when all are numbers, else in first-seen order."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def _completed_values(runs: list[Run], metric: str) -> list[float]:
    return [value for r in runs if is_best_candidate(r) and (value := r.metrics.get(metric)) is not None]


def build_pivot(runs: list[Run], row_param: str, col_param: str) -> Pivot:
    row_values = _ordered_values([param_value(r, row_param) for r in runs])
    col_values = _ordered_values([param_value(r, col_param) for r in runs])
    values, stopped, statuses, repeated = {}, {}, {}, False
    for rv in row_values:
        for cv in col_values:
            cell = [r for r in runs if param_value(r, row_param) == rv and param_value(r, col_param) == cv]
            repeated = repeated or len(cell) > 1
            accs = _completed_values(cell, "best_val_acc")
            early = [(int(r.metrics.get("epochs_run") or 0), acc) for r in cell
                     if r.status == rundir.STOPPED and (acc := r.metrics.get("best_val_acc")) is not None]
            if accs:
                values[rv, cv] = statistics.fmean(accs)
            elif early:
                stopped[rv, cv] = max(early)  # the run that trained furthest, the best of those
            elif cell and cell[0].status != rundir.MISSING:
                statuses[rv, cv] = cell[0].status
    return Pivot(row_param, col_param, row_values, col_values, values, stopped, statuses, repeated)


def build_groups(runs: list[Run], swept: list[str]) -> list[Group]:
    """One group per distinct configuration, in job order; [] when none repeats."""
    by_key: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        by_key.setdefault(tuple(param_value(run, p) for p in swept), []).append(run)
    if all(len(group) == 1 for group in by_key.values()):
        return []
    return [Group(dict(zip(swept, key, strict=True)), group, Stat.of(_completed_values(group, "best_val_acc")),
                  Stat.of(_completed_values(group, "test_acc")))
            for key, group in by_key.items()]


def build_summary(sweep_dir: Path) -> Summary:
    """Read and analyse a sweep folder; writes nothing. SweepError when it is not a sweep."""
    sweep_dir = Path(sweep_dir)
    sweep_cfg = read_sweep_config(sweep_dir)
    runs = read_runs(sweep_dir, sweep_plan(sweep_cfg) if sweep_cfg else None)
    swept = swept_params(runs)
    rows = sorted(runs, key=_sort_key)
    kind = sweepers.sweeper_kind((sweep_cfg or {}).get("sweeper"))
    return Summary(
        sweep_dir=sweep_dir,
        runs=runs,
        rows=rows,
        swept=swept,
        shared=shared_overrides(runs),
        command=sweep_command(sweep_cfg),
        best=next((r for r in rows if is_best_candidate(r)), None),
        pivot=build_pivot(runs, *swept) if len(swept) == 2 else None,
        groups=build_groups(runs, swept),
        optuna=read_optuna(sweep_dir),
        halving=halving.read_state(sweep_dir) if kind == sweepers.HALVING else None,
        search=search.read_state(sweep_dir) if kind == sweepers.SEARCH else None,
    )


def run_metrics(summary: Summary, run: Run) -> dict[str, Optional[float]]:
    """The run's metrics; the winner's test_acc also when it was measured after the selection."""
    test = summary.best_test
    if run is summary.best and test is not None and test.test_acc is not None:
        return {**run.metrics, "test_acc": test.test_acc}
    return run.metrics


def status_counts(summary: Summary) -> dict[str, int]:
    return dict(Counter(run.status for run in summary.runs))
