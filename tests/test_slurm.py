"""Sweeps on a real (single-node) SLURM cluster through hydra-submitit-launcher.

Needs a running cluster: `scripts/slurm_cluster.sh start` (as root; .ci/run does it).
Every test here skips, with the reason, where there is none.
"""
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest
import yaml

from conftest import TINY, csv_rows, run_cli, summary_rows, sweep_killing_job_1, sweep_metrics, tensorboard_run

pytestmark = pytest.mark.slow
GRID = ["lr=0.001,0.01", "batch_size=16,32"]
CPUS = 1  # below the node's CPUs (>= 2 in CI), so threads from SLURM_CPUS_PER_TASK show
# Small allocations, so the jobs of a sweep fit the test node side by side.
SLURM = ["+launcher=slurm", f"hydra.launcher.cpus_per_task={CPUS}", "hydra.launcher.mem_gb=1",
         "hydra.launcher.timeout_min=10"]


def cluster_problem() -> Optional[str]:
    """Why sweeps cannot be submitted here, or None when a node is ready."""
    try:
        import hydra_plugins.hydra_submitit_launcher  # noqa: F401
    except ImportError:
        return "hydra-submitit-launcher not installed: pip install -e '.[cluster]'"
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM client (sinfo/sbatch) on PATH: start a test cluster with `sudo scripts/slurm_cluster.sh start`"
    try:
        proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%t %c"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo did not answer: {exc}"
    if proc.returncode != 0:
        return f"sinfo failed (is slurmctld running? scripts/slurm_cluster.sh start): {proc.stderr.strip()}"
    nodes = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    ready = [int(cpus) for state, cpus in nodes if state.rstrip("*~#") in ("idle", "mix")]
    if not ready:
        return f"no idle SLURM node (sinfo: {proc.stdout.strip() or 'no nodes'})"
    if max(ready) < 2:
        return "the SLURM node has 1 CPU: cannot tell cpus_per_task from the node's cores"
    # submitit learns that a cancelled job ended only from sacct (accounting).
    accounting = subprocess.run(["sacct", "-X", "-n", "-o", "JobID"], capture_output=True, text=True, timeout=30)
    if accounting.returncode != 0:
        return f"no SLURM accounting (sacct: {accounting.stderr.strip()[-200:]}); scripts/slurm_cluster.sh start"
    return None


@pytest.fixture(scope="module")
def slurm():
    problem = cluster_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="module")
