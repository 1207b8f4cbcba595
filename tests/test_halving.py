"""hydra/sweeper=halving: the rung schedule, promotion, and real studies on the shipped sample."""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from conftest import (
    TINY, cli_env, csv_rows, epoch_scalars, kill_local_job, run_cli, start, summary_rows, sweep_metrics, wait_for,
    write_job,
)
from mnist_hydra.halving import planned_rungs, promote, rung_epochs, rung_score

HALVING_TARGET = "hydra_plugins.mnist_hydra_sweeper.halving_sweeper.HalvingSweeper"
GRID_TARGET = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
# 4 configurations, eta 2, 3 epochs: rungs of 4 x 1 epoch, 2 x 2, 1 x 3.
STUDY = ["hydra/sweeper=halving", "hydra.sweeper.eta=2", "lr=0.0001,0.001,0.01,0.1", *TINY, "epochs=3",
         "batch_size=32"]


@pytest.mark.parametrize("min_epochs, eta, epochs, expected", [
    (1, 3, 20, [1, 3, 9, 20]),  # study 1: the last rung is capped at `epochs`
    (1, 3, 5, [1, 3, 5]),
    (2, 2, 8, [2, 4, 8]),
    (1, 3, 1, [1]),
    (5, 3, 2, [2]),  # min_epochs above epochs: one rung
])
def test_rungs_multiply_by_eta_up_to_epochs(min_epochs, eta, epochs, expected):
    assert rung_epochs(min_epochs, eta, epochs) == expected


def test_each_rung_keeps_the_best_third_and_a_single_survivor_goes_straight_to_the_end():
    assert planned_rungs(20, 3, [1, 3, 9, 20]) == [(1, 20), (3, 7), (9, 3), (20, 1)]
    assert planned_rungs(10, 3, [1, 3, 5]) == [(1, 10), (3, 4), (5, 2)]
    assert planned_rungs(3, 3, [1, 3, 9, 20]) == [(1, 3), (20, 1)]


def test_promotion_ranks_by_score_and_breaks_ties_by_job_number():
    scores = {0: 50.0, 1: 60.0, 2: 60.0, 3: None, 4: 70.0}
    assert promote(scores, 2, "val_acc") == [1, 4]  # 70, then the first of the two 60s
    assert promote(scores, 3, "val_acc") == [1, 2, 4]
    assert promote(scores, 9, "val_acc") == [0, 1, 2, 4]  # a run without a score never goes on
    assert promote({0: 0.5, 1: 0.2, 2: 0.2}, 1, "val_loss") == [1]  # lower is better


def _write_run(job_dir: Path, status: str, epochs_run: int, val_accs: list[float]) -> None:
    job_dir.mkdir(parents=True)
    (job_dir / "metrics.json").write_text(json.dumps({"status": status, "epochs_run": epochs_run}))
    rows = ["epoch,train_loss,train_acc,val_loss,val_acc,seconds"]
    rows += [f"{i},1.0,50.0,{1 / acc},{acc},0.1" for i, acc in enumerate(val_accs, 1)]
    (job_dir / "metrics.csv").write_text("\n".join(rows) + "\n")


def test_a_rung_scores_the_epochs_up_to_it_and_nothing_without_a_result(tmp_path):
    _write_run(tmp_path / "0", "stopped", 3, [40.0, 70.0, 90.0])
    _write_run(tmp_path / "1", "diverged", 2, [60.0, 65.0])
    _write_run(tmp_path / "2", "failed", 1, [80.0])
    _write_run(tmp_path / "3", "stopped", 1, [30.0])
    assert rung_score(tmp_path / "0", 1, "val_acc") == 40.0  # what it had at that rung, not later
    assert rung_score(tmp_path / "0", 3, "val_acc") == 90.0
    assert rung_score(tmp_path / "0", 3, "val_loss") == pytest.approx(1 / 90)
    assert rung_score(tmp_path / "1", 1, "val_acc") is None  # diverged: drops out
    assert rung_score(tmp_path / "2", 1, "val_acc") is None  # failed
    assert rung_score(tmp_path / "3", 3, "val_acc") is None  # never got to epoch 3
    assert rung_score(tmp_path / "4", 1, "val_acc") is None  # no folder at all


