"""Head-to-head (issues 10 and 13): the project's sweep of the report's first study against
the original tool's sequential grid loop (benchmarks/original.py), SimpleCNN, Adam,
800 / 100 images of full MNIST, lr {0.001, 0.1} x batch {8, ..., 128}, seed 42.

Every arm is a fresh interpreter timed from launch to exit, as a user would run it: the
original loop, and `python -m mnist_hydra.run -m +experiment=lr_batch_grid ...` with the
joblib and basic launchers in float32 and bf16-mixed, and as a successive-halving study
(issue 16: `hydra/sweeper=halving`). The arms take turns within each round; medians over the
rounds are reported, then, from the last round, each arm's best validation accuracy per cell
(the runs are seeded), its winner, and where its wall time went (a halving study's rung by rung).
"""
import csv
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from benchmarks.common import MNIST_ROOT, REPO, interleaved, machine, table, torchvision_root
from benchmarks.original import cell
from mnist_hydra.halving import STATE_JSON, read_state
from mnist_hydra.threads import usable_cores
from mnist_hydra.rundir import METRICS_JSON
from mnist_hydra.sweep.read import Run, read_runs

LRS = (0.001, 0.1)  # issue 10's study: the best and the diverging row of the report's grid
BATCH_SIZES = (8, 16, 32, 64, 128)
ORIGINAL = "original loop"
# (name, launcher, precision, halving) of the project's arms, in the order they take their turns.
PROJECT_ARMS = [
    ("joblib fp32", "joblib", "32-true", False),
    ("joblib bf16", "joblib", "bf16-mixed", False),
    ("basic fp32", "basic", "32-true", False),
    ("basic bf16", "basic", "bf16-mixed", False),
    ("joblib fp32 halving", "joblib", "32-true", True),
    ("joblib bf16 halving", "joblib", "bf16-mixed", True),
]
# Where an arm's wall time went (seconds of wall time; parallel jobs' sums divided by their count).
PHASES = ["start-up", "epochs (train + val)", "rest of each job", "between jobs", "summary + exit"]


@dataclass
class Outcome:
    """One arm's latest sweep: best val acc % per cell and its wall time by PHASES."""

    accuracies: dict[str, float | None] = field(default_factory=dict)  # None: diverged in its first epoch
    phases: dict[str, float] = field(default_factory=dict)
    winner: str = "-"  # the summary's best configuration


def launch(args: list[str], log: Path) -> tuple[float, float]:
    """Run `python args...` to its exit (output to `log`); its (launch, exit) epoch times."""
    env = {**os.environ, "MNIST_ROOT": MNIST_ROOT}
    launched = time.time()
    with log.open("w") as out:
        subprocess.run([sys.executable, *args], cwd=REPO, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)
    return launched, time.time()


def epoch_seconds(job_dir: Path) -> float:
    """The job's training + validation time: the sum of metrics.csv's per-epoch seconds."""
    with (job_dir / "metrics.csv").open() as rows:
        return sum(float(row["seconds"]) for row in csv.DictReader(rows))


def train_seconds(run: Run) -> float:
    """A finished job's training time; a failed job has none, and the sweep's timing no meaning."""
    seconds = run.metrics["train_time_s"]
    if seconds is None:
        raise RuntimeError(f"{run.job_dir}: no train_time_s ({run.status}: {run.error})")
    return seconds


def accuracies(runs: list[Run]) -> dict[str, float | None]:
    return {cell(float(run.overrides["lr"]), int(run.overrides["batch_size"])): run.metrics["best_val_acc"]
            for run in runs}


def winner(sweep_dir: Path) -> str:
    """`lr=0.001 batch_size=8` from summary.json."""
    overrides = (json.loads((sweep_dir / "summary.json").read_text())["winner"] or {}).get("overrides", {})
    return " ".join(f"{key}={overrides[key]}" for key in ("lr", "batch_size") if key in overrides) or "-"


def halving_outcome(sweep_dir: Path, launched: float, ended: float) -> Outcome:
    """Accuracies (a stopped run's: at the rung it reached) and the wall time rung by rung."""
    study = read_state(sweep_dir)
    assert study is not None, f"{sweep_dir}: no {STATE_JSON}"
    phases, last_end = {}, launched
    for i, rung in enumerate(study.rungs, 1):
        assert rung.started is not None and rung.seconds is not None, "the study did not finish"
        phases["start-up" if i == 1 else f"between rungs {i - 1} and {i}"] = rung.started - last_end
        phases[f"rung {i}: {len(rung.jobs)} x {rung.epochs} ep"] = rung.seconds
        last_end = rung.started + rung.seconds
    phases["summary + exit"] = ended - last_end
    return Outcome(accuracies(read_runs(sweep_dir)), phases, winner(sweep_dir))


