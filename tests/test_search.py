"""The search sweeper (`+hparams_search=optuna`): Optuna's sampler with Hyperband brackets over
the rung engine, on the shipped sample."""
import json
import os
import re
import shlex
import signal
import subprocess
import sys

import pytest
import yaml

from conftest import (
    TINY, cli_env, csv_rows, kill_local_job, run_cli, start, summary_rows, sweep_metrics, wait_for,
)
from mnist_hydra.search import JOURNAL, bracket_sizes, plan_brackets, schedule_text
from mnist_hydra.sweep.analysis import build_summary
from mnist_hydra.sweep.plots import plot_bars, plot_curves

optuna = pytest.importorskip("optuna", reason="pip install -e '.[search]'")

# TINY less batch_size and optimizer, which the search chooses; one torch thread, so that a
# run's numbers do not depend on how many jobs share the machine.
FIXED = [o for o in TINY if not o.startswith(("batch_size=", "optimizer=", "epochs="))] + ["threads=1"]
SEARCH = ["--multirun", "+hparams_search=optuna", *FIXED]


def test_hyperband_splits_the_trials_between_brackets_in_its_proportions():
    assert bracket_sizes(17, [1, 3, 9], 3) == [9, 5, 3]  # one Hyperband iteration, exactly
    assert bracket_sizes(18, [1, 3, 9], 3) == [10, 5, 3]
    assert bracket_sizes(4, [1, 3, 9], 3) == [2, 1, 1]
    brackets = plan_brackets(18, 3, 1, 9, "val_acc", pruning=True)
    assert schedule_text(brackets) == "bracket 1: 10 x 1 -> 4 x 3 -> 2 x 9; bracket 2: 5 x 3 -> 2 x 9; bracket 3: 3 x 9"
    assert schedule_text(plan_brackets(18, 3, 1, 9, "val_acc", pruning=False)) == "bracket 1: 18 x 9"