def _history(run_dir: Path) -> list[dict[str, str]]:
    """metrics.csv without the wall-clock column."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in csv_rows(run_dir / "metrics.csv")]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("halving")
    proc = run_cli(["--multirun", *STUDY, "hydra.sweep.dir=sweep"], cwd=workdir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir, proc


@pytest.mark.slow
def test_a_halving_study_runs_its_rungs_and_keeps_every_run(study):
    workdir, proc = study
    sweep = workdir / "sweep"
    state = json.loads((sweep / "halving.json").read_text())
    assert [(r["epochs"], len(r["jobs"])) for r in state["rungs"]] == [(1, 4), (2, 2), (3, 1)]
    (winner,) = state["rungs"][2]["jobs"]
    metrics = sweep_metrics(sweep)
    assert sorted(metrics) == [0, 1, 2, 3]
    for job, m in metrics.items():
        reached = max(r["epochs"] for r in state["rungs"] if job in r["jobs"])
        assert m["epochs_run"] == reached and len(csv_rows(sweep / str(job) / "metrics.csv")) == reached
        assert (sweep / str(job) / "best.pt").exists()
        assert "stop_at_epoch=1" not in m["overrides"] and "resume=true" not in m["overrides"]
        if job == winner:
            assert m["status"] == "completed" and not (sweep / str(job) / "last.pt").exists()
        else:  # stopped runs are results: their history, best.pt, and last.pt to continue from
            assert m["status"] == "stopped" and (sweep / str(job) / "last.pt").exists()
    # The promoted were the best at their rung.
    first = {job: float(csv_rows(sweep / str(job) / "metrics.csv")[0]["val_acc"]) for job in range(4)}
    assert min(first[j] for j in state["rungs"][1]["jobs"]) >= max(
        first[j] for j in range(4) if j not in state["rungs"][1]["jobs"])
    rows = summary_rows(sweep)
    assert rows[0]["job"] == str(winner) and rows[0]["status"] == "completed" and rows[0]["epochs_run"] == "3"
    assert [r["status"] for r in rows[1:]] == ["stopped"] * 3
    assert [r["epochs_run"] for r in rows[1:]] == ["2", "1", "1"]  # ranked by how far they got
    summary = (sweep / "summary.md").read_text()
    assert "| 1 | 1 | 4 |" in summary and "| 3 | 3 | 1 | the last rung |" in summary
    assert all(rung["seconds"] > 0 for rung in state["rungs"])
    # Progress lines count every rung's jobs and name the rung.
    lines = [line for line in proc.stdout.splitlines() if re.match(r"\[\d+/", line)]
    assert [line.split()[0] for line in lines] == [f"[{k}/7]" for k in range(1, 8)]
    assert sum("rung 2/3 (2 epochs)" in line for line in lines) == 2
    assert "2 of 4 go on" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_survivors_history_equals_an_uninterrupted_runs_bit_for_bit(study, tmp_path):
    workdir, _ = study
    sweep = workdir / "sweep"
    (winner,) = json.loads((sweep / "halving.json").read_text())["rungs"][2]["jobs"]
    config = [o for o in sweep_metrics(sweep)[winner]["overrides"] if o.startswith("lr=")]
    proc = run_cli([*TINY, "epochs=3", "batch_size=32", *config, "hydra.run.dir=single"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    survivor, single = sweep / str(winner), tmp_path / "single"
    assert _history(survivor) == _history(single)
    assert epoch_scalars(survivor) == epoch_scalars(single)
    kept = torch.load(survivor / "best.pt", weights_only=True)
    reference = torch.load(single / "best.pt", weights_only=True)
    assert kept["epoch"] == reference["epoch"]
    assert all(torch.equal(kept["model_state"][k], reference["model_state"][k]) for k in reference["model_state"])


@pytest.mark.slow
def test_a_job_failing_at_the_first_rung_drops_out_and_the_study_goes_on(tmp_path):
    (tmp_path / "sweep" / "1" / "metrics.csv").mkdir(parents=True)  # job 1 cannot write its history: it fails
    proc = run_cli(["--multirun", "hydra/sweeper=halving", "hydra.sweeper.eta=2", *TINY, "epochs=2",
                    "lr=0.0001,0.001,0.01,0.1", "hydra.sweep.dir=sweep"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]  # a failed run still makes the sweep exit 1
    metrics = sweep_metrics(tmp_path / "sweep")
    assert metrics[1]["status"] == "failed"
    assert sorted(m["status"] for m in metrics.values()) == ["completed", "completed", "failed", "stopped"]
    state = json.loads((tmp_path / "sweep" / "halving.json").read_text())
    assert [len(r["jobs"]) for r in state["rungs"]] == [4, 2] and 1 not in state["rungs"][0]["promoted"]


@pytest.mark.slow
def test_a_survivor_killed_in_a_later_rung_is_recorded_as_failed_not_left_stopped(tmp_path):
    """`+launcher=local`: SIGKILL of the survivor's process in rung 2 (as the out-of-memory killer
    or a SLURM scancel ends it). Its folder held rung 1's stopped result: that is not this job's."""
    sweep = tmp_path / "sweep"
    proc = start(["--multirun", "hydra/sweeper=halving", "hydra.sweeper.eta=2", "lr=0.001,0.1", *TINY, "epochs=30",
                  "+launcher=local", f"hydra.sweep.dir={sweep}"], tmp_path)
    state = lambda: json.loads((sweep / "halving.json").read_text()) if (sweep / "halving.json").exists() else {}  # noqa: E731
    # Rungs 2 x 1 epoch, then the single survivor straight to 30: kill it once it trained on.
    wait_for(lambda: len(state().get("rungs", [])) == 2 and len(csv_rows(
        sweep / str(state()["rungs"][1]["jobs"][0]) / "metrics.csv")) >= 2, "the second rung training", proc)
    (survivor,) = state()["rungs"][1]["jobs"]
    kill_local_job(sweep / str(survivor))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out[-3000:] + err[-3000:]  # before: 0, the job left as stopped at epoch 1
    metrics = sweep_metrics(sweep)
    assert metrics[survivor]["status"] == "failed" and "ended without a result" in metrics[survivor]["error"]
    recorded = metrics[survivor]["overrides"]  # what was trained: no rung's stop_at_epoch, resume or subdir
    assert ["lr=0.001", "lr=0.1"][survivor] in recorded and "epochs=30" in recorded
    assert not [o for o in recorded if o.startswith(("stop_at_epoch", "resume", "hydra."))]
    assert metrics[1 - survivor]["status"] == "stopped"
    assert len(csv_rows(sweep / str(survivor) / "metrics.csv")) >= 2  # its history stays for resume=true


@pytest.mark.slow
def test_ctrl_c_in_a_later_rung_then_resume_finishes_the_study_without_retraining(tmp_path):
    args = ["--multirun", *STUDY, "epochs=8", "hydra.sweeper.eta=4", "threads=1", "hydra.sweep.dir=sweep"]
    proc = start(args, tmp_path, start_new_session=True)
    sweep = tmp_path / "sweep"
    state = lambda: json.loads((sweep / "halving.json").read_text()) if (sweep / "halving.json").exists() else {}  # noqa: E731
    # Rungs 4 x 1 epoch, then 1 x 4 .. 8: interrupt the survivor in the middle of its rung.
    wait_for(lambda: len(state().get("rungs", [])) == 2 and len(csv_rows(
        sweep / str(state()["rungs"][1]["jobs"][0]) / "metrics.csv")) >= 3, "the second rung training", proc)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-3000:] + err[-3000:]
    command = next(line.strip() for line in err.splitlines() if line.strip().startswith("mnist-hydra "))
    first_rung = {job: (sweep / str(job) / "metrics.json").stat().st_mtime_ns
                  for job in state()["rungs"][0]["jobs"] if job not in state()["rungs"][0]["promoted"]}
    (survivor,) = state()["rungs"][0]["promoted"]
    trained_before = len(csv_rows(sweep / str(survivor) / "metrics.csv"))  # last.pt holds this or one less

    resumed = subprocess.run([sys.executable, "-m", "mnist_hydra.run", *shlex.split(command)[1:]], cwd=tmp_path,
                             env=cli_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for job, stamp in first_rung.items():  # stopped runs were skipped, not retrained
        assert (sweep / str(job) / "metrics.json").stat().st_mtime_ns == stamp
    log = (sweep / str(survivor) / "mnist_hydra.log").read_text()
    continued = int(re.findall(r"continuing .* after epoch (\d+)", log)[-1])
    assert 2 <= continued and trained_before - 1 <= continued <= trained_before
    assert sweep_metrics(sweep)[survivor]["status"] == "completed"
    assert [int(r["epoch"]) for r in csv_rows(sweep / str(survivor) / "metrics.csv")] == list(range(1, 9))


def test_the_jobs_of_a_rung_share_the_cores(tmp_path, monkeypatch):
    """On 16 cores under joblib's default n_jobs=-1: 7 jobs of a rung get 2 threads each (16 // 7),
    the last rung's single survivor all 16."""
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from mnist_hydra import threads
    from mnist_hydra.halving import Rung, Study, write_state

    monkeypatch.setattr(threads, "usable_cores", lambda: 16)
    hydra_cfg = OmegaConf.create({"mode": RunMode.MULTIRUN, "launcher": {"n_jobs": -1}, "job": {"num": 23},
                                  "sweeper": {"_target_": HALVING_TARGET, "eta": 3}, "sweep": {"dir": str(tmp_path)}})
    study = Study(3, 1, "val_acc", 20, 20, [Rung(1, list(range(20)), list(range(7))), Rung(3, list(range(7)))])
    write_state(tmp_path, study)
    assert threads.parallel_jobs(hydra_cfg, threads.joblib_workers(hydra_cfg)) == 7
    study.rungs[-1].promoted = [0]
    study.rungs.append(Rung(20, [0]))
    write_state(tmp_path, study)
    assert threads.parallel_jobs(hydra_cfg, threads.joblib_workers(hydra_cfg)) == 1
    # A grid sweep resumed in that folder: the stale halving.json is not its state.
    grid_cfg = OmegaConf.merge(hydra_cfg, {"sweeper": {"_target_": GRID_TARGET, "max_batch_size": None,
                                                       "params": {"lr": "0.1,0.2,0.3,0.4"}}})
    grid_cfg.job.num = 0
    assert threads.parallel_jobs(grid_cfg, threads.joblib_workers(grid_cfg)) == 4


