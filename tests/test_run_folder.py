"""Where a run folder goes (mnist_hydra/rundir/folders.py): a current folder that cannot hold one."""
import re
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from conftest import TINY, run_cli

REFUSAL = re.compile(r"mnist-hydra: error: (?P<reason>.+), so (?P<folder>\S+) cannot be created; "
                     r"run from a writable folder or choose another hydra\.run\.dir / hydra\.sweep\.dir")


@pytest.fixture
def read_only_cwd(tmp_path: Path) -> Iterator[Path]:
    """A folder on a file system mounted read-only: unlike chmod -w, it stops root too."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    for args in (["-t", "tmpfs", "-o", "size=1m", "tmpfs"], ["-o", "remount,ro"]):
        mounted = subprocess.run(["mount", *args, str(folder)], capture_output=True, text=True)
        if mounted.returncode != 0:
            subprocess.run(["umount", str(folder)], capture_output=True)
            pytest.skip(f"cannot mount a read-only tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _refused_in_one_line(stderr: str, cwd: Path, top: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr[-3000:]  # no InterpolationResolutionError traceback
    refusal = REFUSAL.fullmatch(lines[0])
    assert refusal is not None, lines[0]
    assert refusal["reason"] == f"{cwd} is not writable"
    assert re.fullmatch(rf"{top}/\d{{4}}-\d\d-\d\d/\d\d-\d\d-\d\d", refusal["folder"]), refusal["folder"]


def test_a_read_only_current_folder_ends_a_run_in_one_line(read_only_cwd):
    proc = run_cli([*TINY], cwd=read_only_cwd, timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    _refused_in_one_line(proc.stderr, read_only_cwd, "outputs")


@pytest.mark.parametrize("args, module, top", [
    (["--multirun", *TINY, "lr=0.001,0.01"], "mnist_hydra.run", "multirun"),
    (["ckpt_path=best.pt"], "mnist_hydra.eval", "outputs/eval"),
])
def test_a_read_only_current_folder_ends_a_sweep_or_an_evaluation_in_one_line(read_only_cwd, cli_in_process, args,
                                                                               module, top):
    proc = cli_in_process(args, cwd=read_only_cwd, module=module)
    assert proc.returncode == 1, proc.stderr[-3000:]
    _refused_in_one_line(proc.stderr, read_only_cwd, top)
