"""The per-job progress line and the sweep size, on hand-written sweep folders."""
import os
import subprocess
import sys
import time
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from conftest import write_job, write_multirun_yaml
from mnist_hydra.sweep.callback import JobProgressCallback, finished_rank, format_duration, progress_line
from mnist_hydra.sweep.read import job_dirs, sweep_plan


def job_config(sweep: Path, job: int, sweeper: dict | None = None) -> DictConfig:
    return OmegaConf.create({"hydra": {
        "mode": RunMode.MULTIRUN, "sweep": {"dir": str(sweep)}, "job": {"num": job},
        "runtime": {"output_dir": str(sweep / str(job))}, "sweeper": sweeper or {}}})


def job_return(overrides: list[str], status: JobStatus = JobStatus.COMPLETED) -> JobReturn:
    ret = JobReturn(overrides=overrides)
    ret.status = status
    return ret


def test_sweep_size_follows_the_basic_sweeper_and_optuna() -> None:
    # An experiment's search space, overridden key by key from the command line.
    plan = sweep_plan({"sweeper": {"params": {"lr": "0.1,0.2", "batch_size": "8,16"}},
                       "overrides": {"task": ["lr=0.5", "epochs=range(1,4)", "+experiment=x"]}})
    assert (plan.size, plan.swept) == (6, ["batch_size", "epochs"])
    plan = sweep_plan({"sweeper": {"params": {"seed": "42,42,42,null,null,null"}}})
    assert (plan.size, plan.swept) == (6, ["seed"])
    plan = sweep_plan({"sweeper": {"n_trials": 20, "params": {"lr": "tag(log, interval(0.0001, 0.1))"}}})
    assert (plan.size, plan.swept) == (20, ["lr"])


def test_progress_line_counts_finished_jobs_and_estimates_the_rest(tmp_path: Path) -> None:
    write_multirun_yaml(tmp_path, ["epochs=2", "lr=0.1,0.2", "batch_size=8,16"])
    start = time.time() - 40
    os.utime(tmp_path / "multirun.yaml", (start, start))  # the sweep started 40 s ago
    write_job(tmp_path, 0, ["epochs=2", "lr=0.1", "batch_size=8"], {"best_val_acc": 91.0})
    write_job(tmp_path, 1, ["epochs=2", "lr=0.1", "batch_size=16"], {"status": "failed", "error": "Boom\n  bad"})
    write_job(tmp_path, 2, ["epochs=2", "lr=0.2", "batch_size=8"], None)  # still running
    os.utime(tmp_path / "0" / "metrics.json", (start + 10, start + 10))  # job 0 finished first

    line = progress_line(job_config(tmp_path, 1), job_return(["epochs=2", "lr=0.1", "batch_size=16"]), 20.0)

    # 2 of 4 done in 40 s: 40 s to go.
    assert line == "[2/4] job 1  lr=0.1 batch_size=16  failed: Boom bad  20s  ETA 40s"
    assert finished_rank(job_dirs(tmp_path), tmp_path / "0") == 1
    assert finished_rank(job_dirs(tmp_path), tmp_path / "2") == 3  # no metrics.json: after the others


def test_callback_prints_one_line_in_a_multirun_only(tmp_path: Path, capsys) -> None:
    write_job(tmp_path, 0, ["lr=0.1"], {"best_val_acc": 97.25})
    callback = JobProgressCallback()
    sweeper = {"n_trials": 3}  # no multirun.yaml (Optuna): the size comes from the job's config

    callback.on_job_start(config=job_config(tmp_path, 0, sweeper), task_function=print)
    callback.on_job_end(config=job_config(tmp_path, 0, sweeper), job_return=job_return(["lr=0.1"]))
    single = job_config(tmp_path, 0, sweeper)
    single.hydra.mode = RunMode.RUN
    callback.on_job_end(config=single, job_return=job_return(["lr=0.1"]))

    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("[1/3] job 0  lr=0.1  completed 97.25% val  0s  ETA ")


class Writes:
    """A stream that keeps each write apart, as an unbuffered pipe shared by processes does."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_a_progress_line_is_one_write(tmp_path: Path, monkeypatch) -> None:
    """Parallel jobs share stdout: a line written in two parts ran into another job's line
    (PYTHONUNBUFFERED, joblib)."""
    write_job(tmp_path, 0, ["lr=0.1"], {"best_val_acc": 97.25})
    stdout = Writes()
    monkeypatch.setattr(sys, "stdout", stdout)
    callback = JobProgressCallback()
    callback.on_job_start(config=job_config(tmp_path, 0, {"n_trials": 3}), task_function=print)
    callback.on_job_end(config=job_config(tmp_path, 0, {"n_trials": 3}), job_return=job_return(["lr=0.1"]))

    assert len(stdout.writes) == 1 and stdout.writes[0].startswith("[1/3] job 0  lr=0.1  completed 97.25% val")
    assert stdout.writes[0].endswith("\n") and stdout.writes[0].count("\n") == 1


def test_format_duration() -> None:
    assert [format_duration(s) for s in (4.4, 65, 7325)] == ["4s", "1m05s", "2h02m"]


def test_callback_module_is_light_to_import() -> None:
    """Hydra imports it in every job process: no matplotlib, numpy or torch."""
    code = ("import sys, mnist_hydra.sweep.callback; "
            "print(sorted(m for m in ('matplotlib', 'numpy', 'torch') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).parents[1], timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
