"""How many torch threads a job gets, whatever the launcher: decided here alone.

`threads` if the config sets it; else the SLURM allocation (SLURM_CPUS_PER_TASK); else this
process's usable cores split between the jobs that run at once on the machine: joblib's
workers, but no more than the jobs the sweeper hands out together (the basic sweeper's batch,
Optuna's n_jobs trials, a halving study's running rung or a search's running wave, read
through mnist_hydra.sweepers.running), so jobs don't oversubscribe the cores and a lone job
has them all. runtime.configure_threads hands the number to torch.

Torch-free: the main process and the sweepers ask here before torch loads.
"""
from __future__ import annotations

import os
from pathlib import Path

from hydra.types import RunMode
from omegaconf import DictConfig

from mnist_hydra import sweepers
from mnist_hydra.sweep.read import job_plan


def usable_cores() -> int:
    """The cores this process may run on (its affinity: taskset, a cgroup's cpuset)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def joblib_workers(hydra_cfg: DictConfig) -> int:
    """joblib's n_jobs as a number of worker processes; 1 when jobs run in the main process
    (joblib with n_jobs=1, or another launcher)."""
    if hydra_cfg.mode != RunMode.MULTIRUN or "n_jobs" not in hydra_cfg.launcher:
        return 1
    n_jobs = int(hydra_cfg.launcher.n_jobs)
    # joblib's convention: -1 is every core, -2 all but one, ...
    return max(1, n_jobs if n_jobs > 0 else usable_cores() + 1 + n_jobs)


def concurrent_jobs(hydra_cfg: DictConfig, cluster: int) -> int:
    """How many jobs of one launch run at once: joblib's workers, one under the basic launcher,
    `cluster` under submitit (locally or on SLURM, a launch's jobs run side by side)."""
    launcher = sweepers.launcher_kind(hydra_cfg.launcher)
    return joblib_workers(hydra_cfg) if launcher == sweepers.JOBLIB else 1 if launcher == sweepers.BASIC else cluster


def jobs_in_batch(hydra_cfg: DictConfig) -> int | None:
    """How many jobs the sweeper hands the launcher together with this one (None: not
    known): the basic sweeper's max_batch_size (default: every job), Optuna's n_jobs trials
    at a time; jobs are numbered batch after batch, so the last batch holds the rest; a
    halving study's running rung, a search's running wave."""
    rung = sweepers.running(Path(str(hydra_cfg.sweep.dir)), hydra_cfg.sweeper)
    if rung is not None:
        return len(rung.jobs)
    size = job_plan(hydra_cfg).size
    if size is None:
        return None
    per_batch = hydra_cfg.sweeper.get("max_batch_size") or hydra_cfg.sweeper.get("n_jobs") or size
    first = hydra_cfg.job.num - hydra_cfg.job.num % per_batch
    return max(1, min(per_batch, size - first))


def parallel_jobs(hydra_cfg: DictConfig, workers: int) -> int:
    """How many jobs of this sweep share the machine: joblib's workers, but no more than
    the jobs of this batch (a 1-job sweep has the machine to itself)."""
    batch = jobs_in_batch(hydra_cfg) if workers > 1 else None
    return min(workers, batch or workers)


def job_threads(requested: int | None, parallel_jobs: int = 1) -> int:
    """Torch threads for this job: `threads` if set, else the SLURM allocation, else the
    usable cores split between the sweep's parallel jobs (parallel_jobs); at least 1."""
    if requested is not None:
        threads = requested
    elif os.environ.get("SLURM_CPUS_PER_TASK"):
        threads = int(os.environ["SLURM_CPUS_PER_TASK"])
    else:
        threads = usable_cores() // max(1, parallel_jobs)
    return max(1, threads)
