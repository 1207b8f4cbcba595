"""The sweep summary and progress lines on a real joblib sweep that skipped the test set."""
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import TINY, run_cli, summary_rows
from mnist_hydra.evaluate import evaluate_checkpoint

pytestmark = pytest.mark.slow
SWEEP = [*TINY, "test=false", "seed=null", "lr=0.001,0.01", "hydra/launcher=joblib",
         "hydra.launcher.n_jobs=2"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One 2-job sweep shared by the tests: (sweep folder, the app's stdout)."""
    cwd = tmp_path_factory.mktemp("sweep")
    sweep_dir = cwd / "multirun" / "s"
    result = run_cli(["--multirun", *SWEEP, f"hydra.sweep.dir={sweep_dir}"], cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_dir, result.stdout


def test_one_progress_line_per_job(sweep: tuple[Path, str]) -> None:
    _, stdout = sweep
    lines = [line for line in stdout.splitlines() if re.match(r"\[\d+/\d+\] job ", line)]
    assert len(lines) == 2
    assert sorted(line[:5] for line in lines) == ["[1/2]", "[2/2]"]
    for line in lines:
        assert re.match(r"\[\d/2\] job [01]  lr=0\.0(01|1)  completed \d+\.\d\d% val  \d+s  ", line), line
    assert any("ETA " in line for line in lines) and any("last job" in line for line in lines)


def test_winner_test_accuracy_is_what_its_checkpoint_gives(sweep: tuple[Path, str]) -> None:
    sweep_dir, stdout = sweep
    metrics = {j: json.loads((sweep_dir / str(j) / "metrics.json").read_text()) for j in (0, 1)}
    assert all(m["test_acc"] is None and m["test"] is False for m in metrics.values())

    winner = json.loads((sweep_dir / "summary.json").read_text())["winner"]
    best_job = max(metrics, key=lambda j: (metrics[j]["best_val_acc"], -j))
    assert winner["job"] == best_job
    assert winner["best_val_acc"] == metrics[best_job]["best_val_acc"]
    assert winner["test_acc_source"] == "selected on validation, tested once"
    expected = evaluate_checkpoint(sweep_dir / str(best_job) / "best.pt", split="test")
    assert winner["test_acc"] == expected["accuracy"]
    assert "selected on validation, tested once" in (sweep_dir / "summary.md").read_text()
    assert "selected on validation, tested once" in stdout


def test_summarize_again_reuses_the_winner_result(sweep: tuple[Path, str], tmp_path: Path) -> None:
    sweep_dir, _ = sweep
    before = json.loads((sweep_dir / "summary.json").read_text())["winner"]

    result = run_cli([str(sweep_dir)], cwd=tmp_path, module="mnist_hydra.summarize")

    assert result.returncode == 0, result.stderr
    assert "Evaluating the winner" not in result.stderr  # summary.json had this best.pt's result
    assert json.loads((sweep_dir / "summary.json").read_text())["winner"] == before


def test_seed_column_is_the_seed_each_run_used(sweep: tuple[Path, str]) -> None:
    sweep_dir, _ = sweep
    for row in summary_rows(sweep_dir):
        used = json.loads((sweep_dir / row["job"] / "metrics.json").read_text())["seed"]
        assert row["seed"] == str(used)
    md = (sweep_dir / "summary.md").read_text()
    assert "python -m mnist_hydra.run --multirun" in md and "lr=0.001,0.01" in md
    assert "`seed=null`" in md and "`test=False`" in md  # shared by every run (as Hydra writes it)


def test_read_only_copy_prints_the_table_and_exit_status(sweep: tuple[Path, str], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sweep[0], copy)
    for name in ["summary.md", "summary.csv"]:
        (copy / name).unlink()
    (copy / "1" / "metrics.json").unlink()  # job 1 killed without a trace
    copy.chmod(0o555)
    try:
        result = run_cli([str(copy)], cwd=tmp_path, module="mnist_hydra.summarize")
    finally:
        copy.chmod(0o755)

    assert result.returncode == 1  # a run without a result
    assert "missing" in result.stdout and "Best: lr=0.001" in result.stdout
    assert "summary files not written" in result.stderr
    assert not (copy / "summary.md").exists()
