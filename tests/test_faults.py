"""Issue 11 with the real failures: concurrent invocations, killed processes, signals,
file modes, diverged runs and bad input, each through the real CLI in its own processes."""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from conftest import (
    EPOCH_TAGS, TINY, cli_env, csv_rows, event_files, run_cli, start, summary_rows, tensorboard_run, wait_for,
)
from mnist_hydra.rundir.writer import load_checkpoint, save_checkpoint


def epochs_logged(run_dir: Path) -> int:
    path = run_dir / "metrics.csv"
    return len(csv_rows(path)) if path.exists() else 0


def strict_json(path: Path) -> dict:
    """Parse as a strict parser (JavaScript's JSON.parse) would: NaN and Infinity are errors."""
    def refuse(constant: str) -> None:
        raise ValueError(f"{path}: {constant} is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def overrides(job_dir: Path) -> list[str]:
    return yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())


def folders(cwd: Path) -> list[Path]:
    """Every run or sweep folder the app could have left in cwd."""
    return [p for top in ("outputs", "multirun") if (cwd / top).exists() for p in (cwd / top).rglob("*")]


# -- 1. two invocations started in the same second -------------------------------------------

@pytest.mark.slow
def test_two_sweeps_resolving_one_folder_name_get_their_own_folders(tmp_path):
    """Two sweeps started in the same second resolve the default multirun/<date>/<time> to one
    name; which second each resolves in cannot be pinned from outside, so both ask the same
    resolver for one fixed name here: the collision is certain. The second claimant gets
    <name>-1; each job folder holds its own sweep's config and results."""
    common = [*TINY, "threads=1", "hydra.sweep.dir=${mnist_hydra.unique_dir:multirun/same}"]
    sweeps = {"simple": ["--multirun", "lr=0.001,0.002", *common],
              "baseline": ["--multirun", "lr=0.01,0.02", "model=baseline", *common]}
    procs = {name: start(args, tmp_path) for name, args in sweeps.items()}
    outs = {name: proc.communicate(timeout=600) for name, proc in procs.items()}
    for name, proc in procs.items():
        assert proc.returncode == 0, outs[name][1][-3000:]

    sweep_dirs = sorted((tmp_path / "multirun").iterdir())
    assert [d.name for d in sweep_dirs] == ["same", "same-1"]
    seen = {}
    for sweep in sweep_dirs:
        jobs = sorted(p for p in sweep.iterdir() if p.name.isdigit())
        assert [j.name for j in jobs] == ["0", "1"], sweep
        kind = "baseline" if "model=baseline" in overrides(jobs[0]) else "simple"
        assert kind not in seen, "both sweeps wrote one folder"
        seen[kind] = sweep
        for job in jobs:
            metrics = strict_json(job / "metrics.json")
            assert metrics["status"] == "completed"
            assert metrics["overrides"] == overrides(job)  # results and config of the same run
            lr = next(o for o in overrides(job) if o.startswith("lr="))
            assert lr.removeprefix("lr=") in sweeps[kind][1].removeprefix("lr=").split(",")
            state = torch.load(job / "best.pt", map_location="cpu", weights_only=True)
            target = state["config"]["model"]["_target_"]
            assert target.endswith("ExperimentalCNN" if kind == "baseline" else "SimpleCNN"), (job, target)
        assert len(summary_rows(sweep)) == 2
    assert set(seen) == {"simple", "baseline"}
    for name, (stdout, _) in outs.items():
        assert str(seen[name].relative_to(tmp_path)) in stdout  # each names its own folder


