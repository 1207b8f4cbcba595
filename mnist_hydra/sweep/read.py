"""Reading a sweep folder: its job folders (0/, 1/, ...) and the sweep's own config.

Kept free of matplotlib, numpy and torch: the per-job progress callback imports this
module in every job process.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import yaml
from omegaconf import DictConfig, OmegaConf

from mnist_hydra import rundir
from mnist_hydra.rundir.files import read_only_reason
from mnist_hydra.config import override_key, split_override, training_overrides

log = logging.getLogger(__name__)

METRIC_COLUMNS = ["best_val_acc", "test_acc", "epochs_run", "params", "train_time_s", "convergence_epoch"]
MULTIRUN_YAML = "multirun.yaml"


class SweepError(ValueError):
    """The folder is not a sweep that can be summarized (absent, or without job folders)."""


@dataclass
class Run:
    """One job of the sweep, as read from its folder."""

    job: int
    job_dir: Path
    typed: dict[str, str]  # the task overrides that change what is trained, as typed, by name (typed_overrides)
    status: str  # a rundir status: completed, diverged, stopped, failed, missing, unreadable, ...
    error: Optional[str] = None
    metrics: dict[str, Optional[float]] = field(default_factory=dict)  # METRIC_COLUMNS
    seed: Optional[int] = None  # the seed the run used (drawn when `seed=null`)
    tested: Optional[bool] = None  # metrics.json "test": False when the run skipped the test set
    overrides: dict[str, str] = field(init=False)  # typed's values by name: {"experiment": "x"}

    def __post_init__(self) -> None:
        self.overrides = parse_overrides(list(self.typed.values()))


def typed_overrides(items: list[Any]) -> dict[str, str]:
    """`["+experiment=x", "lr=0.1", "resume=true"]` -> `{"experiment": "+experiment=x", "lr": "lr=0.1"}`
    (config.RUN_CONTROL_KEYS change no result: they are never a swept parameter)."""
    return {override_key(item): item.strip() for item in training_overrides(str(item) for item in items)}


def parse_overrides(items: list[Any]) -> dict[str, str]:
    """`["+experiment=x", "lr=0.1", "resume=true"]` -> `{"experiment": "x", "lr": "0.1"}`: names
    without their `+`, as summary.csv's columns and summary.json name them; values as typed."""
    return {name: split_override(item)[1] for name, item in typed_overrides(items).items()}


def human_value(value: str) -> str:
    """A value as a person writes it, for display: a float to 15 significant digits (a
    double holds any 15-digit decimal exactly, so typed values stay as typed and distinct
    ones distinct) in its shortest form, which drops the float noise of Hydra's `range`
    (`0.009000000000000001` -> `0.009`, `1e-5` -> `1e-05`); integers and text unchanged.
    metrics.json and .hydra/ keep the exact value the run used."""
    try:
        int(value)
        return value
    except ValueError:
        pass
    try:
        return repr(float(f"{float(value):.15g}"))
    except ValueError:
        return value


def human_override(override: str, show: Callable[[str], str] = human_value) -> str:
    """`lr=0.009000000000000001` -> `lr=0.009`: the value as `show` shows it (human_value; a
    search's 4 significant digits: search.short_value). Split as text, not by split_override:
    the override is shown as typed (`+`, `~` and all), only its value changes."""
    key, equals, value = override.partition("=")
    return key + equals + show(value)


def _hydra_overrides(job_dir: Path) -> Optional[list[Any]]:
    """.hydra/overrides.yaml: the overrides of the job Hydra last set up in this folder."""
    try:
        items = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return items if isinstance(items, list) else None


def _read_overrides(job_dir: Path, metrics: dict[str, Any]) -> dict[str, str]:
    """The job's typed_overrides from its metrics.json (written with the results it names),
    else from .hydra/overrides.yaml."""
    items = metrics.get("overrides")
    return typed_overrides(items if isinstance(items, list) else _hydra_overrides(job_dir) or [])