@pytest.mark.parametrize("space, message", [
    ("lr=interval(0.1,0.01)", "lr: the interval's low (0.1) must be below its high (0.01)"),
    ("lr=tag(log,interval(0,0.1))", "lr: a log interval needs a positive low, got 0"),
    ("optimizer=choice(adam,nadam)", "optimizer=nadam"),
    ("hydra.sweeper.direction=minimize",
     "hydra.sweeper.direction=minimize contradicts metric=val_acc (maximized): leave direction out"),
    ("stop_at_epoch=1", "hydra/sweeper=search sets stop_at_epoch per rung; leave it out"),
])
def test_a_mistake_in_the_space_is_refused_in_one_line_before_any_trial(tmp_path, space, message):
    proc = run_cli([*SEARCH, "epochs=2", space, "hydra.sweep.dir=sweep"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("mnist-hydra: error:") and message in line, line
    assert not (tmp_path / "sweep").exists()


@pytest.mark.slow
def test_a_search_stops_hopeless_trials_tells_optuna_every_epoch_and_continues_survivors_exactly(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli([*SEARCH, "epochs=4", "hydra.sweeper.n_trials=6", "hydra.sweeper.eta=2", "hydra/launcher=joblib",
                    "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = sweep_metrics(sweep)
    assert sorted(metrics) == list(range(6))
    stopped = [job for job, m in metrics.items() if m["status"] == "stopped"]
    completed = [job for job, m in metrics.items() if m["status"] == "completed"]
    assert stopped and completed and len(stopped) + len(completed) == 6
    assert all(metrics[job]["epochs_run"] < 4 for job in stopped)
    assert all(metrics[job]["epochs_run"] == 4 for job in completed)

    # The stored study: a pruned trial's intermediate values are its per-epoch validation accuracy.
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(sweep / JOURNAL)))
    study = optuna.load_study(study_name="mnist_hydra", storage=storage)
    trials = {t.number: t for t in study.trials}
    assert {t.state.name for t in trials.values()} == {"PRUNED", "COMPLETE"}
    for job in stopped:
        curve = {int(r["epoch"]): float(r["val_acc"]) for r in csv_rows(sweep / str(job) / "metrics.csv")}
        assert trials[job].state.name == "PRUNED" and trials[job].intermediate_values == curve
    for job in completed:
        assert trials[job].state.name == "COMPLETE" and trials[job].value == metrics[job]["best_val_acc"]

    # A trial promoted from a rung (continued from its own last.pt) trained as an uninterrupted run.
    state = json.loads((sweep / "search.json").read_text())
    promoted = next(job for b in state["brackets"] for rung in b["rungs"][:-1] for job in rung["promoted"])
    assert metrics[promoted]["status"] == "completed"
    overrides = yaml.safe_load((sweep / str(promoted) / ".hydra" / "overrides.yaml").read_text())
    trained = [o for o in overrides if not o.startswith(("stop_at_epoch=", "resume=", "hydra.", "+hparams_search"))]
    single = run_cli([*trained, "hydra.run.dir=single"], cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    drop_time = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # noqa: E731
    assert drop_time(csv_rows(sweep / str(promoted) / "metrics.csv")) == drop_time(
        csv_rows(tmp_path / "single" / "metrics.csv"))

    rows = summary_rows(sweep)
    assert [r["status"] for r in rows[: len(completed)]] == ["completed"] * len(completed)
    assert re.search(r"Brackets \(Hyperband, eta 2, by best val_acc; trials x epochs\): 1: 2 x 1 -> 1 x 4; .*"
                     r"workers idle \d+% of the time", proc.stdout)
    best = next(line for line in proc.stdout.splitlines() if line.startswith("Best: lr="))
    lr = best.split(",")[0].removeprefix("Best: lr=")
    assert lr == f"{float(lr):.4g}" and len(lr) <= 10, lr  # 4 significant digits, not 15
    summary = build_summary(sweep)  # and so in the plots
    bars = plot_bars(summary, tmp_path / "bars.png").axes[0]
    assert all(len(label.get_text().split(" / ")[0]) <= 10 for label in bars.get_yticklabels())
    curves = plot_curves(summary, tmp_path / "curves.png")
    legend = [text.get_text() for text in curves.axes[0].get_legend().get_texts()] if curves else []
    assert any(entry.startswith(best.removeprefix("Best: ").split(" — ")[0] + " (") for entry in legend), legend
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == max(metrics[job]["best_val_acc"] for job in completed)


@pytest.mark.slow
def test_without_pruning_every_trial_trains_to_the_last_epoch(tmp_path):
    proc = run_cli([*SEARCH, "epochs=2", "hydra.sweeper.n_trials=3", "hydra.sweeper.pruning=false",
                    "hydra.sweep.dir=sweep"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = sweep_metrics(tmp_path / "sweep")
    assert [(m["status"], m["epochs_run"]) for m in metrics.values()] == [("completed", 2)] * 3


@pytest.mark.slow
def test_a_search_by_val_loss_minimises_it_without_being_told_the_direction(tmp_path):
    proc = run_cli([*SEARCH, "epochs=2", "hydra.sweeper.n_trials=2", "hydra.sweeper.pruning=false",
                    "hydra.sweeper.metric=val_loss", "hydra.sweep.dir=sweep"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "sweep" / JOURNAL)))
    study = optuna.load_study(study_name="mnist_hydra", storage=storage)
    assert study.direction.name == "MINIMIZE"
    for trial in study.trials:  # each told its lowest validation loss
        losses = [float(row["val_loss"]) for row in csv_rows(tmp_path / "sweep" / str(trial.number) / "metrics.csv")]
        assert trial.state.name == "COMPLETE" and trial.value == pytest.approx(min(losses), rel=1e-6)


@pytest.mark.slow
def test_a_trial_that_fails_is_told_failed_and_the_search_goes_on_under_submitit(tmp_path):
    """`+launcher=local` (submitit's local executor); half the sampled criteria do not exist."""
    losses = "choice(torch.nn.CrossEntropyLoss,torch.nn.NoSuchLoss)"
    proc = run_cli([*SEARCH, "epochs=2", "hydra.sweeper.n_trials=4", "hydra.sweeper.eta=2", "hydra.sweeper.n_jobs=2",
                    f"criterion._target_={losses}", "+launcher=local", "hydra.sweep.dir=sweep"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # a run failed
    metrics = sweep_metrics(tmp_path / "sweep")
    failed = {job for job, m in metrics.items() if m["status"] == "failed"}
    assert sorted(metrics) == [0, 1, 2, 3] and failed and failed != set(metrics), metrics
    assert all("NoSuchLoss" in metrics[job]["error"] for job in failed)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "sweep" / JOURNAL)))
    states = {t.number: t.state.name for t in optuna.load_study(study_name="mnist_hydra", storage=storage).trials}
    assert {job for job, state in states.items() if state == "FAIL"} == failed
    assert set(states.values()) - {"FAIL"} <= {"PRUNED", "COMPLETE"}


@pytest.mark.slow
def test_too_many_failed_trials_stop_new_ones_and_the_running_trials_finish(tmp_path):
    """max_failure_rate 0: after the first failed trial no trial is asked, said once; the
    survivor still trains to the last epoch. Trials never asked are no jobs of the summary."""
    losses = "choice(torch.nn.CrossEntropyLoss,torch.nn.NoSuchLoss)"  # random seed 1: trial 1 gets NoSuchLoss
    proc = run_cli([*SEARCH, "epochs=2", "hydra.sweeper.n_trials=6", "hydra.sweeper.eta=2",
                    "hydra.sweeper.max_failure_rate=0", "hydra/sweeper/sampler=random", "hydra.sweeper.sampler.seed=1",
                    f"criterion._target_={losses}", "hydra.sweep.dir=sweep"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = sweep_metrics(tmp_path / "sweep")
    assert {job: (m["status"], m.get("epochs_run")) for job, m in metrics.items()} == {
        0: ("completed", 2), 1: ("failed", None)}
    output = proc.stdout + proc.stderr
    assert output.count("1 trial(s) failed, more than max_failure_rate allows: no new trials") == 1, output[-3000:]
    assert [row["job"] for row in summary_rows(tmp_path / "sweep")] == ["0", "1"]
    assert "mnist-hydra: error: 1 job(s) without a result (job 1: failed: " in proc.stderr, proc.stderr[-3000:]


@pytest.mark.slow
def test_ctrl_c_then_resume_finishes_n_trials_without_retraining(tmp_path):
    # eta 4, 16 epochs, 5 trials: brackets 3 x 1 -> 1 x 16, 1 x 4 -> 1 x 16 and 1 x 16; Ctrl-C while
    # the first bracket's survivor trains to 16, before the last trial is asked.
    args = [*SEARCH, "epochs=16", "hydra.sweeper.n_trials=5", "hydra.sweeper.eta=4", "hydra.sweep.dir=sweep"]
    proc = start(args, tmp_path, start_new_session=True)
    sweep = tmp_path / "sweep"

    def state() -> dict:
        try:
            return json.loads((sweep / "search.json").read_text())
        except (OSError, ValueError):
            return {}

    def running_long() -> bool:  # a trial of the running wave has trained 3 epochs on its way to 16
        waves = state().get("waves", [])
        jobs = [job for job, epoch in waves[-1]["jobs"] if epoch == 16] if waves else []
        return bool(jobs) and len(csv_rows(p)) >= 3 if jobs and (p := sweep / str(jobs[0]) / "metrics.csv").exists() \
            else False

    wait_for(running_long, "a trial continuing to epoch 16", proc)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-3000:] + err[-3000:]
    command = next(line.strip() for line in err.splitlines() if line.strip().startswith("mnist-hydra "))
    interrupted = next(job for job, epoch in state()["waves"][-1]["jobs"] if epoch == 16)
    trained_before = len(csv_rows(sweep / str(interrupted) / "metrics.csv"))  # last.pt holds this or one less
    done = {job: (sweep / str(job) / "metrics.json").stat().st_mtime_ns for job, m in sweep_metrics(sweep).items()
            if job != interrupted}

    reseeded = run_cli([*shlex.split(command)[1:], "hydra.sweeper.sampler.seed=7"], cwd=tmp_path)
    assert reseeded.returncode == 1, reseeded.stdout[-3000:] + reseeded.stderr[-3000:]
    refused = r"^mnist-hydra: error: .*sweep holds a search with sampler=\{.*'seed': 1234.*\} \(now \{.*'seed': 7"
    assert re.search(refused, reseeded.stderr, re.MULTILINE), reseeded.stderr[-3000:]

    resumed = subprocess.run([sys.executable, "-m", "mnist_hydra.run", *shlex.split(command)[1:]], cwd=tmp_path,
                             env=cli_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    metrics = sweep_metrics(sweep)
    assert sorted(metrics) == [0, 1, 2, 3, 4]  # n_trials across the interruption
    assert {m["status"] for m in metrics.values()} <= {"stopped", "completed"}
    for job in state()["brackets"][0]["rungs"][0]["jobs"]:  # told before Ctrl-C: not trained again
        if job in done and metrics[job]["status"] == "stopped":
            assert (sweep / str(job) / "metrics.json").stat().st_mtime_ns == done[job]
    log = (sweep / str(interrupted) / "mnist_hydra.log").read_text()
    continued = int(re.findall(r"continuing .* after epoch (\d+)", log)[-1])
    assert trained_before - 1 <= continued <= trained_before and continued >= 2
    epochs = [int(r["epoch"]) for r in csv_rows(sweep / str(interrupted) / "metrics.csv")]
    assert epochs == list(range(1, 17))
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(sweep / JOURNAL)))
    trials = optuna.load_study(study_name="mnist_hydra", storage=storage).trials
    assert len(trials) == 5 and {t.state.name for t in trials} <= {"PRUNED", "COMPLETE"}
    # The resumed sampler went on from its stored random state: the trials hold its seed's first
    # five draws (TPE's startup trials are random), as an uninterrupted search's do; a new sampler
    # of the same seed would have drawn trial 0's values again for trial 4.
    fresh = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1234))
    assert [t.params for t in trials] == [fresh.ask(trials[0].distributions).params for _ in trials]


@pytest.mark.slow
def test_a_trial_whose_job_was_killed_runs_again_on_resume_from_its_last_epoch(tmp_path):
    """`+launcher=local`: SIGKILL of one trial's process, as the out-of-memory killer or a lost
    node ends it. The search records it failed and ends with the resume command; resumed, the
    job continues from its last.pt in its own folder as a new Optuna trial with its values."""
    sweep = tmp_path / "sweep"
    proc = start([*SEARCH, "epochs=30", "hydra.sweeper.n_trials=2", "hydra.sweeper.pruning=false",
                  "hydra.sweeper.n_jobs=2", "+launcher=local", f"hydra.sweep.dir={sweep}"], tmp_path)
    wait_for(lambda: (sweep / "1" / "metrics.csv").exists() and len(csv_rows(sweep / "1" / "metrics.csv")) >= 2,
             "trial 1 training", proc)
    kill_local_job(sweep / "1")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, out[-3000:] + err[-3000:]
    assert sweep_metrics(sweep)[1]["status"] == "failed"
    command = re.search(r"(mnist-hydra --multirun .*resume=true.*)$", err, re.MULTILINE)
    assert command, err[-3000:]
    finished = (sweep / "0" / "metrics.json").stat().st_mtime_ns

    resumed = subprocess.run([sys.executable, "-m", "mnist_hydra.run", *shlex.split(command.group(1))[1:]],
                             cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    metrics = sweep_metrics(sweep)
    assert [metrics[job]["status"] for job in (0, 1)] == ["completed", "completed"] and sorted(metrics) == [0, 1]
    assert (sweep / "0" / "metrics.json").stat().st_mtime_ns == finished  # not run again
    assert re.search(r"continuing .* after epoch ([1-9]|[12]\d)", (sweep / "1" / "mnist_hydra.log").read_text())
    assert [int(r["epoch"]) for r in csv_rows(sweep / "1" / "metrics.csv")] == list(range(1, 31))
    trials = optuna.load_study(study_name="mnist_hydra", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(sweep / JOURNAL)))).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[2].params == trials[1].params and trials[2].value == metrics[1]["best_val_acc"]
    assert json.loads((sweep / "search.json").read_text())["reruns"] == [[1, 2]]
