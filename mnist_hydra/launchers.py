"""What the project adds to Hydra's launchers: every launcher's sweep survives a job that
cannot start or record its end, submitit launchers (SLURM and local) survive a job killed
without warning, and joblib workers start early.

Hydra's launchers run each job through `hydra.core.utils.run_job`, which creates the job's
folder and writes .hydra/ and the job log before the task function starts. When the outside
world refuses (a file where the folder goes, a read-only folder, a full disk) it raises, or
the task raises because it cannot write its metrics.json, and the sweep dies: the basic
sweeper re-raises the job's error, joblib aborts every job, submitit's results() raises.
`guard_launchers` (called where the task function is defined, so in every process that runs
jobs) puts `run_job` below in their place: such a job is recorded as failed where anything
can still be written (record_failure) and returns as a failed run does; the other jobs and
the sweep summary go on, and the summary names the job and the resume command.

hydra-submitit-launcher collects the jobs' results with `job.results()`, which raises for a
job that ended without one: `scancel`, out of memory, a node failure, a crash before the
task started (submitit's UncompletedJobError / FailedJobError). The first such job aborts
the whole launch: the sweep summary is never written, the other jobs' results are dropped.

RecordingLaunch makes a submitit launcher record such a job instead: its folder gets a
metrics.json with status `failed` and the reason (unless the job itself recorded a result
before it died), the sweeper gets the value the task returns for any failed run (0.0), and
the sweep goes on. The sweep-summary callback
then lists the job as failed and ends the process with status 1; `resume=true` with the
same hydra.sweep.dir reruns just that job.

Hydra instantiates only launcher classes defined in the `hydra_plugins` namespace package,
so the launchers themselves (conf/launcher/slurm.yaml and local.yaml select them by
`_target_`) are in hydra_plugins/mnist_hydra_launcher/.

`workers_starting` starts the joblib launcher's worker processes while the main process
checks the grid (it loads torch for the data check meanwhile): each worker imports torch,
torch._dynamo and the training code, ~5 s of CPU, once per sweep rather than at its first job.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence, cast

from hydra.core import utils as hydra_utils
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, RunMode, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from mnist_hydra.process import say
from mnist_hydra.threads import concurrent_jobs

log = logging.getLogger(__name__)


class _RecordingJob:
    """A submitit job whose results() records a lost job instead of raising."""

    def __init__(self, job: Any, launcher: "RecordingLaunch", overrides: Sequence[str], job_num: int) -> None:
        self._job, self._launcher, self._overrides, self._job_num = job, launcher, overrides, job_num

    def results(self) -> list[JobReturn]:
        from submitit.core.utils import UncompletedJobError  # FailedJobError is one too

        try:
            return self._job.results()
        except UncompletedJobError as err:
            return [self._launcher.lost_job(self._job, self._overrides, self._job_num, err)]


class RecordingLaunch:
    """Overrides BaseSubmititLauncher.launch: the plugin's own launch, with the executor's
    jobs wrapped so that collecting a lost job's result records it instead of raising."""

    # Set by the submitit launcher this class is mixed into (hydra_plugins/mnist_hydra_launcher).
    config: DictConfig
    hydra_context: HydraContext

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit

        launcher = self
        plugin_executor = submitit.AutoExecutor

        class Executor(plugin_executor):  # type: ignore[misc, valid-type]
            def map_array(self, fn: Any, *iterables: Any) -> list[Any]:
                # The plugin passes (overrides, job_dir_key, job_num, job_id, singleton_state).
                args = list(zip(*iterables, strict=True))
                jobs = super().map_array(fn, *iterables)
                return [_RecordingJob(job, launcher, a[0], a[2]) for job, a in zip(jobs, args, strict=True)]

        # The plugin builds `submitit.AutoExecutor(...)` inside its launch; swap the class
        # for the duration of the call (the main process launches one batch at a time).
        submitit.AutoExecutor = Executor  # type: ignore[misc]  # mypy forbids assigning to a class
        try:
            return super().launch(job_overrides, initial_job_idx)  # type: ignore[misc]
        finally:
            submitit.AutoExecutor = plugin_executor  # type: ignore[misc]

    def job_config(self, overrides: Sequence[str], job_num: int) -> DictConfig | None:
        """The config Hydra composes for this job, as the job process does."""
        try:
            job_cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(job_cfg.hydra.job):
                job_cfg.hydra.job.num = job_num
            return job_cfg
        except Exception:  # an odd config the main process cannot compose: log only
            log.debug("No config for job %d", job_num, exc_info=True)
            return None

    def lost_job(self, job: Any, overrides: Sequence[str], job_num: int, err: Exception) -> JobReturn:
        """Record a job that ended without a result; returns what the sweeper gets for it."""
        try:
            state = job.state
        except Exception:  # sacct unreachable
            state = "unknown state"
        reason = (f"{type(err).__name__}: job {job.job_id} ended without a result ({state}): killed, "
                  f"cancelled, out of memory or its node failed; its log is in {job.paths.folder}")
        log.error("job %d (%s): %s", job_num, " ".join(overrides), reason)
        job_cfg = self.job_config(overrides, job_num)
        if job_cfg is None:
            return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=0.0)
        return record_failure(job_cfg, reason)


def job_folder(job_cfg: DictConfig) -> Path:
    """The folder Hydra gives a sweep's job (hydra.sweep.dir / hydra.sweep.subdir) from its config."""
    return Path(str(job_cfg.hydra.sweep.dir)) / str(job_cfg.hydra.sweep.subdir)