@pytest.mark.slow
def test_two_runs_resolving_the_same_folder_name_never_share_it(tmp_path):
    """The claim itself, made to collide for certain: both processes ask the resolver for
    the same name at once; one gets it, the other the name with -1."""
    base = "${mnist_hydra.unique_dir:outputs/same}"
    procs = [start([*TINY, "threads=1", f"seed={seed}", f"hydra.run.dir={base}"], tmp_path) for seed in (1, 2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    dirs = sorted((tmp_path / "outputs").iterdir())
    assert [d.name for d in dirs] == ["same", "same-1"]
    assert sorted(strict_json(d / "metrics.json")["seed"] for d in dirs) == [1, 2]
    for d in dirs:
        assert f"seed={strict_json(d / 'metrics.json')['seed']}" in overrides(d)


@pytest.mark.slow
def test_a_finished_run_of_another_config_is_not_overwritten(tmp_path):
    run_dir = tmp_path / "run"
    first = run_cli([*TINY, f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}

    for extra in ([], ["resume=true"]):  # another config: refused with or without resume
        other = run_cli([*TINY, "lr=0.01", *extra, f"hydra.run.dir={run_dir}"], cwd=tmp_path)
        assert other.returncode == 1
        assert "already holds" in other.stderr and "Traceback" not in other.stderr
        assert {p.name: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before

    same = run_cli([*TINY, "resume=true", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    assert (run_dir / "metrics.json").read_bytes() == before["metrics.json"]


# -- 3. joblib workers die with the main process ------------------------------------------------

def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (ppid, state, command line), from /proc: whole command lines, whatever the
    terminal's width (`ps -o args` cuts them at COLUMNS, and `loky` with them)."""
    table = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():  # self, meminfo, ...
            continue
        try:
            # stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses
            state, ppid = (proc / "stat").read_text().rpartition(")")[2].split()[:2]
            args = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError):  # not a process, or it just ended
            continue
        table[int(proc.name)] = (int(ppid), state, args)
    return table


def _descendants(root: int) -> list[int]:
    table = _processes()
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _, _) in table.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return not re.search(r"^State:\s+Z", status, re.M)


@pytest.mark.slow
def test_killing_a_joblib_sweeps_main_process_stops_its_workers(tmp_path):
    sweep = tmp_path / "sweep"
    proc = start(["--multirun", "seed=1,2", *TINY, "epochs=200", "threads=1", "hydra/launcher=joblib",
                  "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}"], tmp_path, start_new_session=True)
    workers: list[int] = []
    try:
        wait_for(lambda: all(epochs_logged(sweep / j) >= 1 for j in ("0", "1")), "both jobs training", proc)
        table = _processes()
        workers += [pid for pid in _descendants(proc.pid) if "loky" in table.get(pid, (0, "", ""))[2]
                   and "resource_tracker" not in table[pid][2]]
        assert len(workers) >= 2, {pid: table.get(pid) for pid in _descendants(proc.pid)}
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, as the OOM killer would
        proc.communicate(timeout=30)
        wait_for(lambda: not any(_alive(pid) for pid in workers), "the workers to exit", timeout=10)
        rows = {j: epochs_logged(sweep / j) for j in ("0", "1")}
        time.sleep(2)
        assert {j: epochs_logged(sweep / j) for j in ("0", "1")} == rows, "something still trains"
    finally:  # whatever this test started and is still running
        if proc.poll() is None:
            workers += _descendants(proc.pid)
            proc.kill()
            proc.communicate()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_watches_its_parent_with_one_thread_however_many_jobs_it_runs(tmp_path):
    code = ("import threading; from mnist_hydra.process import WATCHER, exit_with_parent\n"
            "for job in range(3): exit_with_parent()\n"
            "print(sum(thread.name == WATCHER for thread in threading.enumerate()))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "1"


# -- 4. a rerun folder holds one TensorBoard history ---------------------------------------------

@pytest.mark.slow
def test_a_rerun_after_sigkill_leaves_one_event_file_and_one_history(tmp_path):
    run_dir = tmp_path / "run"
    args = [*TINY, "epochs=30", "threads=1", f"hydra.run.dir={run_dir}"]
    proc = start(args, tmp_path)
    wait_for(lambda: epochs_logged(run_dir) >= 2, "two epochs", proc)
    proc.kill()
    proc.communicate(timeout=30)
    assert len(event_files(run_dir)) == 1

    rerun = run_cli([*TINY, "epochs=2", "threads=1", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert len(event_files(run_dir)) == 1
    events = EventAccumulator(str(tensorboard_run(run_dir)))
    events.Reload()
    for tag in EPOCH_TAGS:
        assert [e.step for e in events.Scalars(tag)] == [1, 2], tag
    assert [int(r["epoch"]) for r in csv_rows(run_dir / "metrics.csv")] == [1, 2]


@pytest.mark.slow
def test_a_run_in_a_folder_holding_other_runs_keeps_their_event_files(tmp_path):
    """A run pointed at a folder that holds a sweep's job folders, or the old tool's run
    folders (its `log_dir` layout), removes no event file of theirs."""
    folder = tmp_path / "runs"
    for other in ("0/lr=0.001", "1/lr=0.01", "lr_0.001_bs_16"):  # two jobs' TensorBoard folders, an old run
        with SummaryWriter(log_dir=str(folder / other)) as writer:
            writer.add_scalar("Loss/train", 1.0, 1)
    for job in ("0", "1"):
        (folder / job / "metrics.json").write_text('{"status": "completed"}')
    others = {p: p.read_bytes() for p in event_files(folder)}
    assert len(others) == 3

    proc = run_cli([*TINY, f"hydra.run.dir={folder}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {p: p.read_bytes() for p in event_files(folder) if p in others} == others
    assert len(event_files(folder)) == 4  # and the run's own


# -- 5. files honour the umask; 14. best.pt holds the drawn seed ----------------------------------

@pytest.fixture(scope="module")
def shared_run():
    """A run made under umask 022 in a folder other users may enter, with seed=null."""
    top = Path(tempfile.mkdtemp(prefix="mnist-hydra-umask-"))
    top.chmod(0o755)
    try:
        run_dir = top / "run"
        env = cli_env(top)
        proc = subprocess.run([sys.executable, "-m", "mnist_hydra.run", *TINY, "seed=null", f"hydra.run.dir={run_dir}"],
                              cwd=top, env=env, capture_output=True, text=True, timeout=300,
                              preexec_fn=lambda: os.umask(0o022))
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield run_dir
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.slow
def test_results_honour_the_umask_and_another_user_can_read_them(shared_run):
    for name in ("metrics.json", "best.pt", "metrics.csv", "mnist_hydra.log"):
        mode = (shared_run / name).stat().st_mode & 0o777
        assert mode == 0o644, f"{name}: {oct(mode)}"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("reading as another user needs root and runuser")
    for name in ("metrics.json", "best.pt"):
        read = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(shared_run / name)],
                              capture_output=True, timeout=30)
        assert read.returncode == 0, read.stderr
        assert read.stdout == (shared_run / name).read_bytes()


@pytest.mark.slow
def test_best_pt_holds_the_drawn_seed(shared_run):
    metrics = strict_json(shared_run / "metrics.json")
    state = torch.load(shared_run / "best.pt", map_location="cpu", weights_only=True)
    assert isinstance(metrics["seed"], int)
    assert state["config"]["seed"] == metrics["seed"]
    assert "seed=null" in metrics["overrides"]


# -- 6. a diverged run's metrics.json is strict JSON and says what happened ----------------------

@pytest.mark.slow
def test_diverged_runs_write_strict_json_with_the_epochs_before_the_divergence(tmp_path):
    """SGD on the sample, one thread: lr=1 is non-finite in epoch 1, lr=0.3 in epoch 2."""
    sweep = tmp_path / "sweep"
    proc = run_cli(["--multirun", "lr=1,0.3", *TINY, "optimizer=sgd", "epochs=3", "threads=1", "device=cpu",
                    f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]  # diverged is a result, not a failure
    first, later = (strict_json(sweep / j / "metrics.json") for j in ("0", "1"))

    assert first["status"] == "diverged" and first["epochs_run"] == 1
    assert first["best_val_acc"] is None and first["best_epoch"] is None
    assert first["convergence_epoch"] is None and first["final_train_loss"] is None
    assert first["test_acc"] is None and not (sweep / "0" / "best.pt").exists()

    rows = csv_rows(sweep / "1" / "metrics.csv")
    assert later["status"] == "diverged" and later["epochs_run"] == 2 == len(rows)
    assert rows[1]["train_loss"] == "nan"
    assert later["best_epoch"] == 1 and later["best_val_acc"] == pytest.approx(float(rows[0]["val_acc"]))
    assert later["convergence_epoch"] is None and later["final_train_loss"] is None
    assert isinstance(later["test_acc"], float)  # the epoch-1 weights were tested
    assert torch.load(sweep / "1" / "best.pt", weights_only=True)["epoch"] == 1

    summary = strict_json(sweep / "summary.json")  # the sweep's files are strict JSON too
    assert (summary["runs"], summary["status_counts"], summary["unfinished_jobs"]) == (2, {"diverged": 2}, [])


# -- 7, 8, 9. bad input: one message, exit 1, no folder ------------------------------------------
# One case of each kind through a real process (run_cli); the others in this one (cli_in_process).

def _refused(run: Callable[..., Any], tmp_path: Path, args: list[str], *expected: str) -> str:
    proc = run(args, cwd=tmp_path, **({"timeout": 120} if run is run_cli else {}))
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr
    assert folders(tmp_path) == [], f"left behind: {folders(tmp_path)}"
    assert "Instantiating" not in proc.stdout + proc.stderr  # refused before anything was built
    return proc.stderr


UNKNOWN_KEYS = [
    ("+foo=1", "foo"),
    ("+data.trian_size=500", "trian_size"),
    ("+model.dropout=0.5", "dropout"),  # simple_cnn has no dropout
    ("data.trian_size=500", "trian_size"),  # without +: Hydra's own error
]


def _an_unknown_key_is_refused_at_start(run: Callable[..., Any], tmp_path: Path, override: str, key: str) -> None:
    stderr = _refused(run, tmp_path, [*TINY, override], key)
    if override.startswith("+"):  # the app's check: one line (Hydra's own error has its format)
        assert len(stderr.strip().splitlines()) == 1, stderr


def test_an_unknown_key_is_refused_at_start_in_a_real_process(tmp_path):
    _an_unknown_key_is_refused_at_start(run_cli, tmp_path, *UNKNOWN_KEYS[0])


@pytest.mark.parametrize("override, key", UNKNOWN_KEYS[1:])
def test_an_unknown_key_is_refused_at_start(tmp_path, cli_in_process, override, key):
    _an_unknown_key_is_refused_at_start(cli_in_process, tmp_path, override, key)


@pytest.mark.parametrize("override, key", [  # through a real process: tests/test_run.py (lr=-1)
    ("lr=0", "lr=0"), ("epochs=0", "epochs=0"), ("model.dropout=1.5", "model.dropout=1.5"),
])
def test_an_out_of_range_value_gives_one_message_and_no_folder(tmp_path, cli_in_process, override, key):
    extra = ["model=baseline"] if override.startswith("model.") else []
    stderr = _refused(cli_in_process, tmp_path, [*TINY, *extra, override], key)
    assert stderr.count(key) == 1, stderr  # said once, not twice
    assert len(stderr.strip().splitlines()) == 1, stderr


def _a_file_where_the_date_folder_goes_ends_the_run_at_once(run: Callable[..., Any], tmp_path: Path, key: str,
                                                             folder: str) -> None:
    """The folder resolver tried <time>-1, -2, ... forever when a parent was a file."""
    (tmp_path / "blocked").write_text("not a folder")
    sweep = ["--multirun", "lr=0.001,0.01"] if key == "hydra.sweep.dir" else []
    proc = run([*sweep, *TINY, f"{key}=${{mnist_hydra.unique_dir:{folder}}}"], cwd=tmp_path,
               **({"timeout": 60} if run is run_cli else {}))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip() == (f"mnist-hydra: error: blocked is a file, not a folder, so {folder} cannot be "
                                   "created; move the file away or choose another hydra.run.dir / hydra.sweep.dir")
    assert (tmp_path / "blocked").read_text() == "not a folder"


def test_a_file_where_the_date_folder_goes_ends_the_run_at_once_in_a_real_process(tmp_path):
    # as outputs/<date>/<time> with <date> a file
    _a_file_where_the_date_folder_goes_ends_the_run_at_once(run_cli, tmp_path, "hydra.run.dir", "blocked/run")


def test_a_file_where_the_date_folder_goes_ends_the_sweep_at_once(tmp_path, cli_in_process):
    _a_file_where_the_date_folder_goes_ends_the_run_at_once(cli_in_process, tmp_path, "hydra.sweep.dir",
                                                            "blocked/day/sweep")  # a file further up


def test_a_sweep_refused_for_a_type_error_leaves_no_folder(tmp_path, cli_in_process):
    # through a real process: test_mistakes.py's sweep refused before any job
    proc = cli_in_process(["--multirun", *TINY, "batch_size=16,1.5"], cwd=tmp_path)
    assert proc.returncode != 0
    assert "batch_size" in proc.stderr
    assert folders(tmp_path) == [], f"left behind: {folders(tmp_path)}"


# -- 13. Ctrl-C mid-sweep -------------------------------------------------------------------------

class SignalRaised(Exception):
    """What the test's signal handler raises, as submitit's time-limit handler raises its error."""


def test_a_signal_during_a_checkpoint_write_surfaces_as_itself_and_leaves_no_half_file(tmp_path):
    """A signal handler that raises while torch.save writes (Ctrl-C, submitit's time limit)
    must end the write with that exception, not with torch's RuntimeError 'unexpected pos',
    which the run would record as an unrelated failure (seen in CI). The signal lands at ten
    points spread over the write; each time the file is complete or absent, never half."""
    payload = {"weights": torch.arange(4_000_000)}  # 32 MB: a write long enough to land in
    path = tmp_path / "best.pt"
    started = time.perf_counter()
    save_checkpoint(path, payload)
    seconds = time.perf_counter() - started
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: (_ for _ in ()).throw(SignalRaised()))
    ended_a_write = 0  # signals that surfaced from save_checkpoint (the others came after it)
    try:
        for step in range(10):
            path.unlink(missing_ok=True)
            timer = threading.Timer(seconds * step / 10, os.kill, (os.getpid(), signal.SIGUSR2))
            written = False
            try:
                timer.start()
                save_checkpoint(path, payload)
                written = True
                while timer.is_alive():  # a late signal lands here, after the write
                    time.sleep(0.01)
            except SignalRaised:
                ended_a_write += not written
            if path.exists():
                assert torch.equal(load_checkpoint(path)["weights"], payload["weights"])
            assert not list(tmp_path.glob(".*.tmp")), "a temp file was left behind"
    finally:
        signal.signal(signal.SIGUSR2, previous)
    print(f"{ended_a_write} of 10 signals ended a write")
    assert ended_a_write >= 1, "no signal landed during a write: nothing was tested"


@pytest.mark.slow
def test_ctrl_c_mid_sweep_prints_the_resume_command_and_it_finishes_the_sweep(tmp_path):
    args = ["--multirun", "seed=1,2,3", *TINY, "epochs=8", "threads=1"]  # default folder
    proc = start(args, tmp_path, start_new_session=True)
    day = tmp_path / "multirun"
    job_dirs = lambda: sorted(day.glob("*/*/[0-9]*"))  # noqa: E731
    wait_for(lambda: any((d / "metrics.json").exists() for d in job_dirs())
             and any(epochs_logged(d) >= 1 and not (d / "metrics.json").exists() for d in job_dirs()),
             "job 0 done and job 1 training", proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out[-3000:] + err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    (sweep,) = [p for p in day.glob("*/*") if p.is_dir()]
    sweep_rel = str(sweep.relative_to(tmp_path))
    assert f"interrupted. Finished jobs keep their results in {sweep_rel}" in err, err
    assert len(err.strip().splitlines()) <= 6, err
    command = next(line.strip() for line in err.splitlines() if line.strip().startswith("mnist-hydra "))
    argv = shlex.split(command)
    assert "resume=true" in argv and f"hydra.sweep.dir={sweep_rel}" in argv
    finished = {d.name: (d / "metrics.json").stat().st_mtime_ns for d in job_dirs() if (d / "metrics.json").exists()}
    assert 1 <= len(finished) < 3

    console = Path(sys.executable).parent / "mnist-hydra"
    assert console.exists(), "the console script the message names"
    resumed = subprocess.run([str(console), *argv[1:]], cwd=tmp_path, env=cli_env(tmp_path), capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = {d.name: strict_json(d / "metrics.json") for d in sorted(sweep.iterdir()) if d.name.isdigit()}
    assert sorted(final) == ["0", "1", "2"] and {m["status"] for m in final.values()} == {"completed"}
    for job, stamp in finished.items():
        assert (sweep / job / "metrics.json").stat().st_mtime_ns == stamp, f"job {job} was retrained"
        assert "already holds a completed run of this config; skipped" in (sweep / job / "mnist_hydra.log").read_text()
    assert [p for p in day.glob("*/*") if p.is_dir()] == [sweep], "the resume made a new folder"
    rows = summary_rows(sweep)
    assert len(rows) == 3 and "seed" in rows[0] and "resume" not in rows[0], rows[0]  # what was swept: seed only
