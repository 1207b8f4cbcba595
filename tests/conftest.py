"""Shared helpers (the one module tests import from; no test module imports another): compose
configs the way the app does, run the real CLI, and write sweep folders by hand."""
import contextlib
import csv
import functools
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import pytest
import yaml
from hydra import initialize_config_dir
from hydra.core.config_loader import ConfigLoader
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mnist_hydra.config import CONFIG_DIR, register_configs
from mnist_hydra.config import compose_config  # noqa: F401 - the tests' way to build configs

REPO = Path(__file__).resolve().parent.parent
# Tiny, fast settings on the shipped sample: a real run in a few seconds.
TINY = ["data=mnist_sample", "data.train_size=300", "data.val_size=100", "epochs=1",
        "optimizer=adam"]


# Test files in the order `make test` hands them to its workers (pytest-xdist, a file per worker):
# the SLURM tests first (they mostly wait for the cluster, so another worker's CPU work overlaps
# them), then the longest files as measured (2026-11-30, pinned workers: 75-210 s each), so
# that no worker is left with a long file at the end. Other files follow in their usual order.
LONGEST_FIRST = ("test_slurm.py", "test_faults.py", "test_halving.py", "test_search.py", "test_outside_faults.py",
                 "test_training.py", "test_sweeps.py", "test_resume.py", "test_legacy.py", "test_plugins.py")


# Under `make test` each pytest-xdist worker, and every process its tests start, keeps to a core of
# its own: two workers' torch thread pools on the same cores spin against each other (two training
# runs side by side measured 4x slower unpinned, 2026-11-30). Tests marked `all_cores` get them all.
# Where the OS has no CPU affinity (macOS) nothing is pinned.
PINNABLE = hasattr(os, "sched_setaffinity")
ALL_CORES = frozenset(os.sched_getaffinity(0)) if PINNABLE else frozenset()
WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ...: set in the workers only
if WORKER and PINNABLE:
    os.sched_setaffinity(0, {sorted(ALL_CORES)[int(WORKER.removeprefix("gw")) % len(ALL_CORES)]})


@pytest.fixture(autouse=True)
def _all_cores_if_marked(request: pytest.FixtureRequest):
    if not (PINNABLE and request.node.get_closest_marker("all_cores")):
        yield
        return
    own = os.sched_getaffinity(0)
    os.sched_setaffinity(0, ALL_CORES)
    try:
        yield
    finally:
        os.sched_setaffinity(0, own)


def pytest_collection_modifyitems(items: list) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


@functools.cache  # reading and hashing 55 MB takes a while: once per folder and process
def verified_mnist(folder: Path) -> bool:
    """Whether folder holds the four full MNIST files, each matching its pinned checksum (the
    data layer's own check)."""
    from mnist_hydra.data import FILES, DataError, find_file, idx  # torch: only where full data is asked for

    for name in FILES:
        path = find_file(folder, name)
        if path is None:
            return False
        try:
            idx.read_verified(path, idx.FULL_SHA256[name])
        except DataError:
            return False
    return True


def full_mnist_root(checkout_data: Path = REPO / "data") -> Path:
    """Where the full-data tests read MNIST: $MNIST_ROOT (CI sets it), else the checkout's ./data
    once `make run` has put the verified files there; without either the test is skipped."""
    if os.environ.get("MNIST_ROOT"):
        return Path(os.environ["MNIST_ROOT"])
    if verified_mnist(checkout_data):
        return checkout_data
    pytest.skip(f"full MNIST is needed: set MNIST_ROOT (CI does), or `make run` fetches it into {checkout_data}")


EPOCH_TAGS = ("Loss/train", "Loss/val", "Accuracy/train", "Accuracy/val")  # TensorBoard scalars per epoch


@contextlib.contextmanager
def multirun(overrides: Sequence[str]) -> Iterator[tuple[ConfigLoader, DictConfig]]:
    """Hydra's config loader and a multirun's own config, as Hydra composes it before the sweeper runs."""
    register_configs()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        yield loader, loader.load_configuration("config", list(overrides), run_mode=RunMode.MULTIRUN)


def cli_env(cwd: Path) -> dict[str, str]:
    """The environment of the app's subprocesses: this checkout importable, caches under cwd."""
    return {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(cwd / ".cache")}


