"""Study 1 both ways (issue 16): `python -m mnist_hydra.run -m +experiment=lr_batch_grid
hydra/launcher=joblib` on full MNIST (20 configurations, 20 epochs, float32), once as the full
grid and once with `hydra/sweeper=halving`, back to back, each a fresh interpreter timed from
launch to exit. Reported: wall time, epochs trained, the winner with its validation accuracy
and its one test-set evaluation, and whether the halving winner is one of the grid's three
best configurations by validation accuracy (ties for third place count).
"""
import json
import os
import tempfile
from pathlib import Path

from benchmarks.common import machine, table
from benchmarks.sweep import halving_outcome, launch, winner
from mnist_hydra.sweep.read import Run, read_runs
from mnist_hydra.sweep.analysis import is_best_candidate

ARMS = {"full grid": [], "halving": ["hydra/sweeper=halving"]}


def label(run: Run) -> str:
    return f"lr={run.overrides['lr']} batch_size={run.overrides['batch_size']}"


def top(runs: list[Run], places: int) -> set[str]:
    """The configurations with one of the `places` best validation accuracies (ties included)."""
    completed = [run for run in runs if is_best_candidate(run)]
    accs = sorted((run.metrics["best_val_acc"] or 0.0 for run in completed), reverse=True)
    return {label(run) for run in completed if (run.metrics["best_val_acc"] or 0.0) >= accs[min(places, len(accs)) - 1]}


def run() -> str:
    print("[study] study 1, full grid then halving, joblib, float32 ...", flush=True)
    load_before = os.getloadavg()
    runs: dict[str, list[Run]] = {}
    seconds: dict[str, float] = {}
    winners: dict[str, tuple[str, float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in ARMS.items():
            sweep_dir = Path(tmp) / name.replace(" ", "-")
            launched, ended = launch(["-m", "mnist_hydra.run", "-m", "+experiment=lr_batch_grid",
                                      "hydra/launcher=joblib", *extra, f"hydra.sweep.dir={sweep_dir}"],
                                     sweep_dir.with_suffix(".log"))
            seconds[name] = ended - launched
            print(f"  {name}: {seconds[name]:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
            runs[name] = read_runs(sweep_dir)
            best = json.loads((sweep_dir / "summary.json").read_text())["winner"]
            winners[name] = (winner(sweep_dir), best["best_val_acc"], best["test_acc"])
            if extra:
                rungs = halving_outcome(sweep_dir, launched, ended).phases
    grid_top = top(runs["full grid"], 3)
    found = winners["halving"][0] in grid_top
    return "\n\n".join([
        "### Study 1 on full MNIST, both ways (20 configurations, 20 epochs, joblib, float32)",
        table(["arm", "wall time, s", "vs full grid", "epochs trained", "winner", "val acc, %", "test acc, %"],
              [[name, seconds[name], seconds[name] / seconds["full grid"],
                sum(int(run.metrics["epochs_run"] or 0) for run in runs[name]), *winners[name]] for name in ARMS]),
        f"The full grid's three best by validation accuracy: {', '.join(sorted(grid_top))}. "
        f"The halving winner is {'one of them' if found else 'NOT one of them'}.",
        "Halving, rung by rung (s): " + ", ".join(f"{phase} {value:.1f}" for phase, value in rungs.items()),
        f"Machine: {machine()}; load average before {', '.join(f'{x:.1f}' for x in load_before)}",
    ])