def record_failure(job_cfg: DictConfig, reason: str) -> JobReturn:
    """Record a sweep's job that ended without recording its result: a metrics.json with
    status failed and `reason` in its folder, so that the summary lists it and resume=true
    reruns it, unless the folder holds a result that stands for what the job was asked (it
    finished, then died on the way out; not a halving study's earlier rung). Returns what
    the sweeper gets: that result's value, else 0.0, what the task returns for a failed run
    (Optuna records the trial)."""
    from mnist_hydra.config import target_epochs, training_overrides
    from mnist_hydra.rundir.writer import write_metrics
    from mnist_hydra.rundir import FAILED, reached, recorded_result

    job_dir, value = job_folder(job_cfg), 0.0
    previous = recorded_result(job_dir)
    if previous and reached(previous, target_epochs(job_cfg)):
        value = float(previous.get("best_val_acc") or 0.0)
    else:
        # A folder that cannot be written gets nothing: the sweep summary names the job and why.
        with contextlib.suppress(OSError):
            job_dir.mkdir(parents=True, exist_ok=True)  # so the summary lists it even if it never started
            write_metrics(job_dir, {"status": FAILED, "error": reason,
                                    "overrides": training_overrides(str(o) for o in job_cfg.hydra.overrides.task)})
    return JobReturn(overrides=[str(o) for o in job_cfg.hydra.overrides.task], working_dir=str(job_dir),
                     status=JobStatus.COMPLETED, _return_value=value)


def outside_cause(err: BaseException) -> OSError | None:
    """The OSError that `err` is or was raised from, if any: the outside world's refusal
    (logging reports a log file it cannot open as a ValueError raised from one). Only
    explicit causes: an error raised while handling an OSError may well be a bug."""
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__
    return cause


def describe(err: BaseException) -> str:
    """`OSError: [Errno 28] No space left on device`: the outside cause where there is one."""
    shown = outside_cause(err) or err
    return f"{type(shown).__name__}: {shown}"


_hydra_run_job = hydra_utils.run_job


def run_job(task_function: TaskFunction, config: DictConfig, job_dir_key: str, job_subdir_key: str | None,
            hydra_context: HydraContext, configure_logging: bool = True) -> JobReturn:
    """Hydra's run_job, except that a sweep's job that cannot start (its folder, .hydra/ or log
    cannot be written) or whose task raised (it could not record its own failure) is
    recorded as failed and returns as a failed run does, so that the sweep goes on."""
    try:
        ret = _hydra_run_job(task_function=task_function, config=config, job_dir_key=job_dir_key,
                             job_subdir_key=job_subdir_key, hydra_context=hydra_context,
                             configure_logging=configure_logging)
    except Exception as err:
        if config.hydra.mode != RunMode.MULTIRUN:
            raise
        what, failure = "could not start", err
    else:
        if config.hydra.mode != RunMode.MULTIRUN or ret.status != JobStatus.FAILED:
            return ret
        what, failure = "failed", ret._return_value
    from mnist_hydra.guards import PROG

    if outside_cause(failure) is None:  # not the outside world's doing: a bug shows its traceback
        traceback.print_exception(failure, file=sys.stderr)
    reason = describe(failure)
    say(f"{PROG}: job {config.hydra.job.num} {what}: {reason}", sys.stderr)
    return record_failure(config, reason)


_LAUNCHER_MODULES = ("hydra._internal.core_plugins.basic_launcher", "hydra_plugins.hydra_joblib_launcher._core",
                     "hydra_plugins.hydra_submitit_launcher.submitit_launcher")


def guard_launchers() -> None:
    """Have every launcher run its jobs through `run_job` above. The launchers call the
    run_job they imported from hydra.core.utils: a launcher module imported later (Hydra's
    plugin scan, joblib's at its first launch) gets it from there; one already imported (a
    joblib worker or submitit job unpickles the launcher's module before the task function,
    whose module calls this) is rebound."""
    hydra_utils.run_job = run_job
    for name in _LAUNCHER_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            module.run_job = run_job  # type: ignore[attr-defined]  # mypy cannot know which modules hold it


def joblib_args(launcher_cfg: DictConfig) -> dict[str, Any]:
    """joblib.Parallel's arguments as the joblib launcher passes them (hydra_joblib_launcher._core.launch)."""
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg

    args = {str(key): value for key, value in cast(dict, OmegaConf.to_container(launcher_cfg)).items()
            if key != "_target_"}
    args["backend"] = "loky"
    process_joblib_cfg(args)
    return args


def prepare_worker() -> None:
    """What every job in a worker imports first: the training code with torch, and
    torch._dynamo, which torch's optimizers import at their first use (~2 s)."""
    import torch._dynamo  # noqa: F401
    import mnist_hydra.train  # noqa: F401


@contextlib.contextmanager
def workers_starting(hydra_cfg: DictConfig) -> Iterator[None]:
    """A joblib sweep's worker processes start, and import what its jobs need, while this
    process runs the block (checking the grid, loading torch for the data check); the block's
    end waits until they are ready, and the launcher's first launch finds them (joblib reuses
    its executor for the same arguments). An exception in the block (a refused sweep) stops
    them. Without the joblib launcher, or with one worker, nothing starts."""
    workers = concurrent_jobs(hydra_cfg, cluster=1)  # submitit's jobs are processes of their own: none to start
    if workers == 1:
        yield
        return
    from joblib import Parallel, delayed

    ready = Parallel(**joblib_args(hydra_cfg.launcher), return_as="generator_unordered")(
        delayed(prepare_worker)() for _ in range(workers))
    try:
        yield
    except BaseException:
        with warnings.catch_warnings():  # joblib warns of the cancelled calls: the refusal is the one line
            warnings.simplefilter("ignore")
            ready.close()  # joblib aborts the unfinished calls: it kills the workers
        raise
    try:
        for _ in ready:
            pass
    except Exception:  # noqa: BLE001 - every job would hit it too, and be recorded failed
        log.warning("Preparing the joblib workers failed", exc_info=True)
