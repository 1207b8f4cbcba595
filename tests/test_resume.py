"""Issue 12 item 3: a single run killed with SIGKILL after epoch k of n, resumed with
`resume=true hydra.run.dir=<same>`, ends exactly as the uninterrupted run."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import EPOCH_TAGS, TINY, cli_env, compose_config, csv_rows, epoch_scalars, event_files, run_cli
from mnist_hydra.train import train

pytestmark = pytest.mark.slow
N, K = 6, 2
# One thread on the CPU: the same float summation order in every attempt. Augmented
# transforms draw from torch's RNG every batch, so a resume that lost a random state shows.
ARGS = [*TINY, "data.train_size=500", f"epochs={N}", "threads=1", "device=cpu", "transform=augmented"]


def _rows(run_dir: Path) -> list[dict[str, str]]:
    """metrics.csv without the wall-clock column."""
    path = run_dir / "metrics.csv"
    return [{k: v for k, v in row.items() if k != "seconds"} for row in csv_rows(path)] if path.exists() else []


def kill_after_epochs(workdir: Path, run_dir: Path, k: int, *extra: str) -> None:
    """Start a run, SIGKILL it as soon as metrics.csv holds k epochs."""
    proc = subprocess.Popen([sys.executable, "-m", "mnist_hydra.run", *ARGS, *extra, f"hydra.run.dir={run_dir}"],
                            cwd=workdir, env=cli_env(workdir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while len(_rows(run_dir)) < k:
        assert proc.poll() is None, f"the run ended before epoch {k}: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "no epoch in time"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert not (run_dir / "metrics.json").exists(), "the run finished before it was killed"
    assert len(_rows(run_dir)) < N


def _state(run_dir: Path, name: str = "best.pt") -> dict:
    return torch.load(run_dir / name, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run."""
    workdir = tmp_path_factory.mktemp("resume")
    run_dir = workdir / "reference"
    proc = run_cli([*ARGS, f"hydra.run.dir={run_dir}"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir, run_dir


def _assert_same_run(resumed: Path, reference: Path) -> None:
    assert _rows(resumed) == _rows(reference)  # every epoch's losses and accuracies, to the last digit
    best, ref_best = _state(resumed), _state(reference)
    assert best["epoch"] == ref_best["epoch"] and best["val_acc"] == ref_best["val_acc"]
    assert best["model_state"].keys() == ref_best["model_state"].keys()
    for name, tensor in ref_best["model_state"].items():
        assert torch.equal(best["model_state"][name], tensor), f"best.pt differs in {name}"
    metrics, ref_metrics = (json.loads((d / "metrics.json").read_text()) for d in (resumed, reference))
    for key in ("status", "best_val_acc", "best_epoch", "test_acc", "final_train_loss", "epochs_run", "seed"):
        assert metrics[key] == ref_metrics[key], key


def test_a_run_killed_after_epoch_k_resumes_to_the_uninterrupted_result(reference):
    workdir, ref_dir = reference
    run_dir = workdir / "killed"
    kill_after_epochs(workdir, run_dir, K)
    assert (run_dir / "last.pt").exists()
    done_before = _state(run_dir, "last.pt")["history"]
    assert len(done_before) >= K - 1  # the kill may land between the CSV row and last.pt

    proc = run_cli([*ARGS, "resume=true", f"hydra.run.dir={run_dir}"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (run_dir / "mnist_hydra.log").read_text()
    assert f"resume: continuing {run_dir} after epoch {len(done_before)}" in log
    _assert_same_run(run_dir, ref_dir)
    assert not (run_dir / "last.pt").exists(), "last.pt is deleted when the run finishes"

    # TensorBoard: one value per epoch and tag, the killed attempt's extra epochs purged.
    scalars, ref_scalars = epoch_scalars(run_dir), epoch_scalars(ref_dir)
    for tag in EPOCH_TAGS:
        assert [step for step, _ in scalars[tag]] == list(range(1, N + 1)), tag
        assert scalars[tag] == ref_scalars[tag], tag


def test_a_resumed_run_with_a_drawn_seed_keeps_that_seed(reference):
    """seed=null: the resumed attempt must not draw (and record) a new seed; metrics.json
    and best.pt name the seed the run was trained with, and replaying it gives the same run."""
    workdir, _ = reference
    run_dir = workdir / "drawn"
    kill_after_epochs(workdir, run_dir, K, "seed=null")
    drawn = _state(run_dir)["config"]["seed"]  # best.pt of epoch 1 holds the drawn seed (item 14)
    assert isinstance(drawn, int)

    proc = run_cli([*ARGS, "seed=null", "resume=true", f"hydra.run.dir={run_dir}"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((run_dir / "metrics.json").read_text())["seed"] == drawn
    assert _state(run_dir)["config"]["seed"] == drawn

    replay = workdir / "replay"
    proc = run_cli([*ARGS, f"seed={drawn}", f"hydra.run.dir={replay}"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _rows(run_dir) == _rows(replay)


def test_resume_of_a_folder_holding_another_configs_unfinished_run_starts_over(reference, tmp_path):
    """last.pt of another config is not continued: the run starts over (and says so)."""
    workdir, ref_dir = reference
    run_dir = tmp_path / "other"
    kill_after_epochs(workdir, run_dir, K, "lr=0.01")
    proc = run_cli([*ARGS, "resume=true", f"hydra.run.dir={run_dir}"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "belongs to another config; starting over" in (run_dir / "mnist_hydra.log").read_text()
    _assert_same_run(run_dir, ref_dir)
    assert len(event_files(run_dir)) == 1


def test_a_continued_runs_train_time_counts_every_attempt(tmp_path):
    """A halving survivor is stopped after a rung and continued from last.pt: its train_time_s
    is the whole run's, not its last attempt's (before: 7.7 s against 12.5 s of epochs)."""
    args = [*TINY, "data.train_size=2000", "epochs=2", "device=cpu", "threads=1"]
    first = train(compose_config([*args, "stop_at_epoch=1"]), tmp_path)
    assert first["status"] == "stopped"
    done = train(compose_config([*args, "resume=true"]), tmp_path)
    epochs = [float(row["seconds"]) for row in csv_rows(tmp_path / "metrics.csv")]
    assert done["status"] == "completed" and len(epochs) == 2
    assert done["train_time_s"] >= first["train_time_s"] + epochs[1] >= sum(epochs)
