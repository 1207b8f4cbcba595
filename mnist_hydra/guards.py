"""Checks in the main process before any folder is written; the resume command and the Ctrl-C hint.

A Hydra callback (registered in conf/config.yaml): Hydra creates a run's folder and writes
its .hydra/ files before the task function starts, so a config that can never run, or a
folder that holds another run's results, must be refused here, in on_run_start /
on_multirun_start, to leave nothing behind and overwrite nothing.
"""
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, NoReturn

from hydra.core.global_hydra import GlobalHydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from mnist_hydra import sweepers
from mnist_hydra.config import (
    ConfigError, GridConfigLoader, check_choices, config_hash, explain, override_key, validate, validate_grid,
)
from mnist_hydra.rundir.files import read_only_reason
from mnist_hydra.halving import METRICS
from mnist_hydra.launchers import workers_starting
from mnist_hydra.rundir import METRICS_JSON, recorded_result
from mnist_hydra.sweep.read import MULTIRUN_YAML, basic_sweep_jobs, parse_sweep

PROG = "mnist-hydra"
_sweep: dict[str, Path] = {}  # the folder of this process's run or sweep, for interrupted_message


def refuse(message: str, prog: str = PROG) -> NoReturn:
    """One line on stderr and exit status 1, instead of a traceback (SystemExit passes
    through Hydra's callback wrapper, which turns exceptions into warnings)."""
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def run_app(task: Callable[[], Any], prog: str = PROG) -> None:
    """Run a @hydra.main function; a config mistake is one line and exit status 1.

    A mistake (an unknown key, group option or a wrong type) is raised by Hydra while it
    composes, before any callback runs, and Hydra would print several lines and its advice
    (`use +epoch=3`). With HYDRA_FULL_ERROR set Hydra re-raises instead, so the mistake
    becomes one line here; a developer who sets it gets the traceback as before. So does a
    fault of the outside world that ends the invocation (a single run's full disk, a sweep
    folder that fills up between jobs), with the command that goes on.
    """
    developer = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        task()
    except Exception as err:
        line = None if developer else explain(err) or outside_fault(err)
        if line is None:  # a bug: its traceback
            raise
        refuse(line, prog)


def outside_fault(err: Exception) -> str | None:
    """What an OSError that ended this run or sweep left, and the command that goes on."""
    folder = invocation_folder()
    if not isinstance(err, OSError) or folder is None:
        return None
    return (f"{type(err).__name__}: {err}; what finished keeps its results in {folder[0]}. "
            f"Fix the cause, then resume (finished runs are skipped): {resume_command(*folder)}")


def finished_jobs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent for p in sweep_dir.glob(f"*/{METRICS_JSON}") if recorded_result(p.parent))


def other_configs_runs(config: DictConfig, sweep_dir: Path) -> dict[str, list[str]]:
    """The job folders of this sweep that hold a finished run of another config than the job
    this sweep would run there, with that run's overrides. Only a basic sweeper's jobs are
    known before they start; an Optuna search samples them as it goes (each job then
    refuses by itself, in app.task)."""
    if not str(config.hydra.sweeper._target_).endswith((".BasicSweeper", ".HalvingSweeper")):  # the same grid
        return {}
    loader = GridConfigLoader(GlobalHydra.instance().config_loader())
    taken = {}
    for num, overrides in enumerate(grid_jobs(config, loader)):
        job_cfg = loader.load_sweep_config(config, overrides)  # as the launcher composes it
        with open_dict(job_cfg):
            job_cfg.hydra.job.num = num
        job_dir = sweep_dir / str(job_cfg.hydra.sweep.subdir)
        previous = recorded_result(job_dir)
        if previous and previous.get("config_hash") != config_hash(job_cfg):
            taken[job_dir.name] = [str(o) for o in previous.get("overrides", [])]
    return taken


def check_data(configs: Iterable[DictConfig]) -> None:
    """Load every data set these runs use, once each: a missing, corrupt or unreadable file
    (or a root that is not a folder) raises DataError now, before a run folder exists, and
    missing files are fetched now if allowed. The data stays in this process's memo, so a
    run in this process (a single run, the basic launcher's jobs) does not read it again."""
    from mnist_hydra.data import load_dataset  # torch: imported when the data is checked, not at start-up

    for name, root, download in {(cfg.data.name, str(cfg.data.root), cfg.data.download) for cfg in configs}:
        load_dataset(name, root, download)


