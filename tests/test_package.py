"""What users install: a wheel built from the repo, installed outside the checkout, run from
another folder (an editable install would hide files that the wheel lacks)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

TINY = ["data=mnist_sample", "data.train_size=200", "data.val_size=100", "epochs=1"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The wheel installed into a target folder (no dependencies: the test venv has them)."""
    work = tmp_path_factory.mktemp("wheel")
    # Built from a copy without build/ and egg-info leftovers, which setuptools would reuse,
    # nor the checkout's venv and run folders (top level only: mnist_hydra/data/ is code).
    source = work / "source"
    local = {".git", ".venv", "build", "dist", "outputs", "multirun", "data", ".pytest_cache"}
    shutil.copytree(REPO, source, ignore=lambda folder, names: [
        name for name in names if (Path(folder) == REPO and name in local)
        or name == "__pycache__" or name.endswith(".egg-info")])
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(work / "dist"), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheel = next((work / "dist").glob("mnist_hydra-*.whl"))
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    # The checkout must not be importable: only the installed copy may answer.
    env = {**os.environ, "PYTHONPATH": str(target), "XDG_CACHE_HOME": str(work / ".cache")}
    env.pop("MNIST_ROOT", None)
    return target, env


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Nothing printed to a user names the checkout.
    assert str(REPO) not in proc.stdout + proc.stderr
    return proc


def test_the_installed_package_is_the_one_imported(installed, tmp_path):
    target, env = installed
    proc = _run([sys.executable, "-c", "import mnist_hydra.config as c; print(c.__file__); print(c.CONFIG_DIR)"],
                tmp_path, env)
    module_file, config_dir = proc.stdout.split()
    assert Path(module_file).is_relative_to(target) and Path(config_dir) == target / "mnist_hydra" / "conf"
    assert (Path(config_dir) / "model" / "stabilized.yaml").is_file()


def test_console_script_runs_a_job_from_another_folder(installed, tmp_path):
    target, env = installed
    _run([str(target / "bin" / "mnist-hydra"), *TINY, "hydra.run.dir=run"], tmp_path, env)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_run"] == 1
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / ".hydra" / "config.yaml").is_file()


def test_module_runs_a_sweep_and_the_summary_commands_work(installed, tmp_path):
    target, env = installed
    proc = _run([sys.executable, "-m", "mnist_hydra.run", "-m", *TINY, "lr=0.001,0.01", "hydra.sweep.dir=sweep"],
                tmp_path, env)
    assert (tmp_path / "sweep" / "summary.csv").is_file() and "lr=0.01" in proc.stdout
    assert {json.loads((tmp_path / "sweep" / job / "metrics.json").read_text())["status"]
            for job in ("0", "1")} == {"completed"}
    again = _run([str(target / "bin" / "mnist-summarize"), "sweep"], tmp_path, env)
    assert "2 runs (2 completed); swept: lr" in again.stdout and "Best: lr=0.0" in again.stdout
    evaluated = _run([str(target / "bin" / "mnist-eval"), "ckpt_path=sweep/0/best.pt", "hydra.run.dir=eval"],
                     tmp_path, env)
    assert json.loads((tmp_path / "eval" / "eval.json").read_text())["images"] == 1000
    assert "accuracy" in evaluated.stdout


def test_a_halving_sweep_runs_installed(installed, tmp_path):
    target, env = installed
    _run([str(target / "bin" / "mnist-hydra"), "-m", "hydra/sweeper=halving", *TINY, "epochs=2", "lr=0.001,0.01",
          "hydra.sweep.dir=sweep"], tmp_path, env)
    state = json.loads((tmp_path / "sweep" / "halving.json").read_text())
    assert [(rung["epochs"], len(rung["jobs"])) for rung in state["rungs"]] == [(1, 2), (2, 1)]
    assert (tmp_path / "sweep" / "summary.md").is_file()


def test_legacy_and_help_work_installed(installed, tmp_path):
    target, env = installed
    dry = _run([str(target / "bin" / "mnist-legacy"), "--lr", "0.01", "--dry-run"], tmp_path, env)
    assert "lr=0.01" in dry.stdout
    helped = _run([str(target / "bin" / "mnist-hydra"), "--help"], tmp_path, env)
    assert "debug: fast, limit, overfit" in helped.stdout and "base_" not in helped.stdout


def test_a_search_runs_installed(installed, tmp_path):
    target, env = installed
    _run([str(target / "bin" / "mnist-hydra"), "-m", "+hparams_search=optuna", "hydra.sweeper.n_trials=2",
          "optimizer=adam", *TINY, "hydra.sweep.dir=sweep"], tmp_path, env)
    assert json.loads((tmp_path / "sweep" / "search.json").read_text())["n_trials"] == 2
    assert (tmp_path / "sweep" / "optuna-journal.log").is_file() and (tmp_path / "sweep" / "summary.md").is_file()


def test_the_search_extra_keeps_the_optuna_already_installed(installed, tmp_path):
    """pip's own resolution, offline, into this environment (which holds a current Optuna):
    `.[search]` installs the project and nothing else; no Optuna downgrade, no Hydra Optuna sweeper."""
    target, _ = installed
    wheel = next((target.parent / "dist").glob("mnist_hydra-*.whl"))
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "-q", "--report", str(report),
                    f"{wheel}[search]"], check=True, capture_output=True)
    installs = [item["metadata"]["name"] for item in json.loads(report.read_text())["install"]]
    assert installs == ["mnist-hydra"], installs
