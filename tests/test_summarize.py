"""Sweep summary on hand-written sweep folders with known results."""
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import matplotlib.image
import pytest
from omegaconf import OmegaConf

from mnist_hydra.callbacks import SweepSummaryCallback
from mnist_hydra.summarize import format_table, main, summarize_sweep, sweep_failed

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CONSTANT = ["+experiment=lr_batch_grid", "epochs=2"]


def write_job(sweep: Path, job: int, overrides: list[str], metrics: Optional[dict[str, Any]],
              val_accs: tuple[float, ...] = ()) -> None:
    """One Hydra job folder as the app writes it; metrics=None leaves metrics.json out."""
    job_dir = sweep / str(job)
    (job_dir / ".hydra").mkdir(parents=True)
    (job_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        full = {"status": "completed", "error": None, "best_val_acc": None, "best_epoch": None,
                "test_acc": None, "final_train_loss": None, "params": 206922,
                "train_time_s": 1.5, "convergence_epoch": 1, "epochs_run": 2, "seed": 42,
                "device": "cpu", "overrides": overrides, "config_hash": "ab12"}
        (job_dir / "metrics.json").write_text(json.dumps({**full, **metrics}))
    rows = [f"{i + 1},0.5,90.0,0.4,{acc},0.1\n" for i, acc in enumerate(val_accs)]
    (job_dir / "metrics.csv").write_text("epoch,train_loss,train_acc,val_loss,val_acc,seconds\n"
                                         + "".join(rows))


@pytest.fixture
def grid_sweep(tmp_path: Path) -> Path:
    """lr x batch_size, 2 x 3, in Hydra's job order: one failed, one diverged, one missing."""
    sweep = tmp_path / "grid"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    jobs = [
        ("0.01", "8", {"best_val_acc": 95.0, "test_acc": 94.0}),
        ("0.01", "32", {"status": "diverged", "best_val_acc": 50.0}),
        ("0.01", "64", {"status": "failed", "error": "RuntimeError: boom | bad",
                        "params": None, "train_time_s": None, "convergence_epoch": None}),
        ("0.001", "8", {"best_val_acc": 97.0, "test_acc": 96.4}),
        ("0.001", "32", {"best_val_acc": 96.5, "test_acc": 96.0}),
        ("0.001", "64", None),
    ]
    for job, (lr, bs, metrics) in enumerate(jobs):
        accs = () if metrics is None or metrics.get("status") == "failed" else (90.0, 95.0)
        write_job(sweep, job, [CONSTANT[0], f"lr={lr}", f"batch_size={bs}", CONSTANT[1]],
                  metrics, accs)
    return sweep


@pytest.fixture
def lr_sweep(tmp_path: Path) -> Path:
    """lr only, constant overrides around it, plus Optuna's results file."""
    sweep = tmp_path / "lr"
    for job, (lr, acc) in enumerate([("0.1", 91.0), ("0.01", 98.0), ("0.001", 96.0)]):
        write_job(sweep, job, ["epochs=2", f"lr={lr}", "seed=null"],
                  {"best_val_acc": acc, "test_acc": acc - 1}, (acc - 5, acc))
    (sweep / "optimization_results.yaml").write_text(
        "name: optuna\nbest_params:\n  lr: 0.01\nbest_value: 98.0\n")
    return sweep


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 0 and image.shape[1] > 0


def test_two_param_sweep_rows_sorted_best_first(grid_sweep: Path) -> None:
    summary = summarize_sweep(grid_sweep)

    assert summary.swept == ["lr", "batch_size"]  # +experiment and epochs are constant
    rows = read_csv(grid_sweep / "summary.csv")
    assert rows[0] == ["job", "lr", "batch_size", "status", "best_val_acc", "test_acc",
                       "params", "train_time_s", "convergence_epoch", "error"]
    assert [r[:6] for r in rows[1:]] == [
        ["3", "0.001", "8", "completed", "97", "96.4"],
        ["4", "0.001", "32", "completed", "96.5", "96"],
        ["0", "0.01", "8", "completed", "95", "94"],
        ["1", "0.01", "32", "diverged", "50", ""],
        ["2", "0.01", "64", "failed", "", ""],
        ["5", "0.001", "64", "missing", "", ""],
    ]
    assert rows[5][-1] == "RuntimeError: boom | bad"
    assert summary.best is not None and summary.best.job == 3
    assert sweep_failed(summary)


def test_two_param_sweep_pivot_and_best_line(grid_sweep: Path) -> None:
    summarize_sweep(grid_sweep)

    # Rows sorted numerically although jobs ran lr=0.01 first.
    assert read_csv(grid_sweep / "pivot.csv") == [
        ["lr \\ batch_size", "8", "32", "64"],
        ["0.001", "97.00%", "96.50%", "—"],
        ["0.01", "95.00%", "diverged", "failed"],
    ]
    md = (grid_sweep / "summary.md").read_text(encoding="utf-8")
    assert "Best: lr=0.001, batch_size=8 — 97.00% val, 96.40% test (job 3)" in md
    assert "| lr \\ batch_size | 8 | 32 | 64 |" in md
    assert "| 0.001 | 97.00% | 96.50% | — |" in md
    assert "| 0.01 | 95.00% | diverged | failed |" in md
    assert "RuntimeError: boom \\| bad" in md  # a pipe in a message must not split the row
    assert_png(grid_sweep / "summary.png")
    assert_png(grid_sweep / "curves.png")


def test_repeated_cell_shows_mean(tmp_path: Path) -> None:
    # Jobs 0 and 1 share lr=0.1, batch_size=8 (e.g. the same point run twice).
    jobs = [("0.1", "8", 90.0), ("0.1", "8", 92.0), ("0.2", "8", 80.0), ("0.2", "16", 70.0)]
    for job, (lr, bs, acc) in enumerate(jobs):
        write_job(tmp_path, job, [f"lr={lr}", f"batch_size={bs}"], {"best_val_acc": acc})

    summary = summarize_sweep(tmp_path)

    assert summary.pivot is not None
    assert summary.pivot.cells["0.1", "8"] == "91.00%"
    assert summary.pivot.cells["0.1", "16"] == "—"
    assert "mean" in (tmp_path / "summary.md").read_text(encoding="utf-8")


def test_one_param_sweep_has_no_pivot(lr_sweep: Path) -> None:
    summary = summarize_sweep(lr_sweep)

    assert summary.swept == ["lr"]  # epochs and seed are the same in every job
    assert summary.pivot is None
    assert not (lr_sweep / "pivot.csv").exists()
    assert [r[:2] for r in read_csv(lr_sweep / "summary.csv")] == [
        ["job", "lr"], ["1", "0.01"], ["2", "0.001"], ["0", "0.1"]]
    md = (lr_sweep / "summary.md").read_text(encoding="utf-8")
    assert "Best: lr=0.01 — 98.00% val, 97.00% test (job 1)" in md
    assert "Optuna best (optuna): lr=0.01 — value 98.0" in md
    assert not sweep_failed(summary)
    assert_png(lr_sweep / "summary.png")  # bar chart
    assert_png(lr_sweep / "curves.png")


def test_single_job_sweep_sweeps_nothing(tmp_path: Path) -> None:
    write_job(tmp_path, 0, ["lr=0.1", "epochs=2"], {"best_val_acc": 90.0})

    summary = summarize_sweep(tmp_path)

    assert summary.swept == []
    assert "Best: job 0 — 90.00% val" in format_table(summary)
    assert_png(tmp_path / "summary.png")


def test_unreadable_metrics_json(tmp_path: Path) -> None:
    write_job(tmp_path, 0, ["lr=0.1"], {"best_val_acc": 90.0})
    write_job(tmp_path, 1, ["lr=0.2"], None)
    (tmp_path / "1" / "metrics.json").write_text('{"status": "compl')
    (tmp_path / "other").mkdir()  # not a job folder: ignored

    summary = summarize_sweep(tmp_path)

    bad = summary.rows[-1]
    assert (bad.job, bad.status) == (1, "unreadable")
    assert bad.error is not None and bad.error.startswith("metrics.json: ")
    assert [r.job for r in summary.rows] == [0, 1]


def test_format_table(grid_sweep: Path) -> None:
    text = format_table(summarize_sweep(grid_sweep))

    lines = text.splitlines()
    assert lines[0].startswith(f"Sweep {grid_sweep}: 6 runs (")
    assert lines[2].split() == ["job", "lr", "batch_size", "status", "best_val_acc", "test_acc",
                                "params", "train_time_s", "convergence_epoch", "error"]
    assert lines[4].split()[:5] == ["3", "0.001", "8", "completed", "97.00%"]
    assert "0.01             95.00%  diverged  failed" in text
    assert "Best: lr=0.001, batch_size=8 — 97.00% val, 96.40% test (job 3)" in text


def test_cli_exit_codes(grid_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(grid_sweep)]) == 0
    assert "Best: lr=0.001" in capsys.readouterr().out

    missing, empty = tmp_path / "nope", tmp_path / "empty"
    empty.mkdir()
    assert main([str(missing), str(empty)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such directory" in err
    assert f"{empty}: no job folders" in err


def test_cli_module_runs(grid_sweep: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mnist_hydra.summarize", str(tmp_path / "nope"), str(grid_sweep)],
        capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=60)

    assert result.returncode == 2
    assert "no such directory" in result.stderr
    assert (grid_sweep / "summary.md").exists()  # the good folder is still summarized
    assert "Best: lr=0.001" in result.stdout


def test_callback_writes_prints_and_exits_1_on_a_failed_run(grid_sweep: Path, capsys: pytest.CaptureFixture) -> None:
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(grid_sweep)}}})

    with pytest.raises(SystemExit) as exit_info:  # the fixture sweep has a failed job
        SweepSummaryCallback().on_multirun_end(config=config)
    assert exit_info.value.code == 1

    for name in ["summary.csv", "summary.md", "pivot.csv", "summary.png", "curves.png"]:
        assert (grid_sweep / name).exists()
    assert "Best: lr=0.001, batch_size=8" in capsys.readouterr().out


def test_callback_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "nope")}}})

    SweepSummaryCallback().on_multirun_end(config=config)

    assert "Could not summarize the sweep" in caplog.text
