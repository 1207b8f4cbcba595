"""End to end: the real CLI on the shipped sample, and every file a run folder holds."""
import json
import subprocess
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import EPOCH_TAGS, REPO, TINY, csv_rows, run_cli, tensorboard_run
from mnist_hydra.rundir.writer import MAX_NAME_BYTES, tensorboard_name
from mnist_hydra.training import convergence_epoch

METRIC_KEYS = {"status", "best_val_acc", "test_acc", "final_train_loss", "params", "train_time_s",
               "convergence_epoch", "epochs_run", "seed", "device", "overrides"}


def _run(workdir: Path, name: str, *overrides: str) -> tuple[Path, object]:
    run_dir = workdir / name
    proc = run_cli([*TINY, *overrides, f"hydra.run.dir={run_dir}"], cwd=workdir)
    return run_dir, proc


def _csv_rows(run_dir: Path) -> list[dict[str, str]]:
    return csv_rows(run_dir / "metrics.csv")


@pytest.fixture(scope="module")
def completed_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    run_dir, proc = _run(workdir, "run", "model=baseline", "epochs=2")
    assert proc.returncode == 0, proc.stderr
    return run_dir, proc


def test_run_folder_holds_config_log_metrics_events_and_checkpoint(completed_run):
    run_dir, proc = completed_run
    assert OmegaConf.load(run_dir / ".hydra/config.yaml").model._target_ == "mnist_hydra.models.ExperimentalCNN"
    assert "model=baseline" in OmegaConf.load(run_dir / ".hydra/overrides.yaml")
    log = (run_dir / "mnist_hydra.log").read_text()
    assert "Instantiating <mnist_hydra.models.ExperimentalCNN>" in log and "epoch 2/2" in log

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert METRIC_KEYS <= metrics.keys()
    assert metrics["status"] == "completed" and metrics["error"] is None
    assert metrics["params"] == 206_922 and metrics["epochs_run"] == 2 and metrics["seed"] == 42
    # well above chance (10%) after two epochs on 300 images
    assert 40 < metrics["best_val_acc"] <= 100 and 40 < metrics["test_acc"] <= 100
    assert "model=baseline" in metrics["overrides"] and metrics["device"] == "cpu"

    rows = _csv_rows(run_dir)
    assert list(rows[0]) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds"]
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert max(float(r["val_acc"]) for r in rows) == pytest.approx(metrics["best_val_acc"])
    assert float(rows[-1]["train_loss"]) == pytest.approx(metrics["final_train_loss"])

    # TensorBoard's run name: the run's overrides, sorted
    assert tensorboard_run(run_dir) == run_dir / ",".join(sorted(metrics["overrides"]))
    events = EventAccumulator(str(tensorboard_run(run_dir)))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert set(EPOCH_TAGS) <= set(scalars)
    assert [e.value for e in events.Scalars("Accuracy/val")] == pytest.approx([float(r["val_acc"]) for r in rows])
    hparams = events.PluginTagToContent("hparams")  # what TensorBoard's HParams tab reads
    # No per-run experiment: TensorBoard builds it from every run (test_sweep_shown.py).
    assert set(hparams) == {"_hparams_/session_start_info", "_hparams_/session_end_info"}
    start_info = hparams["_hparams_/session_start_info"]
    assert b"batch_size" in start_info and b"baseline" in start_info

    checkpoint = torch.load(run_dir / "best.pt", weights_only=False)
    assert checkpoint["val_acc"] == pytest.approx(metrics["best_val_acc"])
    model = instantiate(OmegaConf.create(checkpoint["config"]).model)
    model.load_state_dict(checkpoint["model_state"])
    assert not list(run_dir.glob(".best.pt.*")), "temp files of the atomic write are gone"


@pytest.mark.parametrize("overrides, name", [
    (["lr=0.01", "batch_size=8"], "batch_size=8,lr=0.01"),  # sorted, as Hydra's override_dirname
    (["lr=0.01", "resume=true"], "lr=0.01"),  # a resumed run keeps its name
    (["data.root=/data/mnist"], "data.root=_data_mnist"),  # one folder, not three
    ([], "defaults"),
])
def test_tensorboard_name_is_the_overrides(overrides, name):
    assert tensorboard_name(overrides) == name