class RunGuard(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_choices(config.hydra.runtime.choices)
            validate(config)
            from mnist_hydra.runtime import run_device  # torch (2 s): not before a bad value is refused

            run_device(config.device.value, config.precision)
            check_data([config])
        except (ConfigError, RuntimeError) as err:  # RuntimeError: an absent device, DataError
            refuse(str(err))
        run_dir = Path(str(config.hydra.run.dir))
        _sweep["run"] = run_dir
        previous = recorded_result(run_dir)
        if previous and not (
                config.resume and previous.get("config_hash") == config_hash(config)):
            whose = "another config's" if config.resume else "a"
            refuse(f"{run_dir} already holds {whose} finished run; pass resume=true to skip a finished "
                   "run of the same config, or choose another hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        _sweep["sweep"] = sweep_dir
        if sweep_dir.is_dir() and (reason := read_only_reason(sweep_dir)) is not None:
            # No job could write its folder, nor the sweeper its multirun.yaml: refuse before any.
            refuse(f"{reason}, so no job of this sweep can run there; its finished runs are kept as they are. "
                   f"Make it writable, then resume: {resume_command(sweep_dir)}")
        done = finished_jobs(sweep_dir) if sweep_dir.is_dir() else []
        if done and not config.resume:
            refuse(f"{sweep_dir} already holds {len(done)} finished run(s); pass resume=true to skip "
                   "finished jobs of the same config and rerun the others, or choose another hydra.sweep.dir")
        taken = other_configs_runs(config, sweep_dir) if done else {}
        if taken:
            jobs = ", ".join(f"{job} ({' '.join(overrides) or 'no overrides'})" for job, overrides in taken.items())
            refuse(f"{sweep_dir} holds finished runs of other configs where this sweep's jobs go: job(s) {jobs}; "
                   "resume=true continues the same sweep only: choose another hydra.sweep.dir")
        if str(config.hydra.sweeper._target_).endswith(".BasicSweeper"):  # the halving sweeper checks its own
            loader = GridConfigLoader(GlobalHydra.instance().config_loader())
            with workers_starting(config.hydra):  # joblib's, while the grid is checked
                check_grid(config, grid_jobs(config, loader), loader)


def grid_jobs(config: DictConfig, loader: GridConfigLoader) -> list[list[str]]:
    """The jobs of the basic sweeper's grid (hydra.sweeper.params and the command line)."""
    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.params or {}).items()]
    return basic_sweep_jobs(parse_sweep([*params, *config.hydra.overrides.task], loader))


def check_grid(config: DictConfig, jobs: list[list[str]], loader: GridConfigLoader) -> list[DictConfig]:
    """Every job of a grid composed (through `loader`, as its launcher will) and validated,
    and the data they use loaded (not on a cluster: the data is where the jobs run, which need
    not be here); the first problem refuses the sweep in one line before any job runs.
    Returns the jobs' configs."""
    from mnist_hydra.data import DataError

    try:
        configs = validate_grid(config, jobs, loader)
        if sweepers.launcher_kind(config.hydra.launcher) != sweepers.SLURM:
            check_data(configs)
    except (ConfigError, DataError) as err:
        refuse(f"sweep refused before any job ran: {err}")
    return configs


def check_sweeper_settings(sweeper: str, rules: list[tuple[str, Any, bool, str]]) -> None:
    """Refuse, in one line, a sweeper's settings that break their rules: (name, value, ok, rule)."""
    problems = [f"hydra.sweeper.{name}={value} {rule}" for name, value, ok, rule in rules if not ok]
    if problems:
        refuse(f"invalid {sweeper} sweeper: " + "; ".join(problems))


def rung_rules(eta: int, min_epochs: int, metric: str) -> list[tuple[str, Any, bool, str]]:
    """The settings both studies (halving, search) share, as check_sweeper_settings's rules."""
    return [("eta", eta, eta >= 2, "must be >= 2"),
            ("min_epochs", min_epochs, min_epochs >= 1, "must be >= 1"),
            ("metric", metric, metric in METRICS, f"must be one of {', '.join(METRICS)}")]


def study_epochs(config: DictConfig, jobs: list[list[str]], loader: GridConfigLoader, sweeper: str) -> int:
    """A study's jobs checked as check_grid checks a grid (joblib's workers start meanwhile),
    and the one `epochs` they share: the last rung's. The study sets stop_at_epoch itself."""
    if any(override_key(override) == "stop_at_epoch" for job in jobs for override in job):
        refuse(f"hydra/sweeper={sweeper} sets stop_at_epoch per rung; leave it out")
    with workers_starting(config.hydra):
        epochs = {cfg.epochs for cfg in check_grid(config, jobs, loader)}
        if len(epochs) > 1:
            refuse(f"hydra/sweeper={sweeper} needs one `epochs` for the whole study (the last rung's), got "
                   f"epochs={','.join(map(str, sorted(epochs)))}; sweep epochs with the basic sweeper")
    return epochs.pop()


def open_sweep_folder(config: DictConfig) -> Path:
    """The sweep folder, made, with the sweep's config in multirun.yaml (as the basic sweeper writes it)."""
    sweep_dir = Path(config.hydra.sweep.dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / MULTIRUN_YAML)
    return sweep_dir


def resume_command(folder: Path, key: str = "hydra.sweep.dir") -> str:
    """This process's command with `resume=true` and its folder (`key`: hydra.sweep.dir or
    hydra.run.dir), which skips finished runs and reruns or continues the others."""
    args = [arg for arg in sys.argv[1:] if not arg.startswith(("resume=", f"{key}="))]
    return shlex.join([PROG, *args, "resume=true", f"{key}={folder}"])


def invocation_folder() -> tuple[Path, str] | None:
    """This process's sweep or run folder and the key that names it, once its guard has run."""
    if "sweep" in _sweep:
        return _sweep["sweep"], "hydra.sweep.dir"
    if "run" in _sweep:
        return _sweep["run"], "hydra.run.dir"
    return None


def interrupted_message() -> str:
    """What Ctrl-C leaves and how to go on: the folder and the command that resumes it."""
    folder = invocation_folder()
    if folder is None:
        return f"{PROG}: interrupted"
    return (f"{PROG}: interrupted. Finished jobs keep their results in {folder[0]}.\n"
            f"To resume (finished runs are skipped, unfinished ones continue from last.pt):\n"
            f"  {resume_command(*folder)}")