def _number(value: Any) -> Optional[float]:
    """A finite number, or None for null, text or NaN (which sort and plot as no value)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def read_run(job_dir: Path) -> Run:
    """Read one job folder; never raises for a bad or absent metrics.json."""
    job = int(job_dir.name)
    if not (job_dir / rundir.METRICS_JSON).exists():
        return Run(job, job_dir, _read_overrides(job_dir, {}), rundir.MISSING)
    try:
        data = rundir.load_metrics(job_dir)
    except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
        return Run(job, job_dir, _read_overrides(job_dir, {}), rundir.UNREADABLE,
                   error=f"{rundir.METRICS_JSON}: {exc}")
    latest, recorded = _hydra_overrides(job_dir), data.get("overrides")
    # Hydra rewrites .hydra/ when a reused sweep folder's job starts, also when the job then
    # refuses to overwrite another config's finished run (app.task): that job never ran.
    if (rundir.has_result(str(data.get("status"))) and latest is not None and isinstance(recorded, list)
            and parse_overrides(latest) != parse_overrides(recorded)):
        return Run(job, job_dir, typed_overrides(latest), rundir.OTHER_CONFIG,
                   error=f"holds a finished run of {' '.join(map(str, recorded)) or 'no overrides'}, left as it "
                         "was; this job never ran")
    seed = data.get("seed")
    return Run(
        job=job,
        job_dir=job_dir,
        typed=_read_overrides(job_dir, data),
        status=str(data.get("status") or rundir.UNREADABLE),
        error=data.get("error") or None,
        metrics={name: _number(data.get(name)) for name in METRIC_COLUMNS},
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        tested=data["test"] if isinstance(data.get("test"), bool) else None,
    )


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Numbered job folders, in numeric order (Hydra names them 0, 1, ..., 10, ...)."""
    dirs = [p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(dirs, key=lambda p: int(p.name))


def read_runs(sweep_dir: Path, plan: Optional[SweepPlan] = None) -> list[Run]:
    """Every job of the sweep in job order, and each job listed in the plan that has no folder
    (a job that could not make or write one leaves no record of its own): `missing`, with what
    kept its folder from being written in `error`. A search lists no jobs up front: a trial
    never asked is no job. SweepError when the folder is not a sweep."""
    if not sweep_dir.is_dir():
        raise SweepError(f"{sweep_dir}: no such directory")
    runs = {int(d.name): read_run(d) for d in job_dirs(sweep_dir)}
    for job, planned in enumerate(plan.jobs or [] if plan else []):
        if job not in runs:
            folder, reason = sweep_dir / str(job), blocked(sweep_dir / str(job))
            runs[job] = Run(job, folder, typed_overrides(planned), rundir.MISSING,
                            error="no folder" + (f" ({reason})" if reason else ""))
    if not runs:
        raise SweepError(f"{sweep_dir}: no job folders (0/, 1/, ...); is this a Hydra sweep dir?")
    return [runs[job] for job in sorted(runs)]


def blocked(folder: Path) -> Optional[str]:
    """Why nothing can be recorded in a job's folder: a file in its place, or the folder (the
    sweep folder where the job's is absent) cannot be written; None when nothing says so."""
    if folder.is_dir():
        return read_only_reason(folder)
    if folder.exists():
        return f"{folder} is a file"
    return read_only_reason(folder.parent) if folder.parent.is_dir() else None


def _read_yaml(path: Path) -> Optional[dict[str, Any]]:
    """A YAML mapping, or None when absent or unreadable (logged: the summary goes on)."""
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        log.warning("Cannot read %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None


def read_optuna(sweep_dir: Path) -> Optional[dict[str, Any]]:
    """Optuna's optimization_results.yaml, if the sweep was an Optuna search."""
    return _read_yaml(sweep_dir / "optimization_results.yaml")


def read_sweep_config(sweep_dir: Path) -> Optional[dict[str, Any]]:
    """The `hydra` node of multirun.yaml (written by the basic sweeper when it starts).

    Read as plain YAML: the fields used here hold no interpolations, and OmegaConf would
    try to resolve `${now:...}` and the like.
    """
    data = _read_yaml(sweep_dir / MULTIRUN_YAML)
    hydra = data.get("hydra") if data else None
    return hydra if isinstance(hydra, dict) else None


def task_overrides(hydra_cfg: dict[str, Any]) -> list[str]:
    """The sweep's command-line task overrides (`lr=0.1,0.01`), as typed."""
    items = (hydra_cfg.get("overrides") or {}).get("task") or []
    return [str(item) for item in items]


def hydra_overrides(hydra_cfg: dict[str, Any]) -> list[str]:
    """Command-line overrides of Hydra itself (`hydra/launcher=joblib`), without the
    `hydra.mode=MULTIRUN` that --multirun adds."""
    items = (hydra_cfg.get("overrides") or {}).get("hydra") or []
    return [str(item) for item in items if str(item) != "hydra.mode=MULTIRUN"]


@dataclass
class SweepPlan:
    """What a sweep will run: its size and the parameters it varies (None: not known)."""

    size: Optional[int]
    swept: list[str]
    jobs: Optional[list[list[str]]] = None  # each job's overrides, where the sweeper lists them up front


def sweep_plan(hydra_cfg: dict[str, Any]) -> SweepPlan:
    """Size and swept keys from the sweeper's config and the sweep's task overrides.

    The basic sweeper runs the product of every sweep override, with `hydra.sweeper.params`
    (an experiment's search space) overridden by the command line key by key; Hydra's own
    parser and BasicSweeper.split_arguments do exactly that here. Optuna runs n_trials.
    """
    sweeper = hydra_cfg.get("sweeper") or {}
    params = sweeper.get("params") or {}
    if isinstance(sweeper.get("n_trials"), int):  # Optuna: its params are a search space
        return SweepPlan(sweeper["n_trials"], [str(k).lstrip("+") for k in params])
    arguments = [f"{k}={v}" for k, v in params.items()] + task_overrides(hydra_cfg)
    try:
        overrides = parse_sweep(arguments)
        jobs = basic_sweep_jobs(overrides)
    except Exception as exc:  # glob sweeps need a config loader; an odd sweeper; a parse error
        log.debug("Cannot size the sweep from %s: %s", arguments, exc)
        return SweepPlan(None, [])
    last = {o.get_key_element(): o for o in overrides}  # a later override of a key wins
    swept = [key.lstrip("+") for key, o in last.items() if o.is_sweep_override()]
    return SweepPlan(len(jobs), swept, jobs)


def parse_sweep(arguments: list[str], config_loader: Any = None) -> list[Any]:
    """Hydra's own parse of a sweep's overrides (a config loader expands glob sweeps)."""
    # Imported here: only the progress line, the summary's header and the guard need the parser.
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create(config_loader=config_loader).parse_overrides(arguments)


def basic_sweep_jobs(overrides: list[Any]) -> list[list[str]]:
    """Every job's overrides in job order, as the basic sweeper launches them (one list
    however it splits them into batches)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def job_plan(hydra: DictConfig) -> SweepPlan:
    """The plan of the sweep a job belongs to, from inside the job (its `hydra` node).

    multirun.yaml holds the sweep's own overrides; without it (Optuna) the job's config
    still has the sweeper's n_trials and search space.
    """
    sweep_cfg = read_sweep_config(Path(str(hydra.sweep.dir))) or {
        "sweeper": OmegaConf.to_container(hydra.sweeper, resolve=False)}
    return sweep_plan(sweep_cfg)


def swept_only(overrides: list[str], plan: SweepPlan) -> list[str]:
    """What tells a job apart from the others of its sweep: its overrides of the swept keys
    (all of them when the plan names none)."""
    return [o for o in overrides if override_key(o) in plan.swept] or overrides


def read_val_curve(job_dir: Path) -> tuple[list[float], list[float]]:
    """(epochs, val_acc) from metrics.csv; empty when absent, skipping unparsable rows."""
    rows = [row for row in rundir.read_history(job_dir) if "epoch" in row and "val_acc" in row]
    return [row["epoch"] for row in rows], [row["val_acc"] for row in rows]
