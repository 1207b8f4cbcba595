"""Sweep summary on hand-written sweep folders with known results."""
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import matplotlib.image
import numpy as np
import pytest
from omegaconf import OmegaConf

from conftest import summary_rows, write_job, write_multirun_yaml
from mnist_hydra.sweep import format_table, summarize_sweep
from mnist_hydra.sweep.__main__ import main
from mnist_hydra.sweep.callback import SweepSummaryCallback

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CONSTANT = ["+experiment=lr_batch_grid", "epochs=2"]


@pytest.fixture
def grid_sweep(tmp_path: Path) -> Path:
    """lr x batch_size, 2 x 3, in Hydra's job order: one failed, one diverged, one missing."""
    sweep = tmp_path / "grid"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    jobs: list[tuple[str, str, Optional[dict[str, Any]]]] = [
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


# ---------------------------------------------------------------------------- tables


def test_two_param_sweep_rows_sorted_best_first(grid_sweep: Path) -> None:
    summary = summarize_sweep(grid_sweep)

    assert summary.swept == ["lr", "batch_size"]  # +experiment and epochs are constant
    rows = read_csv(grid_sweep / "summary.csv")
    assert rows[0] == ["job", "lr", "batch_size", "seed", "status", "best_val_acc", "test_acc", "epochs_run",
                       "params", "train_time_s", "convergence_epoch", "error"]
    assert [r[:7] for r in rows[1:]] == [
        ["3", "0.001", "8", "42", "completed", "97", "96.4"],
        ["4", "0.001", "32", "42", "completed", "96.5", "96"],
        ["0", "0.01", "8", "42", "completed", "95", "94"],
        ["1", "0.01", "32", "42", "diverged", "50", ""],
        ["2", "0.01", "64", "42", "failed", "", ""],
        ["5", "0.001", "64", "", "missing", "", ""],
    ]
    assert rows[5][-1] == "RuntimeError: boom | bad"
    assert summary.best is not None and summary.best.job == 3
    assert [(r.job, r.status) for r in summary.unfinished] == [(2, "failed"), (5, "missing")]


def test_pivot_csv_holds_numbers_and_summary_md_the_statuses(grid_sweep: Path) -> None:
    summarize_sweep(grid_sweep)

    # Rows sorted numerically although jobs ran lr=0.01 first; empty: no completed run.
    assert read_csv(grid_sweep / "pivot.csv") == [
        ["lr \\ batch_size", "8", "32", "64"],
        ["0.001", "97", "96.5", ""],
        ["0.01", "95", "", ""],
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
    assert summary.pivot.values["0.1", "8"] == 91.0
    assert ("0.1", "16") not in summary.pivot.values
    assert read_csv(tmp_path / "pivot.csv")[1] == ["0.1", "91", ""]  # columns 8, 16
    assert "mean" in (tmp_path / "summary.md").read_text(encoding="utf-8")


@pytest.fixture
def seeds_sweep(tmp_path: Path) -> Path:
    """The seeds study's shape: seed=42 three times, seed=null three times (one failed)."""
    sweep = tmp_path / "seeds"
    write_multirun_yaml(sweep, ["+experiment=seeds", "epochs=2"], hydra=["hydra/launcher=joblib"],
                        params={"seed": "42,42,42,null,null,null"})
    jobs = [("42", 42, 90.0), ("42", 42, 92.0), ("42", 42, 94.0),
            ("null", 7, 80.0), ("null", 8, 82.0), ("null", 9, None)]
    for job, (seed, used, acc) in enumerate(jobs):
        metrics = ({"best_val_acc": acc, "test_acc": acc - 1, "seed": used} if acc is not None else
                   {"status": "failed", "error": "boom", "seed": used})
        write_job(sweep, job, ["+experiment=seeds", "epochs=2", f"seed={seed}"], metrics, (acc or 0.0,))
    return sweep


def test_repeated_configurations_are_aggregated_and_seeds_are_the_ones_used(seeds_sweep: Path) -> None:
    summary = summarize_sweep(seeds_sweep)

    assert read_csv(seeds_sweep / "groups.csv") == [
        ["seed", "runs", "n", "best_val_acc_mean", "best_val_acc_std", "test_acc_mean", "test_acc_std"],
        ["42", "3", "3", "92", "2", "91", "2"],
        ["null", "3", "2", "81", "1.414214", "80", "1.414214"],
    ]
    rows = {row["job"]: row for row in summary_rows(seeds_sweep)}
    assert [rows[str(j)]["seed"] for j in range(6)] == ["42", "42", "42", "7", "8", "9"]
    assert summary.swept == ["seed"] and summary.pivot is None  # one swept parameter: no pivot
    md = (seeds_sweep / "summary.md").read_text(encoding="utf-8")
    assert "| null | 3 | 2 | 81.00% | ±1.41 | 80.00% | ±1.41 |" in md
    assert "| 3 | 7 | completed | 80.00% |" in md  # job 3: seed=null drew 7
    assert "seed  runs  n  best_val_acc_mean" in format_table(summary)


def test_summary_md_opens_with_the_command_and_the_shared_overrides(seeds_sweep: Path) -> None:
    summarize_sweep(seeds_sweep)

    md = (seeds_sweep / "summary.md").read_text(encoding="utf-8")
    lines = md.splitlines()
    assert lines[2:5] == ["```bash",
                          "python -m mnist_hydra.run --multirun +experiment=seeds epochs=2 hydra/launcher=joblib",
                          "```"]
    assert "Every run: `+experiment=seeds` `epochs=2`" in md  # as typed; summary.csv and .json drop the +
    record = json.loads((seeds_sweep / "summary.json").read_text())
    assert record["command"] == lines[3]
    assert record["shared_overrides"] == {"experiment": "seeds", "epochs": "2"}
    assert record["unfinished_jobs"] == [5]


def test_one_param_sweep_has_no_pivot(lr_sweep: Path) -> None:
    summary = summarize_sweep(lr_sweep)

    assert summary.swept == ["lr"]  # epochs and seed are the same in every job
    assert summary.pivot is None and summary.groups == []
    assert not (lr_sweep / "pivot.csv").exists() and not (lr_sweep / "groups.csv").exists()
    assert [r[:2] for r in read_csv(lr_sweep / "summary.csv")] == [
        ["job", "lr"], ["1", "0.01"], ["2", "0.001"], ["0", "0.1"]]
    md = (lr_sweep / "summary.md").read_text(encoding="utf-8")
    assert "Best: lr=0.01 — 98.00% val, 97.00% test (job 1)" in md
    assert "Optuna best (optuna): lr=0.01 — value 98.0" in md
    assert not summary.unfinished
    assert_png(lr_sweep / "summary.png")  # bar chart
    assert_png(lr_sweep / "curves.png")


def test_single_job_sweep_sweeps_nothing(tmp_path: Path) -> None:
    write_job(tmp_path, 0, ["lr=0.1", "epochs=2"], {"best_val_acc": 90.0})

    summary = summarize_sweep(tmp_path)

    assert summary.swept == []
    text = format_table(summary)
    assert text.startswith(f"Sweep {tmp_path}: 1 run (1 completed)") and "Best: job 0 — 90.00% val" in text
    assert f"`{tmp_path}` — 1 run: 1 completed." in (tmp_path / "summary.md").read_text(encoding="utf-8")
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


def test_every_status_either_has_a_result_or_fails_the_sweep(tmp_path: Path) -> None:
    """One list decides (rundir.RESULTS): a status this version does not know, or none at all,
    counts as no result, for the exit status as for resume, which reruns such a run."""
    from mnist_hydra import rundir

    statuses = ["completed", "diverged", "stopped", "failed", "someday", None]
    for job, status in enumerate(statuses):
        write_job(tmp_path, job, [f"lr=0.{job + 1}"], {"status": status, "best_val_acc": 50.0})
    summary = summarize_sweep(tmp_path)
    assert [run.job for run in summary.unfinished] == [3, 4, 5]
    assert [rundir.recorded_result(tmp_path / str(job)) is not None for job in range(6)] == [True] * 3 + [False] * 3
    assert main([str(tmp_path), "--no-test"]) == 1


def test_format_table(grid_sweep: Path) -> None:
    text = format_table(summarize_sweep(grid_sweep))

    lines = text.splitlines()
    assert lines[0].startswith(f"Sweep {grid_sweep}: 6 runs (")
    assert lines[2].split() == ["job", "lr", "batch_size", "seed", "status", "best_val_acc",
                                "test_acc", "epochs_run", "params", "train_time_s", "convergence_epoch", "error"]
    assert lines[4].split()[:6] == ["3", "0.001", "8", "42", "completed", "97.00%"]
    assert "0.01             95.00%  diverged  failed" in text
    assert "Best: lr=0.001, batch_size=8 — 97.00% val, 96.40% test (job 3)" in text


# ---------------------------------------------------------------------------- winner's test


@pytest.fixture
def fake_evaluate(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """mnist_hydra.evaluate.evaluate_checkpoint replaced by a recorder returning 88.5%."""
    import types

    calls: list[Path] = []

    def evaluate_checkpoint(ckpt_path: Path, split: str = "test") -> dict:
        calls.append(Path(ckpt_path))
        return {"accuracy": 88.5, "loss": 0.4, "split": split, "images": 1000}

    module = types.ModuleType("mnist_hydra.evaluate")
    module.evaluate_checkpoint = evaluate_checkpoint  # type: ignore[attr-defined]  # a module made here
    monkeypatch.setitem(sys.modules, "mnist_hydra.evaluate", module)
    return calls


@pytest.fixture
def untested_sweep(tmp_path: Path) -> Path:
    """Runs with test=false: test_acc null, best.pt present."""
    for job, (lr, acc) in enumerate([("0.1", 91.0), ("0.01", 95.0)]):
        write_job(tmp_path, job, [f"lr={lr}", "test=false"], {"best_val_acc": acc, "test": False})
        (tmp_path / str(job) / "best.pt").write_bytes(b"weights %d" % job)
    return tmp_path


def test_winner_that_skipped_the_test_set_is_tested_once(untested_sweep: Path, fake_evaluate: list[Path]) -> None:
    summary = summarize_sweep(untested_sweep)

    assert fake_evaluate == [untested_sweep / "1" / "best.pt"]  # the validation winner only
    winner = json.loads((untested_sweep / "summary.json").read_text())["winner"]
    assert winner["job"] == 1 and winner["best_val_acc"] == 95.0
    assert winner["test_acc"] == 88.5 and winner["test_images"] == 1000
    assert winner["test_acc_source"] == "selected on validation, tested once"
    assert winner["overrides"] == {"lr": "0.01", "test": "false"}
    line = "Best: lr=0.01 — 95.00% val, 88.50% test (job 1; selected on validation, tested once on 1000 images)"
    assert line in format_table(summary)
    assert line in (untested_sweep / "summary.md").read_text(encoding="utf-8")

    summarize_sweep(untested_sweep)  # again: summary.json has the result for this best.pt
    assert len(fake_evaluate) == 1
    assert json.loads((untested_sweep / "summary.json").read_text())["winner"]["test_acc"] == 88.5

    (untested_sweep / "1" / "best.pt").write_bytes(b"retrained weights")  # a new checkpoint
    summarize_sweep(untested_sweep)
    assert len(fake_evaluate) == 2


def test_the_winners_row_shows_the_test_accuracy_measured_after_the_selection(
        untested_sweep: Path, fake_evaluate: list[Path]) -> None:
    summary = summarize_sweep(untested_sweep)

    assert [(row["job"], row["test_acc"]) for row in summary_rows(untested_sweep)] == [("1", "88.5"), ("0", "")]
    md = (untested_sweep / "summary.md").read_text(encoding="utf-8")
    assert "| 1 | 0.01 | 42 | completed | 95.00% | 88.50% |" in md
    assert "| 0 | 0.1 | 42 | completed | 91.00% | — |" in md
    assert format_table(summary).splitlines()[4].split()[:6] == ["1", "0.01", "42", "completed", "95.00%", "88.50%"]


def test_winner_with_its_own_test_accuracy_is_not_evaluated(grid_sweep: Path, fake_evaluate: list[Path]) -> None:
    summarize_sweep(grid_sweep)

    assert fake_evaluate == []
    winner = json.loads((grid_sweep / "summary.json").read_text())["winner"]
    assert (winner["job"], winner["test_acc"], winner["test_acc_source"]) == (3, 96.4, "run")


def test_winner_without_a_checkpoint_says_so(untested_sweep: Path, fake_evaluate: list[Path]) -> None:
    (untested_sweep / "1" / "best.pt").unlink()

    summary = summarize_sweep(untested_sweep)

    assert fake_evaluate == []
    assert "no test accuracy: no best.pt in job 1" in format_table(summary)
    winner = json.loads((untested_sweep / "summary.json").read_text())["winner"]
    assert (winner["test_acc"], winner["test_acc_source"]) == (None, "unavailable")


# ---------------------------------------------------------------------------- CLI


def test_cli_exit_codes(grid_sweep: Path, lr_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(lr_sweep)]) == 0
    assert main([str(grid_sweep)]) == 1  # a failed and a missing run
    assert "Best: lr=0.001" in capsys.readouterr().out

    missing, empty = tmp_path / "nope", tmp_path / "empty"
    empty.mkdir()
    assert main([str(missing), str(empty), str(lr_sweep)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such directory" in err
    assert f"{empty}: no job folders" in err


def test_cli_help_documents_the_exit_status(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit status:" in out and "1  some run failed" in out


def test_cli_on_a_read_only_folder_prints_the_table_warns_and_goes_on(
        grid_sweep: Path, lr_sweep: Path, capsys: pytest.CaptureFixture) -> None:
    grid_sweep.chmod(0o555)  # root ignores the bits; the summary checks them itself
    try:
        status = main([str(grid_sweep), str(lr_sweep)])
    finally:
        grid_sweep.chmod(0o755)

    out, err = capsys.readouterr()
    assert status == 1  # grid_sweep's failed run
    assert f"warning: summary files not written: {grid_sweep} is marked read-only" in err
    assert "Best: lr=0.001, batch_size=8" in out and "Best: lr=0.01" in out
    assert not (grid_sweep / "summary.csv").exists() and not (grid_sweep / "summary.md").exists()
    assert (lr_sweep / "summary.md").exists()  # the next folder is summarized


def test_cli_warns_when_a_write_fails(lr_sweep: Path, capsys: pytest.CaptureFixture) -> None:
    (lr_sweep / "summary.md").mkdir()  # a folder in the way: writing the file fails

    assert main([str(lr_sweep)]) == 0

    out, err = capsys.readouterr()
    assert "Best: lr=0.01" in out
    assert "warning: summary files not written:" in err and "summary.md" in err


def test_cli_module_runs(grid_sweep: Path, tmp_path: Path) -> None:
    for module in ["mnist_hydra.summarize", "mnist_hydra.sweep"]:
        result = subprocess.run(
            [sys.executable, "-m", module, str(tmp_path / "nope"), str(grid_sweep)],
            capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=60)

        assert result.returncode == 2, module
        (line,) = [line for line in result.stderr.splitlines() if "error" in line]
        assert line.startswith("mnist-summarize: error: ") and "no such directory" in line  # as the app's errors
        assert (grid_sweep / "summary.md").exists()  # the good folder is still summarized
        assert "Best: lr=0.001" in result.stdout


# ---------------------------------------------------------------------------- plots


@pytest.fixture
def wide_sweep(tmp_path: Path) -> Path:
    """20 runs over 4 swept parameters, accuracies near 100% (where labels hit the title)."""
    for job in range(20):
        overrides = [f"lr={[0.001, 0.01][job % 2]}", f"batch_size={[8, 16, 32, 64, 128][job // 4]}",
                     f"optimizer={['adam', 'sgd'][job // 2 % 2]}", f"weight_decay={[0, 1e-5][job // 10]}"]
        acc = 90.0 + job * 0.4
        write_job(tmp_path, job, overrides, {"best_val_acc": acc}, (acc - 3, acc - 1, acc))
    return tmp_path


def test_plots_stay_readable_at_20_runs_and_4_parameters(wide_sweep: Path) -> None:
    from mnist_hydra.sweep.plots import plot_bars, plot_heatmap
    from mnist_hydra.sweep.analysis import build_pivot, build_summary

    summary = build_summary(wide_sweep)
    assert len(summary.swept) == 4

    bars = plot_bars(summary, wide_sweep / "summary.png").axes[0]
    top = max(r.metrics["best_val_acc"] or 0.0 for r in summary.runs)
    labels = [t for t in bars.texts if t.get_text().endswith("%")]
    assert len(labels) == 20 and all(t.get_rotation() == 0 for t in labels)  # horizontal bars: legible
    assert bars.get_xlim()[1] >= top * 1.1  # room for the value labels beside the best bar
    assert bars.get_yticklabels()[0].get_text() == "0.001 / 8 / adam / 0"  # job 0 at the top
    assert bars.get_ylim()[0] > bars.get_ylim()[1]
    assert bars.get_ylabel() == "lr / batch_size / optimizer / weight_decay"

    heatmap = plot_heatmap(build_pivot(summary.runs, "lr", "batch_size"), wide_sweep / "heat.png")
    colorbar = heatmap.axes[1]
    assert colorbar.get_ylabel() == "best validation accuracy (%)"
    assert colorbar.yaxis.get_major_formatter()(95.0, 0) == "95.0%"
    for name in ["summary.png", "heat.png"]:
        assert_png(wide_sweep / name)


def test_a_halving_studys_heatmap_scores_every_cell_on_one_scale_and_marks_the_stopped(tmp_path: Path) -> None:
    """lr x batch_size as a halving study leaves it: lr=0.1 at chance, stopped after one epoch."""
    from mnist_hydra.sweep.plots import plot_heatmap

    cells = [("0.001", "16", "completed", 3, 91.0), ("0.001", "32", "stopped", 2, 89.1),
             ("0.01", "16", "completed", 3, 90.0), ("0.01", "32", "stopped", 1, 85.0),
             ("0.1", "16", "stopped", 1, 9.0), ("0.1", "32", "stopped", 1, 9.8)]
    for job, (lr, bs, status, epochs, acc) in enumerate(cells):
        write_job(tmp_path, job, [f"lr={lr}", f"batch_size={bs}"],
                  {"status": status, "epochs_run": epochs, "best_val_acc": acc})

    summary = summarize_sweep(tmp_path)

    assert summary.pivot is not None
    ax = plot_heatmap(summary.pivot, tmp_path / "heat.png").axes[0]
    assert [t.get_text() for t in ax.texts] == [
        "91.00%", "89.10%\n@2 ep", "90.00%", "85.00%\n@1 ep", "9.00%\n@1 ep", "9.80%\n@1 ep"]
    assert ax.images[0].get_clim() == (9.0, 91.0)  # 89.10% is near the top, as it is in this study
    assert len([patch for patch in ax.patches if patch.get_hatch()]) == 4  # the cells stopped early
    legend = ax.figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [
        "@N ep: stopped early by the sweeper after N epochs, with its best score up to there"]
    md = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "| 0.1 | 9.00% @1 ep | 9.80% @1 ep |" in md and "`@N ep`: stopped early" in md
    assert_png(tmp_path / "heat.png")


LRS = [f"{0.001 * (i + 1)}" for i in range(10)]  # Python's floats, as Hydra's range(0.001,0.011,0.001)


@pytest.fixture
def sweep_60(tmp_path: Path) -> Path:
    """lr (a float range: 0.009000000000000001) x 6 batch sizes, 3 epochs; the worst run
    (job 0) stopped after its first epoch."""
    assert "0.009000000000000001" in LRS
    for job in range(60):
        lr, bs = LRS[job // 6], [16, 32, 64, 128, 256, 512][job % 6]
        accs = (50.0 + job * 0.2, 60.0 + job * 0.3, 70.0 + job * 0.4)[:1 if job == 0 else 3]
        write_job(tmp_path, job, [f"lr={lr}", f"batch_size={bs}"], {"best_val_acc": max(accs)}, accs)
    return tmp_path


def test_curves_of_60_runs_name_the_best_ten_and_draw_the_rest_quietly(sweep_60: Path) -> None:
    from mnist_hydra.sweep.plots import plot_curves
    from mnist_hydra.sweep.analysis import build_summary

    summary = build_summary(sweep_60)
    figure = plot_curves(summary, sweep_60 / "curves.png")
    assert figure is not None
    ax = figure.axes[0]
    legend = ax.get_legend()
    assert legend is not None
    entries = [text.get_text() for text in legend.get_texts()]
    assert len(entries) == 11 and entries[-1] == "the other 50 runs"  # at most a dozen
    best = [f"lr=0.01, batch_size={bs}" for bs in (512, 256, 128, 64, 32, 16)] + \
           [f"lr=0.009, batch_size={bs}" for bs in (512, 256, 128, 64)]  # best first, as people write 0.009
    assert [entry.rpartition(" (")[0] for entry in entries[:-1]] == best
    assert all(tick == int(tick) for tick in ax.get_xticks() if ax.get_xlim()[0] <= tick <= ax.get_xlim()[1])
    lines = ax.get_lines()
    assert len(lines) == 60 and len({(line.get_color(), line.get_linestyle()) for line in lines[:10]}) == 10
    epochs = [np.asarray(line.get_xdata()) for line in lines]
    assert max(x[-1] for x in epochs) == 3
    (stopped,) = [x for x in epochs if len(x) == 1]  # job 0 ends at its last epoch
    assert list(stopped) == [1]
    assert_png(sweep_60 / "curves.png")


# ---------------------------------------------------------------------------- callback


def test_callback_writes_prints_and_exits_1_on_a_failed_run(grid_sweep: Path, capsys: pytest.CaptureFixture) -> None:
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(grid_sweep)}}})

    with pytest.raises(SystemExit) as exit_info:  # the fixture sweep has a failed job
        SweepSummaryCallback().on_multirun_end(config=config)
    assert exit_info.value.code == 1

    for name in ["summary.csv", "summary.md", "summary.json", "pivot.csv", "summary.png", "curves.png"]:
        assert (grid_sweep / name).exists()
    assert "Best: lr=0.001, batch_size=8" in capsys.readouterr().out


def test_callback_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "nope")}}})

    SweepSummaryCallback().on_multirun_end(config=config)

    assert "Could not summarize the sweep" in caplog.text