def project_outcome(sweep_dir: Path, launched: float, ended: float, parallel: int) -> Outcome:
    """Accuracies and the wall-time phases of a finished sweep, from its job folders: a job
    runs from (metrics.json written - train_time_s) to metrics.json written."""
    runs = read_runs(sweep_dir)
    train = [train_seconds(run) for run in runs]
    ends = [(run.job_dir / METRICS_JSON).stat().st_mtime for run in runs]
    first_start = min(end - seconds for end, seconds in zip(ends, train, strict=True))
    epochs = sum(epoch_seconds(run.job_dir) for run in runs)
    return Outcome(
        accuracies=accuracies(runs),
        winner=winner(sweep_dir),
        phases=dict(zip(PHASES, [
            first_start - launched,  # interpreter, Hydra, launcher, worker processes
            epochs / parallel,
            (sum(train) - epochs) / parallel,  # data, model, optimizer (torch._dynamo import), outputs
            max(ends) - first_start - sum(train) / parallel,  # Hydra's per-job set-up, idle workers
            ended - max(ends),  # the sweep summary (winner's test evaluation, plots)
        ], strict=True)),
    )


def original_arm(root: Path, epochs: int, work: Path, outcomes: dict[str, Outcome]) -> Callable[[], float]:
    """The stand-in for the original tool's grid loop, in its own interpreter."""
    def arm() -> float:
        out = work / "original.json"
        launched, ended = launch(["-m", "benchmarks.original", "--root", str(root), "--lrs", *map(str, LRS),
                                  "--batch-sizes", *map(str, BATCH_SIZES), "--epochs", str(epochs),
                                  "--out", str(out)], work / "original.log")
        runs = json.loads(out.read_text())
        in_runs = sum(run["seconds"] for run in runs.values())
        outcomes[ORIGINAL] = Outcome({key: run["best"] for key, run in runs.items()},
                                     {"start-up": ended - launched - in_runs, "epochs (train + val)": in_runs})
        return ended - launched
    return arm


def project_arm(name: str, launcher: str, precision: str, halving: bool, epochs: int, work: Path,
                outcomes: dict[str, Outcome]) -> Callable[[], float]:
    """The project's sweep of the same grid, into a fresh sweep folder per round."""
    rounds = itertools.count()
    # joblib's n_jobs -1 (the launcher's default): one job per usable core.
    parallel = usable_cores() if launcher == "joblib" else 1

    def arm() -> float:
        sweep_dir = work / f"{name.replace(' ', '-')}-{next(rounds)}"
        launched, ended = launch([
            "-m", "mnist_hydra.run", "-m", "+experiment=lr_batch_grid",
            f"lr={','.join(map(str, LRS))}", f"batch_size={','.join(map(str, BATCH_SIZES))}",
            f"epochs={epochs}", f"precision={precision}", f"hydra/launcher={launcher}",
            *(["hydra/sweeper=halving"] if halving else []), f"hydra.sweep.dir={sweep_dir}",
        ], sweep_dir.with_suffix(".log"))
        outcomes[name] = (halving_outcome(sweep_dir, launched, ended) if halving
                          else project_outcome(sweep_dir, launched, ended, parallel))
        return ended - launched
    return arm


def warm_caches() -> None:
    """Load the project's data once so that no arm pays for building the decoded-tensor cache."""
    from mnist_hydra.data import load_dataset
    load_dataset("mnist", MNIST_ROOT, False)


def run(reps: int, epochs: int = 5, only: list[str] | None = None) -> str:
    """`only`: the project arms to time (default: all), beside the original loop."""
    chosen = [arm for arm in PROJECT_ARMS if not only or arm[0] in only]
    print(f"[sweep] {reps} round(s) of {1 + len(chosen)} arms, {epochs} epochs per run ...", flush=True)
    warm_caches()
    load_before = os.getloadavg()
    outcomes: dict[str, Outcome] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        arms = {ORIGINAL: original_arm(torchvision_root(work / "torchvision"), epochs, work, outcomes)}
        arms.update({name: project_arm(name, launcher, precision, halving, epochs, work, outcomes)
                     for name, launcher, precision, halving in chosen})
        seconds = interleaved(arms, reps, verbose=True)
    names = list(arms)
    cells = [cell(lr, batch) for lr in LRS for batch in BATCH_SIZES]
    return "\n\n".join([
        f"### Head-to-head: lr {{{', '.join(map(str, LRS))}}} x batch {{{', '.join(map(str, BATCH_SIZES))}}}, "
        f"{epochs} epochs, 800 / 100 images (wall time, median of {reps} rounds, arms interleaved)",
        table(["arm", "wall time, s", "vs the original loop"],
              [[name, seconds[name], seconds[name] / seconds[ORIGINAL]] for name in names]),
        "### Best validation accuracy per cell, % (last round)",
        table(["lr, batch", *names], [[key, *(outcomes[name].accuracies.get(key, "-") for name in names)]
                                      for key in cells]),
        "### Winner (the summary's best configuration, last round)",
        table(["arm", "winner"], [[name, outcomes[name].winner] for name in names[1:]]),
        "### Where the wall time went, s (last round)",
        table(["arm", "wall", *PHASES], [[name, sum(outcomes[name].phases.values()),
                                          *(outcomes[name].phases.get(phase, "-") for phase in PHASES)]
                                         for name in names if "halving" not in name]),
        *[f"{name}, rung by rung (s): " + ", ".join(f"{phase} {seconds:.2f}" for phase, seconds in
                                                    outcomes[name].phases.items())
          for name in names if "halving" in name],
        f"Machine: {machine()}; load average before the rounds {', '.join(f'{x:.1f}' for x in load_before)}",
    ])