def test_a_grid_sweep_in_a_folder_an_earlier_halving_study_used_is_read_as_a_grid(tmp_path):
    """Which sweeper made a folder comes from its multirun.yaml, not from a halving.json left there."""
    from mnist_hydra.halving import Rung, Study, write_state
    from mnist_hydra.sweep import build_summary, format_table

    for job in range(2):
        write_job(tmp_path, job, [f"lr={0.1 * (job + 1)}"], {"best_val_acc": 90.0 + job})
    write_state(tmp_path, Study(3, 1, "val_acc", 3, 5, [Rung(1, list(range(5)), [0, 1]), Rung(3, [0, 1])]))
    for target, halving in [(GRID_TARGET, False), (HALVING_TARGET, True)]:
        (tmp_path / "multirun.yaml").write_text(yaml.safe_dump(
            {"hydra": {"sweeper": {"_target_": target}, "overrides": {"task": ["lr=0.1,0.2"]}}}))
        summary = build_summary(tmp_path)
        assert (summary.halving is not None) == halving and ("Rungs" in format_table(summary)) == halving


@pytest.mark.parametrize("args, message", [
    (["hydra.sweeper.eta=1"], "invalid halving sweeper: hydra.sweeper.eta=1 must be >= 2"),
    (["hydra.sweeper.metric=acc"], "hydra.sweeper.metric=acc must be one of val_acc, val_loss"),
    (["epochs=2,3"], "needs one `epochs` for the whole study (the last rung's), got epochs=2,3"),
    (["stop_at_epoch=1"], "hydra/sweeper=halving sets stop_at_epoch per rung; leave it out"),
    (["lr=0.001,0"], "sweep refused before any job ran: job 1 of the sweep"),  # a bad value anywhere in the grid
    (["data=mnist", "data.root=/no/such/dir", "data.download=false"],
     "sweep refused before any job ran: MNIST files missing"),
])
def test_a_study_that_cannot_run_is_refused_in_one_line_before_any_folder(tmp_path, args, message):
    proc = run_cli(["--multirun", "hydra/sweeper=halving", *TINY, "lr=0.001,0.01", *args, "hydra.sweep.dir=sweep"],
                   cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("mnist-hydra: error: ") and message in lines[0]
    assert not (tmp_path / "sweep").exists()
