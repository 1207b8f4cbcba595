"""Multirun on the shipped sample: launchers, failure isolation, kill-and-resume."""

import pytest
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

from conftest import TINY, compose_config, kill_local_job, run_cli, summary_rows, sweep_killing_job_1, sweep_metrics
from hydra.types import RunMode
from omegaconf import OmegaConf

from mnist_hydra import threads
from mnist_hydra.threads import usable_cores

pytestmark = pytest.mark.slow
GRID = ["lr=0.001,0.01", "batch_size=16,32"]


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("basic")
    proc = run_cli(["--multirun", *GRID, *TINY, f"hydra.sweep.dir={workdir / 'sweep'}"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    return workdir / "sweep", proc


def test_basic_multirun_gives_each_combination_a_full_run_folder_and_a_summary(basic_sweep):
    sweep, proc = basic_sweep
    metrics = sweep_metrics(sweep)
    assert sorted(metrics) == [0, 1, 2, 3]
    assert {tuple(o for o in m["overrides"] if o.startswith(("lr=", "batch_size="))) for m in metrics.values()} == {
        ("lr=0.001", "batch_size=16"), ("lr=0.001", "batch_size=32"),
        ("lr=0.01", "batch_size=16"), ("lr=0.01", "batch_size=32")}
    for job in range(4):
        files = {p.name for p in (sweep / str(job)).iterdir()}
        assert {"metrics.json", "metrics.csv", "best.pt", "mnist_hydra.log", ".hydra"} <= files
    # TensorBoard names each run by its swept overrides, after the job number.
    swept = {job: ",".join(sorted(o for o in m["overrides"] if o.startswith(("lr=", "batch_size="))))
             for job, m in metrics.items()}
    multiplexer = EventMultiplexer().AddRunsFromDirectory(str(sweep))
    assert sorted(multiplexer.Runs()) == sorted(f"{job}/{name}" for job, name in swept.items())
    rows = summary_rows(sweep)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    assert float(rows[0]["best_val_acc"]) == max(m["best_val_acc"] for m in metrics.values())
    assert (sweep / "summary.md").exists() and (sweep / "summary.png").exists()
    assert "best_val_acc" in proc.stdout  # the table is printed at the end of the sweep


@pytest.mark.all_cores
def test_joblib_runs_in_parallel_with_split_threads_and_gives_the_same_metrics(basic_sweep, tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(["--multirun", *GRID, *TINY, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                    f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    basic, joblib = sweep_metrics(basic_sweep[0]), sweep_metrics(sweep)
    assert sorted(joblib) == [0, 1, 2, 3]
    for job in range(4):
        assert joblib[job]["threads"] == max(1, usable_cores() // 2)
        # Fewer torch threads change float summation order: equal up to rounding.
        assert joblib[job]["best_val_acc"] == pytest.approx(basic[job]["best_val_acc"], abs=1.01)
        assert joblib[job]["final_train_loss"] == pytest.approx(basic[job]["final_train_loss"], rel=1e-3)
    assert len(summary_rows(sweep)) == 4


@pytest.mark.all_cores
def test_a_one_job_joblib_sweep_gets_every_core(tmp_path):
    """joblib's default n_jobs=-1 means a worker per core, but with one job to run that job
    has the machine to itself."""
    sweep = tmp_path / "sweep"
    proc = run_cli(["--multirun", *TINY, "seed=1", "hydra/launcher=joblib", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sweep_metrics(sweep)[0]["threads"] == usable_cores()


@pytest.mark.parametrize("launcher, sweeper, job, expected", [
    ({"n_jobs": -1}, {"params": {"lr": "1,2,3,4"}}, 0, 4),  # 4 jobs, 16 workers: 4 threads each
    ({"n_jobs": 2}, {"params": {"lr": "1"}}, 0, 1),
    ({"n_jobs": -1}, {"max_batch_size": 3, "params": {"lr": "1,2,3,4,5"}}, 4, 2),  # the last batch: jobs 3, 4
    ({"n_jobs": 8}, {"n_trials": 5, "n_jobs": 2, "params": {}}, 1, 2),  # Optuna: 2 trials at a time
    ({"n_jobs": 8}, {"n_trials": 5, "n_jobs": 2, "params": {}}, 4, 1),
    ({}, {"params": {"lr": "1,2"}}, 0, 1),  # the basic launcher: one job at a time
])
def test_parallel_jobs_are_the_jobs_that_run_at_once(tmp_path, monkeypatch, launcher, sweeper, job, expected):
    """On 16 cores; the sweep's size from the sweeper (no multirun.yaml in the folder)."""
    monkeypatch.setattr(threads, "usable_cores", lambda: 16)
    hydra_cfg = OmegaConf.create({"mode": RunMode.MULTIRUN, "launcher": launcher, "sweeper": sweeper,
                                  "job": {"num": job}, "sweep": {"dir": str(tmp_path)}})
    assert threads.parallel_jobs(hydra_cfg, threads.joblib_workers(hydra_cfg)) == expected


def test_resume_into_a_sweep_folder_of_another_grid_is_refused_before_any_job_starts(tmp_path):
    """Job 0 of the folder holds lr=0.01's finished run; the new grid's job 0 is lr=0.02.
    It was logged, skipped, summarized with the old run and exit 0: lr=0.02 never ran."""
    sweep = tmp_path / "sweep"
    first = run_cli(["--multirun", *TINY, "lr=0.01", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    before = {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()}

    proc = run_cli(["--multirun", *TINY, "lr=0.02,0.001", "resume=true", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"mnist-hydra: error: {sweep} holds finished runs of other configs where this sweep's jobs go: job(s) 0 "
        f"({' '.join([*TINY, 'lr=0.01'])}); resume=true continues the same sweep only: choose another "
        "hydra.sweep.dir")
    assert "Launching" not in proc.stdout + proc.stderr
    assert {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_a_failing_job_is_recorded_the_rest_still_run_and_the_sweep_exits_non_zero(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    losses = "torch.nn.CrossEntropyLoss,torch.nn.NoSuchLoss,torch.nn.CrossEntropyLoss"  # job 1 fails as it starts
    proc = run_cli(["--multirun", f"criterion._target_={losses}", *TINY[:1], "data.train_size=200",
                    "data.val_size=100", "epochs=1",
                    f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 1
    metrics = sweep_metrics(sweep)
    assert [metrics[j]["status"] for j in range(3)] == ["completed", "failed", "completed"]
    assert "NoSuchLoss" in metrics[1]["error"]
    rows = {r["job"]: r for r in summary_rows(sweep)}
    assert rows["1"]["status"] == "failed" and "NoSuchLoss" in rows["1"]["error"]


def test_a_local_submitit_job_killed_without_warning_is_recorded_and_the_sweep_still_summarizes(tmp_path):
    """`+launcher=local` (submitit's local executor): SIGKILL of one job's process, as the
    out-of-memory killer does; the sweep ends with its summary, the job failed, exit 1."""
    sweep = tmp_path / "sweep"
    status, out = sweep_killing_job_1([*TINY, "+launcher=local", f"hydra.sweep.dir={sweep}"], tmp_path,
                                      kill_local_job)
    assert status == 1, out[-3000:]
    metrics = sweep_metrics(sweep)
    assert metrics[0]["status"] == "completed"
    assert metrics[1]["status"] == "failed" and "ended without a result" in metrics[1]["error"]
    assert {r["job"]: r["status"] for r in summary_rows(sweep)} == {"0": "completed", "1": "failed"}


@pytest.mark.parametrize("overrides, launcher, sweeper", [
    ([], "basic", "grid"),
    (["hydra/launcher=joblib", "hydra/sweeper=halving"], "joblib", "halving"),
    (["+launcher=slurm", "+hparams_search=optuna"], "slurm", "search"),
    (["+launcher=local"], "local", "grid"),
])
def test_which_launcher_and_sweeper_run_a_sweep_is_read_from_its_config(overrides, launcher, sweeper):
    from mnist_hydra import sweepers

    hydra = compose_config(overrides, return_hydra_config=True).hydra
    assert (sweepers.launcher_kind(hydra.launcher), sweepers.sweeper_kind(hydra.sweeper)) == (launcher, sweeper)