def run_cli(args: list[str], cwd: Path, module: str = "mnist_hydra.run", **kwargs) -> subprocess.CompletedProcess:
    """The app as a user runs it, in a subprocess, from `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=cli_env(cwd),
        capture_output=True, text=True, timeout=kwargs.pop("timeout", 600), **kwargs,
    )


def start(args: list[str], cwd: Path, **kwargs) -> subprocess.Popen:
    """The app in the background, as a user starts it; SIGINT at its default (a shell's
    background job, a CI runner's, say, starts with it ignored)."""
    return subprocess.Popen([sys.executable, "-m", "mnist_hydra.run", *args], cwd=cwd, env=cli_env(cwd),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


def wait_for(predicate: Callable[[], bool], what: str, proc: Optional[subprocess.Popen] = None,
             timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended before {what}: {proc.communicate()[1][-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _command(module: str) -> Callable[[], object]:
    """What `python -m module` runs, less the exit hook (process.exit_quickly) of a process's end."""
    if module == "mnist_hydra.run":
        from mnist_hydra import app, guards

        return lambda: guards.run_app(app.task)  # app.main
    if module == "mnist_hydra.eval":
        from mnist_hydra import evaluate, guards

        return lambda: guards.run_app(evaluate.task, evaluate.PROG)  # evaluate.main
    if module == "mnist_hydra.legacy":
        from mnist_hydra.legacy.cli import main as legacy_main

        return lambda: sys.exit(legacy_main())  # mnist_hydra/legacy/__main__.py
    if module == "mnist_hydra.summarize":
        from mnist_hydra.sweep.__main__ import main as summarize_main

        return lambda: sys.exit(summarize_main())  # mnist_hydra/summarize.py
    raise ValueError(f"no in-process command for {module}")


@pytest.fixture
def cli_in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
                   ) -> Callable[..., subprocess.CompletedProcess]:
    """`python -m module args` from `cwd`, run in this process: the command's own function with
    sys.argv, the working folder and HYDRA_FULL_ERROR as the real process has them, its exit status
    from SystemExit and its output captured. For the checks before anything runs (a refusal, --help):
    no interpreter start, no import of torch and Hydra each time. Any other exception propagates,
    as the real process's traceback would. Hydra's global state and the logging set-up are restored."""
    from mnist_hydra import guards
    from mnist_hydra.rundir import folders

    def run(args: list[str], cwd: Path, module: str = "mnist_hydra.run") -> subprocess.CompletedProcess:
        command = _command(module)
        monkeypatch.chdir(cwd)
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, module
        main_file = Path(spec.origin).with_name("__main__.py") if spec.submodule_search_locations else spec.origin
        monkeypatch.setattr(sys, "argv", [str(main_file), *args])  # as `python -m module` sets it
        monkeypatch.setenv("HYDRA_FULL_ERROR", "0")  # as unset (guards.run_app sets it to 1); restored after
        monkeypatch.setattr(guards, "_sweep", {})
        for claims in ("_claimed", "_discarded", "_created_parents"):  # folders.py's, of this "process"
            monkeypatch.setattr(folders, claims, type(getattr(folders, claims))())
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        capsys.readouterr()
        status = 0
        try:
            command()
        except SystemExit as end:  # as the interpreter ends on it: None is 0, a message is printed and 1
            if isinstance(end.code, str):
                print(end.code, file=sys.stderr)
            status = end.code if isinstance(end.code, int) else int(end.code is not None)
        finally:
            folders._remove_unused()  # the exit hook: a refused sweep's folder is removed as the process ends
            GlobalHydra.instance().clear()
            root.handlers[:], root.level = handlers, level
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess([module, *args], status, out, err)

    return run


def event_files(run_dir: Path) -> list[Path]:
    """The run's TensorBoard event files: in a sub-folder named by its overrides."""
    return sorted(run_dir.rglob("events.out.tfevents.*"))


def tensorboard_run(run_dir: Path) -> Path:
    """The run's one TensorBoard folder (a resumed run adds a second event file to it)."""
    (folder,) = {events.parent for events in event_files(run_dir)}
    return folder


def epoch_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """The run's per-epoch TensorBoard scalars, (step, value) by tag."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tensorboard_run(run_dir)))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in EPOCH_TAGS}


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def sweep_metrics(sweep: Path) -> dict[int, dict]:
    """Each job folder's metrics.json, by job number (jobs without one are left out)."""
    jobs = sweep.iterdir() if sweep.exists() else []
    return {int(d.name): json.loads((d / "metrics.json").read_text())
            for d in jobs if d.name.isdigit() and (d / "metrics.json").exists()}


def summary_rows(sweep: Path) -> list[dict[str, str]]:
    return csv_rows(sweep / "summary.csv")


def kill_local_job(job_dir: Path) -> None:
    """SIGKILL the training process of a `+launcher=local` job, as the out-of-memory killer does.
    submitit's local job id is the pid of the job's controller; the training runs in its child."""
    controller = yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["id"]
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(controller)], capture_output=True,
                              text=True).stdout.split()
    assert len(children) == 1, children
    os.kill(int(children[0]), signal.SIGKILL)


def sweep_killing_job_1(args: list[str], cwd: Path, kill: Callable[[Path], None]) -> tuple[int, str]:
    """Run the sweep `python -m mnist_hydra.run --multirun ...args epochs=1,30` from cwd (its
    hydra.sweep.dir set by args); once job 1 has logged an epoch, kill it without warning
    with `kill(job 1's folder)`. Returns the sweep's exit status and output."""
    sweep = Path(next(a for a in args if a.startswith("hydra.sweep.dir=")).partition("=")[2])
    proc = subprocess.Popen([sys.executable, "-m", "mnist_hydra.run", "--multirun", *args, "epochs=1,30"],
                            cwd=cwd, env=cli_env(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        job1 = sweep / "1"
        while not ((job1 / "metrics.csv").exists() and csv_rows(job1 / "metrics.csv")):
            assert proc.poll() is None, f"the sweep ended before job 1 trained: {proc.communicate()[0][-3000:]}"
            assert time.monotonic() < deadline, "job 1 never trained"
            time.sleep(0.2)
        kill(job1)
        out, _ = proc.communicate(timeout=300)  # before the fix: it raised, or waited forever
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out


# -- hand-written sweep folders, as the app and Hydra write them -----------------------------------

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


def write_multirun_yaml(sweep: Path, task: list[str], hydra: Sequence[str] = (),
                        params: Optional[dict[str, str]] = None) -> None:
    """The part of Hydra's multirun.yaml the summary reads."""
    config = {"hydra": {"overrides": {"hydra": ["hydra.mode=MULTIRUN", *hydra], "task": task},
                        "sweeper": {"params": params}, "job": {"name": "mnist_hydra"}}}
    sweep.mkdir(parents=True, exist_ok=True)
    (sweep / "multirun.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
