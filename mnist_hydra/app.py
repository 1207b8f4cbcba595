"""The Hydra application: `task` is the @hydra.main job, `main` the command.

The task function lives here rather than in `run.py` because `python -m mnist_hydra.run`
executes that file as `__main__`, and the joblib launcher cannot pickle functions of
`__main__` (Hydra 1.3). Torch-free at import: torch loads where a job trains (train.py), so a
sweep's main process gets to its launcher (and a mistake to its one-line refusal) sooner.
"""
import logging
import sys
from pathlib import Path
from typing import cast

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from mnist_hydra import guards
from mnist_hydra import rundir, sweepers
from mnist_hydra.config import CONFIG_DIR, ConfigError, config_hash, register_configs, target_epochs, training_overrides
from mnist_hydra.rundir.folders import register_resolver
from mnist_hydra.launchers import guard_launchers
from mnist_hydra.process import exit_quickly, exit_with_parent, say
from mnist_hydra.sweep.read import job_plan, swept_only
from mnist_hydra.threads import joblib_workers, parallel_jobs

log = logging.getLogger("mnist_hydra")

register_configs()
register_resolver()
guard_launchers()  # here: every process that runs a job imports this module (the task function's)


def run_overrides(hydra_cfg: DictConfig) -> list[str]:
    """What names a run in TensorBoard: its overrides; in a sweep, those of the swept keys."""
    overrides = [str(o) for o in hydra_cfg.overrides.task]
    return swept_only(overrides, job_plan(hydra_cfg)) if hydra_cfg.mode == RunMode.MULTIRUN else overrides


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def task(cfg: DictConfig) -> float:
    """One job: train and record; returns best validation accuracy for sweepers.

    In a sweep a failing job is recorded in its metrics.json and the sweep goes on;
    the sweep-summary callback then makes the process exit non-zero.
    """
    # Here, not at the top: torch loads in the process that trains.
    from mnist_hydra.rundir.writer import tensorboard_name, write_metrics
    from mnist_hydra.train import task_hparams, train

    # Annotated as the HydraConf dataclass, it is the DictConfig of cfg.hydra (keys set by plugins too).
    hydra_cfg = cast(DictConfig, HydraConfig.get())
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    if hydra_cfg.runtime.choices.get("debug"):
        log.warning("DEBUG RUN (debug=%s): not a real result; folder %s", hydra_cfg.runtime.choices.debug, run_dir)
    exit_quickly()
    workers = joblib_workers(hydra_cfg)
    if workers > 1:  # this is a joblib worker process
        exit_with_parent()
    jobs = parallel_jobs(hydra_cfg, workers)
    # What was trained: a stopped run's later continuation is the same run.
    identity = {"overrides": training_overrides(str(o) for o in hydra_cfg.overrides.task),
                "config_hash": config_hash(cfg)}
    previous = rundir.recorded_result(run_dir)
    if previous is not None and cfg.resume and previous.get("config_hash") == identity["config_hash"]:
        if rundir.reached(previous, target_epochs(cfg)):
            log.info("resume: %s already holds a %s run of this config; skipped", run_dir, previous["status"])
            return float(previous["best_val_acc"] or 0.0)
        # else a stopped run of this config goes on: train() continues it from last.pt
    elif previous is not None:
        # Only reachable where the guard cannot list the jobs in advance (an Optuna search, guards.
        # other_configs_runs); the results stay (metrics.json names their config).
        log.error("%s holds a finished run of another config (%s); not overwritten", run_dir,
                  " ".join(previous.get("overrides", [])) or "no overrides")
        return 0.0
    # Per-batch bars of parallel jobs would overwrite each other on one terminal line.
    bars = not multirun or sweepers.launcher_kind(hydra_cfg.launcher) == sweepers.BASIC
    try:
        metrics = train(cfg, run_dir, parallel_jobs=jobs, hparams=task_hparams(cfg, hydra_cfg), progress=bars,
                        run_name=tensorboard_name(run_overrides(hydra_cfg)))
    except Exception as err:
        # A mistake or the outside world (a full disk): the message says it all; a traceback would bury it.
        if isinstance(err, (ConfigError, OSError)):
            log.error("run failed: %s: %s", type(err).__name__, err)
        else:
            log.exception("run failed")
        write_metrics(run_dir, {"status": rundir.FAILED, "error": f"{type(err).__name__}: {err}", **identity})
        if not multirun:
            raise
        return 0.0  # a number a sweeper (Optuna) accepts; the summary marks the run failed
    write_metrics(run_dir, {**metrics, **identity})
    if not multirun:
        print(f"Run folder: {run_dir}", flush=True)
    return float(metrics["best_val_acc"] or 0.0)


def main() -> None:
    """The `mnist-hydra` command and `python -m mnist_hydra.run`."""
    exit_quickly()
    try:
        guards.run_app(task)
    except KeyboardInterrupt:
        say(guards.interrupted_message(), sys.stderr)  # one write: dying workers may print too
        sys.exit(130)
