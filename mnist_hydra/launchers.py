"""What the project adds to Hydra's launchers: submitit launchers (SLURM and local) whose
sweep survives a job killed without warning, and joblib workers started early.

hydra-submitit-launcher collects the jobs' results with `job.results()`, which raises for a
job that ended without one: `scancel`, out of memory, a node failure, a crash before the
task started (submitit's UncompletedJobError / FailedJobError). The first such job aborts
the whole launch: the sweep summary is never written, the other jobs' results are dropped.

RecordingLaunch makes a submitit launcher record such a job instead: its folder gets a metrics.json with status `failed` and the reason
(unless the job itself recorded a result before it died), the sweeper gets the value the
task returns for any failed run (0.0), and the sweep goes on. The sweep-summary callback
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
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence, cast

from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from mnist_hydra.process import usable_cores

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

    def job_folder(self, overrides: Sequence[str], job_num: int) -> tuple[Path, DictConfig] | None:
        """The folder Hydra gives this job (hydra.sweep.dir / hydra.sweep.subdir) and its config."""
        try:
            job_cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(job_cfg.hydra.job):
                job_cfg.hydra.job.num = job_num
            return Path(str(self.config.hydra.sweep.dir)) / str(job_cfg.hydra.sweep.subdir), job_cfg
        except Exception:  # an odd subdir (interpolating the job id, say): log only
            log.debug("No folder for job %d", job_num, exc_info=True)
            return None

    def lost_job(self, job: Any, overrides: Sequence[str], job_num: int, err: Exception) -> JobReturn:
        """Record a job that ended without a result; returns what the sweeper gets for it."""
        from mnist_hydra.config import target_epochs, training_overrides
        from mnist_hydra.outputs import write_metrics
        from mnist_hydra.rundir import FAILED, reached, recorded_result

        try:
            state = job.state
        except Exception:  # sacct unreachable
            state = "unknown state"
        reason = (f"{type(err).__name__}: job {job.job_id} ended without a result ({state}): killed, "
                  f"cancelled, out of memory or its node failed; its log is in {job.paths.folder}")
        folder = self.job_folder(overrides, job_num)
        job_dir, value = None, 0.0  # 0.0: what the task returns for a failed run; Optuna records the trial
        if folder is not None:
            job_dir, job_cfg = folder
            previous = recorded_result(job_dir)
            # A result that stands for what this job was asked (not a halving study's earlier rung).
            if previous and reached(previous, target_epochs(job_cfg)):  # it finished, then died on the way out
                value = float(previous.get("best_val_acc") or 0.0)
            else:
                job_dir.mkdir(parents=True, exist_ok=True)  # so the summary lists it even if it never started
                write_metrics(job_dir, {"status": FAILED, "error": reason,
                                        "overrides": training_overrides(str(o) for o in job_cfg.hydra.overrides.task)})
        log.error("job %d (%s): %s", job_num, " ".join(overrides), reason)
        return JobReturn(overrides=list(overrides), working_dir=str(job_dir) if job_dir else None,
                         status=JobStatus.COMPLETED, _return_value=value)


def joblib_workers(hydra_cfg: DictConfig) -> int:
    """joblib's n_jobs as a number of worker processes; 1 when jobs run in the main process
    (joblib with n_jobs=1, or another launcher)."""
    if hydra_cfg.mode != RunMode.MULTIRUN or "n_jobs" not in hydra_cfg.launcher:
        return 1
    n_jobs = int(hydra_cfg.launcher.n_jobs)
    # joblib's convention: -1 is every core, -2 all but one, ...
    return max(1, n_jobs if n_jobs > 0 else usable_cores() + 1 + n_jobs)


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
    workers = joblib_workers(hydra_cfg) if "joblib" in str(hydra_cfg.launcher.get("_target_", "")) else 1
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
