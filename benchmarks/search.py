"""The search both ways (issue 28): `python -m mnist_hydra.run -m +hparams_search=optuna` with
early stopping (the default) and with `hydra.sweeper.pruning=false`, the same n_trials and
sampler seed, joblib on every core, arms taking turns, each a fresh interpreter timed from
launch to exit, on full MNIST (800 / 500 images, 27 epochs as the report's studies train
20-50, runs skip the test set; the winner is tested once). At eta 3 the brackets are
10 x 1 -> 4 x 3 -> 2 x 9 -> 1 x 27, 4 x 3 -> 2 x 9 -> 1 x 27, 2 x 9 -> 1 x 27 and 2 x 27.
Two spaces of different shape: the default one with a wider lr (log-uniform
lr x batch-size choice x optimizer x weight-decay choice) and one over the architecture
(model and transform choices, a uniform lr, the batch size as an integer range).

Reported: the median wall time and its ratio, and from the last round each arm's epochs
trained, the share of worker time left idle, its winner and the winner's validation accuracy.
"""
import itertools
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

from benchmarks.common import interleaved, machine, table
from benchmarks.sweep import launch, warm_caches
from mnist_hydra.search import idle_share, read_state, short_value
from mnist_hydra.sweep.read import read_runs

EPOCHS, TRIALS = 27, 18
COMMON = ["+hparams_search=optuna", "hydra/launcher=joblib", "data.train_size=800", "data.val_size=500",
          f"epochs={EPOCHS}", "test=false", f"hydra.sweeper.n_trials={TRIALS}"]
SPACES = {
    "lr (log) x batch x optimizer x weight decay": ["lr=tag(log,interval(1e-4,0.3))"],
    "model x transform x lr (uniform) x batch range": [
        "model=choice(simple_cnn,baseline,modernist)", "transform=choice(standard,augmented)",
        "lr=interval(0.0005,0.01)", "batch_size=range(16,129,16)", "optimizer=adam", "weight_decay=0.0"],
}
COMMON_KEYS = {"hparams_search", "data.train_size", "data.val_size", "epochs", "test", "threads"}
ARMS = {"early stopping": [], "every trial to epochs": ["hydra.sweeper.pruning=false"]}


def outcome(sweep_dir: Path, seconds: float) -> list[object]:
    """wall, epochs trained, idle share, winner, its val acc."""
    state = read_state(sweep_dir)
    assert state is not None, f"{sweep_dir}: no search.json"
    winner = json.loads((sweep_dir / "summary.json").read_text())["winner"] or {}
    idle = idle_share(state)
    shown = " ".join(f"{key}={short_value(value)}" for key, value in (winner.get("overrides") or {}).items()
                     if key not in COMMON_KEYS)
    return [seconds, sum(int(run.metrics["epochs_run"] or 0) for run in read_runs(sweep_dir)),
            "-" if idle is None else f"{idle:.0%}", shown, winner.get("best_val_acc")]


def arm(name: str, overrides: list[str], work: Path, outcomes: dict[str, list[object]]) -> Callable[[], float]:
    """One search with these overrides, into a fresh sweep folder per round."""
    rounds = itertools.count()

    def search() -> float:
        sweep_dir = work / f"{name.replace(' ', '-')}-{next(rounds)}"
        launched, ended = launch(["-m", "mnist_hydra.run", "-m", *COMMON, *overrides, f"hydra.sweep.dir={sweep_dir}"],
                                 sweep_dir.with_suffix(".log"))
        outcomes[name] = outcome(sweep_dir, ended - launched)
        return ended - launched
    return search


def run(reps: int) -> str:
    print(f"[search] {reps} round(s) of {len(ARMS)} arms on {len(SPACES)} spaces ...", flush=True)
    warm_caches()
    load_before = os.getloadavg()
    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        for number, (space_name, space) in enumerate(SPACES.items()):
            outcomes: dict[str, list[object]] = {}
            work = Path(tmp) / f"space-{number}"
            work.mkdir()
            seconds = interleaved({name: arm(name, [*space, *extra], work, outcomes)
                                   for name, extra in ARMS.items()}, reps, verbose=True)
            base = seconds["every trial to epochs"]
            best = {name: float(str(outcomes[name][4])) for name in ARMS}
            sections += [
                f"### {space_name}: {TRIALS} trials, {EPOCHS} epochs, 800 / 500 images (median of {reps} rounds)",
                table(["arm", "wall time, s", "vs every trial to epochs", "epochs trained", "workers idle",
                       "winner", "val acc, %"],
                      [[name, seconds[name], seconds[name] / base, *outcomes[name][1:]] for name in ARMS]),
                f"Best validation accuracy, early stopping minus every trial to epochs: "
                f"{best['early stopping'] - best['every trial to epochs']:+.2f} points.",
            ]
    return "\n\n".join([*sections, f"Machine: {machine()}; load average before "
                                   f"{', '.join(f'{x:.1f}' for x in load_before)}"])


