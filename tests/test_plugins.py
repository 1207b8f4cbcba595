"""The project's Hydra plugins (hydra_plugins/): found from any folder under the README's own
install, and the launcher passing Hydra's own launcher test suite."""
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hydra.test_utils.launcher_common_tests import LauncherTestSuite
from hydra import version

from conftest import REPO, TINY, cli_env, sweep_metrics


@pytest.mark.parametrize("launcher_name, overrides", [
    ("submitit_local", ["hydra.launcher._target_=hydra_plugins.mnist_hydra_launcher.LocalLauncher"])])
class TestLocalLauncher(LauncherTestSuite):
    """Hydra's own launcher tests, run against the project's submitit launcher."""

    @pytest.fixture(autouse=True)
    def fresh_version_base(self, hydra_restore_singletons: None) -> None:
        """The suite expects a fresh process's version base, 1.1 (jobs chdir into their folder);
        the app's tests compose with version_base="1.3", which Hydra keeps process-wide."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "version_base=1.1 selects Hydra 1.1 compatibility behavior"
            version.setbase("1.1")


def _without_checkout(cwd: Path) -> dict[str, str]:
    """The environment of a user of the installed venv: nothing puts the checkout on the path."""
    env = cli_env(cwd)
    env.pop("PYTHONPATH")
    return env


@pytest.mark.slow
def test_the_sweeper_and_the_launchers_are_found_from_another_folder(tmp_path):
    where = subprocess.run([sys.executable, "-c", "import mnist_hydra; print(mnist_hydra.__file__)"], cwd=tmp_path,
                           env=_without_checkout(tmp_path), capture_output=True, text=True)
    if where.returncode != 0 or not Path(where.stdout.strip()).is_relative_to(REPO):
        pytest.skip(f"this venv has no editable install of {REPO} (make setup makes one)")
    proc = subprocess.run([sys.executable, "-m", "mnist_hydra.run", "--multirun", "hydra/sweeper=halving",
                           "+launcher=local", *TINY, "epochs=2", "lr=0.001,0.01", "hydra.sweep.dir=sweep"],
                          cwd=tmp_path, env=_without_checkout(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {m["status"] for m in sweep_metrics(tmp_path / "sweep").values()} == {"completed", "stopped"}
    assert json.loads((tmp_path / "sweep" / "halving.json").read_text())["rungs"][-1]["epochs"] == 2
    assert (tmp_path / "sweep" / ".submitit").is_dir()  # the jobs ran through the project's launcher
