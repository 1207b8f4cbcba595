"""Faults of the outside world during a sweep: a full disk, a job folder that cannot be created
or written, a read-only sweep folder. Finished runs keep valid files, the failing job is
recorded where anything can still be written, the other jobs and the summary go on, and the
sweep exits 1 with one line naming the job and the command that resumes the sweep.

Real processes on real mounts: the tests run as root, whom permission bits do not stop, so a
read-only folder is a tmpfs remounted read-only; where mounting is impossible they skip.
"""
import json
import shlex
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from conftest import TINY, run_cli, sweep_metrics, summary_rows

SWEEP = ["--multirun", "seed=1,2,3", *TINY, "threads=1"]  # 3 jobs; best.pt of SimpleCNN: 4.8 MB
ERROR = "mnist-hydra: error: "
RESUME = "Fix the cause, then resume (finished runs are skipped): "


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """The test's mount points, unmounted at its end."""
    mounted: list[Path] = []
    yield mounted
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here (mount {' '.join(args)}): {done.stderr.strip() or done.returncode}")


def tmpfs(path: Path, size: str, mounted: list[Path]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    mounted.append(path)
    return path


def remount(path: Path, options: str) -> None:
    mount("-o", f"remount,{options}", str(path))


def fault_line(result: subprocess.CompletedProcess, sweep: Path, job: int, why: str) -> list[str]:
    """The sweep exited 1 without a traceback, on one line naming job `job` with `why`, where
    the finished runs are, and the resume command, whose arguments are returned."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith(ERROR)]
    assert f"job {job}: " in line and why in line, line
    assert f"finished runs keep their results in {sweep}" in line, line
    argv = shlex.split(line.partition(RESUME)[2])
    assert argv[0] == "mnist-hydra" and "resume=true" in argv and f"hydra.sweep.dir={sweep}" in argv, line
    return argv


def resume(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The resume command the message gave (`mnist-hydra` is `python -m mnist_hydra.run`)."""
    return run_cli(argv[1:], cwd)


def statuses(sweep: Path) -> dict[int, str]:
    return {job: metrics["status"] for job, metrics in sweep_metrics(sweep).items()}


@pytest.mark.slow
def test_a_full_disk_fails_the_jobs_it_stops_keeps_the_finished_run_and_resumes_once_freed(tmp_path, mounts):
    sweep = tmpfs(tmp_path / "sweep", "6M", mounts)  # room for one best.pt

    result = run_cli([*SWEEP, f"hydra.sweep.dir={sweep}"], tmp_path)

    argv = fault_line(result, sweep, 1, "No space left on device")
    done = statuses(sweep)
    assert done[0] == "completed" and "failed" in done.values(), done
    from mnist_hydra.rundir.writer import load_checkpoint  # torch

    assert load_checkpoint(sweep / "0" / "best.pt")["config"]["seed"] == 1  # a whole, valid file
    json.loads((sweep / "0" / "metrics.json").read_text())
    assert not list(sweep.rglob("*.tmp")), "a half-written file was left"
    kept = (sweep / "0" / "metrics.json").stat().st_mtime_ns

    remount(sweep, "size=64M")  # space freed
    resumed = resume(argv, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert statuses(sweep) == {0: "completed", 1: "completed", 2: "completed"}
    assert (sweep / "0" / "metrics.json").stat().st_mtime_ns == kept, "the finished run was retrained"


@pytest.mark.slow
def test_a_full_disk_ends_a_single_run_in_one_line_with_the_command_that_goes_on(tmp_path, mounts):
    run_dir = tmpfs(tmp_path / "run", "6M", mounts)  # best.pt fits, last.pt (with Adam's state) does not

    result = run_cli([*TINY, "epochs=2", "threads=1", f"hydra.run.dir={run_dir}"], tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output[-3000:]
    (line,) = [line for line in result.stderr.splitlines() if line.startswith(ERROR)]
    assert "No space left on device" in line and f"keeps its results in {run_dir}" in line, line
    argv = shlex.split(line.partition(RESUME)[2])
    assert "resume=true" in argv and f"hydra.run.dir={run_dir}" in argv, line
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "failed"

    remount(run_dir, "size=64M")
    resumed = resume(argv, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "completed"


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], ["+launcher=local"]],
                         ids=["basic", "joblib", "submitit_local"])
def test_a_file_where_a_job_folder_goes_fails_that_job_alone(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "1").write_text("not a folder\n")

    result = run_cli([*SWEEP, *launcher, f"hydra.sweep.dir={sweep}"], tmp_path)

    argv = fault_line(result, sweep, 1, f"no folder ({sweep / '1'} is a file)")
    assert statuses(sweep) == {0: "completed", 2: "completed"}
    # The job that could not write a record of its own is in the sweep's summary, with the reason.
    rows = {row["job"]: row for row in summary_rows(sweep)}
    assert rows["1"]["status"] == "missing" and rows["1"]["error"] == f"no folder ({sweep / '1'} is a file)"
    assert list(rows) == ["0", "2", "1"] and rows["1"]["seed"] == ""  # it used no seed
    assert "| 1 | 2 | missing |" in (sweep / "summary.md").read_text()  # the seed it was to use
    if not launcher:  # the resume command, once the file is gone (the same under every launcher)
        (sweep / "1").unlink()
        resumed = resume(argv, tmp_path)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert statuses(sweep) == {0: "completed", 1: "completed", 2: "completed"}


@pytest.mark.slow
def test_a_job_folder_that_cannot_be_written_fails_that_job_alone(tmp_path, mounts):
    sweep = tmp_path / "sweep"
    job_1 = tmpfs(sweep / "1", "1M", mounts)
    remount(job_1, "ro")

    result = run_cli([*SWEEP, f"hydra.sweep.dir={sweep}"], tmp_path)

    fault_line(result, sweep, 1, f"({job_1} is not writable)")
    assert statuses(sweep) == {0: "completed", 2: "completed"}
    assert (sweep / "summary.csv").exists()


@pytest.mark.slow
def test_a_read_only_sweep_folder_is_refused_in_one_line_and_resumes_once_writable(tmp_path, mounts):
    sweep = tmpfs(tmp_path / "sweep", "64M", mounts)
    first = run_cli([*SWEEP[:1], "seed=1,2", *SWEEP[2:], f"hydra.sweep.dir={sweep}"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    kept = {job: (sweep / str(job) / "metrics.json").stat().st_mtime_ns for job in (0, 1)}
    remount(sweep, "ro")

    result = run_cli([*SWEEP, f"hydra.sweep.dir={sweep}", "resume=true"], tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output[-3000:]
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"{ERROR}{sweep} is not writable") and "finished runs are kept as they are" in line, line
    argv = shlex.split(line.partition("Make it writable, then resume: ")[2])
    assert "resume=true" in argv and f"hydra.sweep.dir={sweep}" in argv, line

    remount(sweep, "rw")
    resumed = resume(argv, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert statuses(sweep) == {0: "completed", 1: "completed", 2: "completed"}
    assert all((sweep / str(job) / "metrics.json").stat().st_mtime_ns == stamp for job, stamp in kept.items())

