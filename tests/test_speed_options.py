"""The speed switches: channels_last changes the layout, not the results; start-up stays light."""
import json
import os
import subprocess
import sys
import time

import psutil
import pytest
import torch
from hydra.types import RunMode

from conftest import REPO, TINY, cli_env, compose_config, epoch_scalars, multirun
from mnist_hydra.train import build_parts, train
from mnist_hydra.threads import usable_cores
from mnist_hydra.training import evaluate, train_epoch


def _one_epoch(channels_last: bool) -> tuple[torch.Tensor, tuple[float, float], tuple[float, float]]:
    """The initial weights' validation logits, then one epoch's training and validation (loss, accuracy)."""
    cfg = compose_config([*TINY, "model=stabilized", "device=cpu", f"channels_last={channels_last}"])
    torch.manual_seed(0)
    p = build_parts(cfg, torch.device("cpu"))
    with torch.inference_mode():
        logits = p.model.eval()(p.transform(p.val.images, False))
    train_result = train_epoch(model=p.model, data=p.train, batch_size=cfg.batch_size, optimizer=p.optimizer,
                               criterion=p.criterion, transform=p.transform)
    return logits, train_result, evaluate(model=p.model, data=p.val, criterion=p.criterion, transform=p.transform,
                                          batch_size=cfg.eval_batch_size)


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_sets_the_weight_layout(channels_last):
    cfg = compose_config([*TINY, "model=baseline", "device=cpu", f"channels_last={channels_last}"])
    # The second conv: a 1-input-channel weight has the same memory in both layouts.
    conv = build_parts(cfg, torch.device("cpu")).model.features[3].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert conv.is_contiguous() != channels_last


def test_channels_last_trains_to_the_same_numbers_up_to_rounding():
    """The same weights give the same logits in both layouts, and an epoch the same numbers, whatever
    the thread count (a pinned core, all of them) and so whichever kernels oneDNN picks."""
    (nhwc_logits, *nhwc), (nchw_logits, *nchw) = _one_epoch(True), _one_epoch(False)
    # Before any step nothing amplifies rounding: the logits agree to ~1e-7, while a layout defect
    # (channels mixed up with pixels) is another function, off by the logits' own size (~0.2).
    torch.testing.assert_close(nhwc_logits, nchw_logits, rtol=1e-4, atol=1e-5)
    # After an epoch of Adam steps rounding has grown: the losses differ by up to 2e-3 (relative),
    # and an accuracy counts images, so an image whose top two logits nearly tie flips. How many
    # flip depends on the kernels (1 of 300 training images on 2 threads, 2 on one pinned core),
    # not on the layout: allow 2 points (6 of 300 training, 2 of 100 validation images).
    for (nhwc_loss, nhwc_acc), (nchw_loss, nchw_acc) in zip(nhwc, nchw, strict=True):
        assert nhwc_loss == pytest.approx(nchw_loss, rel=1e-2)
        assert nhwc_acc == pytest.approx(nchw_acc, abs=2.0)


def test_metrics_record_the_layout(tmp_path):
    cfg = compose_config([*TINY, "device=cpu", "channels_last=false"])
    metrics = train(cfg, tmp_path)
    assert metrics["channels_last"] is False
    # a single run has the machine (or its SLURM allocation) to itself
    assert metrics["threads"] == int(os.environ.get("SLURM_CPUS_PER_TASK") or usable_cores())


def test_a_sweeps_main_process_gets_to_its_launcher_without_torch():
    """The app, its callbacks and plugins import no torch: a sweep's main process loads it for
    the data check, while joblib's workers start (launchers.workers_starting)."""
    code = ("import sys, mnist_hydra.app, mnist_hydra.guards, mnist_hydra.sweep.callback, "
            "hydra_plugins.mnist_hydra_sweeper, hydra_plugins.mnist_hydra_launcher; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _job_process() -> tuple[int, bool]:
    """Where a job runs, and whether torch._dynamo was there before it (this module does not import it)."""
    return os.getpid(), "torch._dynamo" in sys.modules


def _loky_workers(count: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = [p for p in psutil.Process().children(recursive=True) if "LokyProcess" in " ".join(p.cmdline())]
        if len(workers) >= count:
            return workers
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} joblib workers started")


def test_joblib_workers_start_during_the_grid_check_and_the_launch_runs_in_them_prepared():
    """launchers.workers_starting: the workers start in the block and import what jobs need
    (torch._dynamo among it); the launcher's Parallel (the same arguments) then runs its jobs in
    them. A refusal in the block stops them."""
    from joblib import Parallel, delayed

    from mnist_hydra.launchers import joblib_args, workers_starting

    with multirun(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]) as (_, config):
        config.hydra.mode = RunMode.MULTIRUN
        with pytest.raises(SystemExit):
            with workers_starting(config.hydra):
                refused = _loky_workers(2)
                raise SystemExit(1)
        assert psutil.wait_procs(refused, timeout=30)[1] == []  # none left alive

        with workers_starting(config.hydra):
            started = {p.pid for p in _loky_workers(2)}
        jobs = Parallel(**joblib_args(config.hydra.launcher))(delayed(_job_process)() for _ in range(4))
    assert {pid for pid, _ in jobs} <= started
    assert all(prepared for _, prepared in jobs)


def test_job_start_up_imports_no_plotting_or_torchvision():
    """Hydra imports the callbacks in every job process; matplotlib is only for the summary."""
    code = ("import sys, mnist_hydra.app, mnist_hydra.guards, mnist_hydra.sweep.callback; "
            "print(sorted({'matplotlib', 'torchvision'} & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_joblib_workers_check_their_memory_instead_of_collecting_garbage_after_every_job():
    """With psutil (a dependency) loky's workers measure their memory after a job; without it
    they run a full gc.collect() after every job, about 0.2 s each with torch loaded."""
    from joblib.externals.loky import process_executor

    assert process_executor._USE_PSUTIL


def test_a_run_skips_the_final_garbage_collection_at_exit_and_leaves_its_files_whole(tmp_path):
    """process.exit_quickly: torch's teardown (~1 s a process) is skipped by freezing what is
    left before Python's last collection. A sitecustomize's exit handler, registered before
    the app's and so run after it, sees whether the objects were frozen."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(
        "import atexit, gc, os\n"
        "atexit.register(lambda: open(os.environ['FROZEN_AT_EXIT'], 'w').write(str(gc.get_freeze_count())))\n")
    env = {**cli_env(tmp_path), "FROZEN_AT_EXIT": str(tmp_path / "frozen")}
    env["PYTHONPATH"] = f"{tmp_path / 'site'}{os.pathsep}{env['PYTHONPATH']}"
    proc = subprocess.run([sys.executable, "-m", "mnist_hydra.run", *TINY, "hydra.run.dir=run"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int((tmp_path / "frozen").read_text()) > 10_000  # before: 0, everything collected one by one
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["status"] == "completed"
    assert epoch_scalars(tmp_path / "run")["Accuracy/val"][0][0] == 1  # the event file is complete