def test_a_long_tensorboard_name_is_cut_with_a_hash_that_keeps_names_apart():
    names = {tensorboard_name([f"data.root=/{'x' * 300}", f"seed={seed}"]) for seed in (1, 2)}
    assert len(names) == 2
    for name in names:
        assert len(name.encode()) <= MAX_NAME_BYTES and name.startswith("data.root=_xxx")


def test_same_seed_gives_identical_metrics(completed_run, tmp_path):
    first_dir, _ = completed_run
    second_dir, proc = _run(tmp_path, "again", "model=baseline", "epochs=2")
    assert proc.returncode == 0, proc.stderr
    drop_time = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop_time(_csv_rows(first_dir)) == drop_time(_csv_rows(second_dir))


def test_unseeded_run_records_its_seed_and_replays_from_it(tmp_path):
    run_dir, proc = _run(tmp_path, "unseeded", "seed=null", "model=baseline")
    assert proc.returncode == 0, proc.stderr
    seed = json.loads((run_dir / "metrics.json").read_text())["seed"]
    assert isinstance(seed, int)
    replay_dir, proc = _run(tmp_path, "replay", f"seed={seed}", "model=baseline")
    assert proc.returncode == 0, proc.stderr
    assert _csv_rows(run_dir)[0]["val_acc"] == _csv_rows(replay_dir)[0]["val_acc"]
    assert _csv_rows(run_dir)[0]["train_loss"] == _csv_rows(replay_dir)[0]["train_loss"]


def test_non_finite_loss_stops_the_run_as_diverged_and_keeps_what_it_has(tmp_path):
    run_dir, proc = _run(tmp_path, "diverged", "model=baseline", "lr=1e12", "epochs=3")
    assert proc.returncode == 0, proc.stderr  # divergence is a result, not a crash
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["epochs_run"] == 1
    assert "non-finite" in metrics["error"]
    assert len(_csv_rows(run_dir)) == 1
    assert (run_dir / "mnist_hydra.log").exists()
    events = EventAccumulator(str(tensorboard_run(run_dir)))
    events.Reload()
    final = {tag for tag in events.Tags()["scalars"] if tag.startswith("hparam/")}
    assert final == {"hparam/train_time_s"}  # HParams: no accuracy was measured, so none (not 0) is shown


def test_a_failing_run_is_recorded_and_exits_non_zero(tmp_path):
    # A target that does not exist passes the config checks and fails as the run builds it.
    run_dir, proc = _run(tmp_path, "failed", "criterion._target_=torch.nn.NoSuchLoss")
    assert proc.returncode == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "NoSuchLoss" in metrics["error"]
    assert "NoSuchLoss" in proc.stderr


def test_bad_config_fails_before_any_run_folder_is_written(tmp_path):
    proc = run_cli(["lr=-1", f"hydra.run.dir={tmp_path / 'bad'}"], cwd=tmp_path)
    assert proc.returncode == 1
    assert "lr=-1.0 must be a finite number > 0" in proc.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("losses, expected", [
    ([2.0, 1.0, 0.9995, 0.9990, 0.9989, 0.5], 5),  # 3 small improvements in a row end at epoch 5
    ([2.0, 1.0, 0.5, 0.25], 4),  # never: the number of epochs
    ([1.0, 1.0005, 0.5, 0.4999, 0.4998, 0.4997], 6),  # a big gain resets the streak
    ([1.0, 0.9995, 1.0, 0.9995, 0.9990, 0.9985], 6),  # a rise resets it (it used to count: 4)
    ([1.0, 0.9995, 0.9995, 0.9990, 0.9985, 0.9980], 6),  # so does no change at all (0 is not > 0)
])
def test_convergence_epoch_follows_the_original_definition(losses, expected):
    assert convergence_epoch(losses, epochs=len(losses)) == expected


def test_the_folders_the_readmes_commands_write_are_git_ignored():
    """A run in the checkout leaves git status clean: the run and sweep folders, the data, and the
    legacy wrapper's `--logdir runs/...` of the README's own example."""
    if not (REPO / ".git").exists():
        pytest.skip(f"{REPO} is not a git checkout")
    written = ["outputs/2026-01-01/00-00-00/metrics.json", "multirun/2026-01-01/00-00-00/0/metrics.json",
               "data/train-images-idx3-ubyte.gz", "runs/grid/0/metrics.json"]
    proc = subprocess.run(["git", "check-ignore", "--no-index", *written], cwd=REPO, capture_output=True, text=True)
    assert proc.stdout.split() == written