def slurm_sweep(slurm, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm")
    sweep = workdir / "sweep"
    args = ["--multirun", *GRID, *TINY, *SLURM, f"hydra.sweep.dir={sweep}"]
    proc = run_cli(args, cwd=workdir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir, sweep, args, proc


def test_a_slurm_sweep_writes_the_same_run_folders_with_the_allocated_threads_and_a_summary(slurm_sweep):
    _, sweep, _, proc = slurm_sweep
    metrics = sweep_metrics(sweep)
    assert sorted(metrics) == [0, 1, 2, 3]
    assert {tuple(m["overrides"][:2]) for m in metrics.values()} == {
        ("lr=0.001", "batch_size=16"), ("lr=0.001", "batch_size=32"),
        ("lr=0.01", "batch_size=16"), ("lr=0.01", "batch_size=32")}
    for job, m in metrics.items():
        assert m["status"] == "completed"
        assert m["threads"] == CPUS  # from SLURM_CPUS_PER_TASK: torch alone sees every core
        files = {p.name for p in (sweep / str(job)).iterdir()}
        assert {"metrics.json", "metrics.csv", "best.pt", "mnist_hydra.log", ".hydra"} <= files
        swept = sorted(o for o in m["overrides"] if o.startswith(("lr=", "batch_size=")))
        assert tensorboard_run(sweep / str(job)) == sweep / str(job) / ",".join(swept)
        # It really ran as a SLURM array task: Hydra's job id is SLURM's <array id>_<index>.
        hydra_yaml = (sweep / str(job) / ".hydra" / "hydra.yaml").read_text()
        assert re.search(r"\n    id: '?\d+_\d+'?\n", hydra_yaml), "no SLURM job id in .hydra/hydra.yaml"
    assert list((sweep / ".submitit").glob("*/*_log.out")), "no submitit job logs"
    rows = summary_rows(sweep)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"completed"}
    assert float(rows[0]["best_val_acc"]) == max(m["best_val_acc"] for m in metrics.values())
    assert (sweep / "summary.md").exists() and (sweep / "pivot.csv").exists()
    assert "best_val_acc" in proc.stdout  # printed by the submitting process at the end


def test_resume_on_a_slurm_sweep_retrains_nothing(slurm_sweep):
    workdir, sweep, args, _ = slurm_sweep
    before = sweep_metrics(sweep)
    stamps = {job: (sweep / str(job) / "metrics.json").stat().st_mtime_ns for job in before}
    proc = run_cli([*args, "resume=true"], cwd=workdir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for job, stamp in stamps.items():
        assert (sweep / str(job) / "metrics.json").stat().st_mtime_ns == stamp, f"job {job} was retrained"
        assert "resume:" in (sweep / str(job) / "mnist_hydra.log").read_text()
    assert sweep_metrics(sweep) == before
    assert len(summary_rows(sweep)) == 4


def test_a_failing_slurm_job_is_recorded_and_the_sweep_exits_non_zero(slurm, tmp_path):
    sweep = tmp_path / "sweep"
    losses = "torch.nn.CrossEntropyLoss,torch.nn.NoSuchLoss"  # job 1 fails as it starts
    proc = run_cli(["--multirun", f"criterion._target_={losses}", *TINY[:1], "data.train_size=200",
                    "data.val_size=100", "epochs=1",
                    "hydra/launcher=submitit_slurm", f"hydra.launcher.cpus_per_task={CPUS}",
                    "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10",
                    f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = sweep_metrics(sweep)
    assert [metrics[j]["status"] for j in range(2)] == ["completed", "failed"]
    assert "NoSuchLoss" in metrics[1]["error"]
    rows = {r["job"]: r for r in summary_rows(sweep)}
    assert rows["1"]["status"] == "failed" and "NoSuchLoss" in rows["1"]["error"]


def test_a_job_reaching_its_time_limit_is_recorded_as_failed(slurm, tmp_path):
    """submitit's USR2 warning (signal_delay_s before the limit) interrupts the training;
    the task records it like any failure, so the sweep still ends with its summary."""
    sweep = tmp_path / "sweep"
    # A 2 minute limit, the warning 30 s before it. SLURM may send the warning up to 60 s
    # early (sbatch --signal), so it comes 30-90 s into the job: always while it trains
    # (500 epochs: far longer), never during its start-up. The job runs at the lowest CPU
    # priority (renice in its batch script): it only has to be busy when the limit comes, and
    # the other tests running beside it (make test's workers) keep the cores.
    proc = run_cli(["--multirun", "epochs=500", *TINY[:3], *SLURM[:3], "hydra.launcher.timeout_min=2",
                    "hydra.launcher.signal_delay_s=30", "hydra.launcher.setup=['renice -n 19 -p $$']",
                    f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = sweep_metrics(sweep)
    assert metrics[0]["status"] == "failed", metrics
    assert "UncompletedJobError" in metrics[0]["error"] and "timed-out" in metrics[0]["error"]
    rows = summary_rows(sweep)
    assert [(r["job"], r["status"]) for r in rows] == [("0", "failed")]


def test_a_job_killed_by_scancel_is_recorded_the_summary_is_written_and_resume_reruns_only_it(slurm, tmp_path):
    """Issue 11 item 2: `scancel` of a running job leaves no result. The sweep must still end
    with its summary, list the job as failed and exit 1; resume=true reruns only that job."""
    sweep = tmp_path / "sweep"
    ids = []

    def scancel(job_dir: Path) -> None:
        slurm_id = str(yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["id"])
        assert re.fullmatch(r"\d+_1", slurm_id), slurm_id
        subprocess.run(["scancel", slurm_id], check=True, timeout=30)
        ids.append(slurm_id)

    # Job 0 finishes in a few seconds; job 1 (30 epochs) is still training when it is cancelled.
    sweep_args = [*TINY[:3], *SLURM, f"hydra.sweep.dir={sweep}"]
    status, out = sweep_killing_job_1(sweep_args, tmp_path, scancel)
    (slurm_id,) = ids
    job1 = sweep / "1"
    assert status == 1, out[-3000:]
    metrics = sweep_metrics(sweep)
    assert metrics[0]["status"] == "completed"
    assert metrics[1]["status"] == "failed", metrics[1]
    assert slurm_id in metrics[1]["error"] and "CANCELLED" in metrics[1]["error"], metrics[1]["error"]
    assert len(csv_rows(job1 / "metrics.csv")) < 30, "job 1 finished before it was cancelled"
    rows = {r["job"]: r for r in summary_rows(sweep)}
    assert rows["0"]["status"] == "completed" and rows["1"]["status"] == "failed"
    assert (sweep / "summary.md").exists()
    assert "best_val_acc" in out  # the table was printed

    stamp = (sweep / "0" / "metrics.json").stat().st_mtime_ns
    resumed = run_cli(["--multirun", "epochs=1,30", *sweep_args, "resume=true"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert (sweep / "0" / "metrics.json").stat().st_mtime_ns == stamp, "job 0 was retrained"
    final = sweep_metrics(sweep)
    assert final[1]["status"] == "completed" and final[1]["epochs_run"] == 30
    assert [int(r["epoch"]) for r in csv_rows(job1 / "metrics.csv")] == list(range(1, 31))
    assert {r["job"]: r["status"] for r in summary_rows(sweep)} == {"0": "completed", "1": "completed"}


def test_a_halving_study_on_slurm_continues_its_survivors_in_their_own_folders(slurm, tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli(["--multirun", "hydra/sweeper=halving", "hydra.sweeper.eta=2", *GRID, *TINY, "epochs=2", *SLURM,
                    f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    state = yaml.safe_load((sweep / "halving.json").read_text())  # JSON is YAML
    assert [(rung["epochs"], len(rung["jobs"])) for rung in state["rungs"]] == [(1, 4), (2, 2)]
    metrics = sweep_metrics(sweep)
    for job in state["rungs"][1]["jobs"]:  # one history per survivor, both rungs in its own folder
        assert metrics[job]["status"] == "completed" and metrics[job]["threads"] == CPUS
        assert [row["epoch"] for row in csv_rows(sweep / str(job) / "metrics.csv")] == ["1", "2"]
    assert sorted(m["status"] for m in metrics.values()) == ["completed", "completed", "stopped", "stopped"]


def test_a_search_on_slurm_runs_its_waves_as_arrays_and_continues_survivors(slurm, tmp_path):
    sweep = tmp_path / "sweep"
    fixed = [o for o in TINY if not o.startswith(("batch_size=", "optimizer=", "epochs="))]
    proc = run_cli(["--multirun", "+hparams_search=optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.eta=2",
                    "hydra.sweeper.n_jobs=2", *fixed, "epochs=2", *SLURM, f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    state = yaml.safe_load((sweep / "search.json").read_text())
    metrics = sweep_metrics(sweep)
    assert sorted(metrics) == [0, 1, 2, 3] and {m["threads"] for m in metrics.values()} == {CPUS}
    for bracket in state["brackets"]:
        for job in bracket["rungs"][-1]["jobs"]:  # a survivor's rungs are one history in its own folder
            assert metrics[job]["status"] == "completed"
            assert [row["epoch"] for row in csv_rows(sweep / str(job) / "metrics.csv")] == ["1", "2"]
