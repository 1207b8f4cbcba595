"""The run itself: the test key, mixed precision, debug presets, checkpoint evaluation, --help."""
import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import REPO, TINY, cli_env, compose_config, full_mnist_root, run_cli, tensorboard_run
from mnist_hydra.train import train
from mnist_hydra.config import ConfigError, RunConfig
from mnist_hydra.evaluate import CheckpointError, evaluate_checkpoint
from mnist_hydra.losses import ManualCrossEntropy
from mnist_hydra.runtime import run_device
from mnist_hydra.training import Precision, autocast_speedup


def _folder(parent: Path, name: str) -> Path:
    (parent / name).mkdir()
    return parent / name


def test_test_false_skips_the_test_set_and_says_so(tmp_path):
    metrics = train(compose_config([*TINY, "device=cpu", "test=false"]), _folder(tmp_path, "off"))
    assert metrics["test"] is False and metrics["test_acc"] is None
    assert metrics["status"] == "completed" and metrics["best_val_acc"] is not None
    assert train(compose_config([*TINY, "device=cpu"]), _folder(tmp_path, "on"))["test_acc"] is not None


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_manual_cross_entropy_is_finite_and_matches_torch_under_bf16_autocast(scale):
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 10)
    with torch.no_grad():
        layer.weight.mul_(scale)
    inputs, labels = torch.randn(64, 16), torch.randint(0, 10, (64,))
    with Precision("bf16-mixed").autocast(torch.device("cpu")):
        logits = layer(inputs)
    assert logits.dtype == torch.bfloat16  # autocast really ran the layer in bfloat16
    manual = ManualCrossEntropy()(logits.float(), labels)
    assert torch.isfinite(manual)
    assert manual.item() == pytest.approx(torch.nn.functional.cross_entropy(logits.float(), labels).item(), rel=1e-5)
    manual.backward()
    assert torch.isfinite(layer.weight.grad).all()


def test_bf16_mixed_keeps_float32_weights_and_records_the_precision(tmp_path):
    metrics = train(compose_config([*TINY, "device=cpu", "precision=bf16-mixed"]), tmp_path)
    assert metrics["precision"] == "bf16-mixed"
    state = torch.load(tmp_path / "best.pt", weights_only=True)["model_state"]
    assert {t.dtype for t in state.values() if t.is_floating_point()} == {torch.float32}
    events = EventAccumulator(str(tensorboard_run(tmp_path)))
    events.Reload()
    assert b"bf16-mixed" in events.PluginTagToContent("hparams")["_hparams_/session_start_info"]


def test_16_mixed_is_a_clear_error_off_cuda():
    with pytest.raises(ConfigError, match="precision=16-mixed needs a CUDA device"):
        run_device("cpu", "16-mixed")


class SpinsOnTheDevice(torch.nn.Module):
    """A model whose device work is a GPU spin (about 5 ms; ten times as long under
    autocast): launching it takes microseconds either way, so only a probe that waits for
    the device measures 0.1x."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(28 * 28, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        torch.cuda._sleep(10_000_000 * (10 if torch.is_autocast_enabled("cuda") else 1))  # GPU clock cycles
        return self.linear(images.flatten(1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: launches return before the device is done")
def test_the_precision_probe_times_the_device_work_not_the_launches():
    images = torch.rand(64, 1, 28, 28, device="cuda")
    speedup = autocast_speedup(SpinsOnTheDevice().cuda(), images, Precision("bf16-mixed"))
    assert speedup == pytest.approx(0.1, rel=0.3)


@pytest.mark.slow
def test_bf16_mixed_reaches_the_same_accuracy_as_fp32(tmp_path):
    """Issue 13's parity check: baseline, 5,000 / 1,000 sample images, 2 epochs, within 1 point."""
    common = ["data=mnist_sample", "data.val_size=1000", "model=baseline", "epochs=2", "device=cpu",
              "optimizer=adam", "test=false"]
    fp32 = train(compose_config([*common, "precision=32-true"]), _folder(tmp_path, "fp32"))
    bf16 = train(compose_config([*common, "precision=bf16-mixed"]), _folder(tmp_path, "bf16"))
    assert fp32["best_val_acc"] > 90
    assert abs(bf16["best_val_acc"] - fp32["best_val_acc"]) <= 1.0


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("eval")
    proc = run_cli([*TINY, "model=baseline", "hydra.run.dir=run"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    return workdir


def test_eval_command_reproduces_the_runs_test_accuracy_exactly(finished_run):
    proc = run_cli(["ckpt_path=run/best.pt", "hydra.run.dir=eval"], cwd=finished_run, module="mnist_hydra.eval")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((finished_run / "eval" / "eval.json").read_text())
    metrics = json.loads((finished_run / "run" / "metrics.json").read_text())
    assert result["accuracy"] == metrics["test_acc"] and result["images"] == 1000
    assert sum(map(sum, result["confusion"])) == 1000 and len(result["per_class_accuracy"]) == 10
    assert (finished_run / "eval" / "confusion.png").stat().st_size > 10_000
    assert f"{metrics['test_acc']:.2f}%" in proc.stdout


def test_eval_on_the_validation_split(finished_run):
    result = evaluate_checkpoint(finished_run / "run" / "best.pt", split="val")
    metrics = json.loads((finished_run / "run" / "metrics.json").read_text())
    assert result["images"] == 100 and result["accuracy"] == metrics["best_val_acc"]


@pytest.mark.parametrize("content, message", [
    (None, "no such checkpoint file"),
    (b"not a checkpoint", "not a readable mnist-hydra checkpoint"),
    ("foreign", "not an mnist-hydra checkpoint"),
])
def test_eval_rejects_missing_corrupt_and_foreign_files(tmp_path, content, message):
    path = tmp_path / "x.pt"
    if content == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        evaluate_checkpoint(path)
    proc = run_cli([f"ckpt_path={path}", f"hydra.run.dir={tmp_path / 'out'}"], cwd=tmp_path, module="mnist_hydra.eval")
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr


def test_debug_fast_is_named_and_limited(tmp_path):
    proc = run_cli(["debug=fast"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "DEBUG RUN (debug=fast)" in proc.stdout  # Hydra's console log goes to stdout
    (run_dir,) = (tmp_path / "outputs" / "debug").glob("*/*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["test_acc"] is not None


@pytest.mark.slow
def test_debug_overfit_reaches_full_training_accuracy(tmp_path):
    proc = run_cli(["debug=overfit", "device=cpu"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (tmp_path / "outputs" / "debug").glob("*/*")
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert len(rows) == 21 and float(rows[-1].split(",")[2]) >= 99.0  # train_acc of the last epoch


def test_limits_cap_training_batches_and_evaluated_images(tmp_path):
    cfg = compose_config([*TINY, "device=cpu", "limit_train_batches=2", "limit_eval_images=40", "batch_size=10"])
    metrics = train(cfg, tmp_path)
    result = evaluate_checkpoint(tmp_path / "best.pt", split="val")  # the checkpoint's config: 40 images
    assert result["images"] == 40 and metrics["epochs_run"] == 1


def test_help_lists_real_options_launchers_and_every_key(tmp_path):
    proc = run_cli(["--help"], cwd=tmp_path)
    assert proc.returncode == 0
    assert "base_" not in proc.stdout
    for text in ["mnist-hydra --multirun lr=", "data: mnist, mnist_sample", "+experiment: architectures,",
                 "transform: augmented, standard", "criterion: cross_entropy, manual", "data.train_size ",
                 "model: baseline, high_vision, modernist, simple_cnn, stabilized", "debug: fast, limit, overfit",
                 "hydra/launcher: basic, joblib, submitit_local, submitit_slurm", "+launcher: local, slurm"]:
        assert text in proc.stdout
    for f in fields(RunConfig):
        if "help" in f.metadata:
            assert f"\n  {f.name} " in proc.stdout


def test_tab_completion_of_the_console_script(tmp_path):
    """Hydra's bash completion, installed the way the README says, completes group options.
    (It does not work for `python -m ...`: Hydra #1957.)"""
    script = Path(sys.executable).parent / "mnist-hydra"
    if " " in str(script):
        pytest.skip(f"the venv's path has a space ({script.parent}): Hydra's completion script splits "
                    "the executable's path there")
    line = "mnist-hydra model=st"
    shell = (f'export PATH="{script.parent}:$PATH"; eval "$(mnist-hydra -sc install=bash)"; '
             f'COMP_LINE="{line}"; COMP_POINT={len(line)}; COMP_WORDS=(mnist-hydra model=st); COMP_CWORD=1; '
             'hydra_bash_completion; echo "${COMPREPLY[@]}"')
    proc = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.split() == ["model=stabilized"], proc.stderr


def test_an_explicit_data_root_wins_over_mnist_root_and_is_recorded(tmp_path):
    """Issue 9: `MNIST_ROOT=A ... data.root=B` uses B and records B."""
    real = str(full_mnist_root())
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_hydra.run", f"data.root={real}", "data.train_size=200", "data.val_size=100",
         "epochs=1", "test=false", "data.download=false", "hydra.run.dir=run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**cli_env(tmp_path), "MNIST_ROOT": str(tmp_path / "no-such-folder")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["data_root"] == str(Path(real).resolve())


@pytest.mark.slow
def test_a_checkpoint_made_with_a_relative_data_root_evaluates_from_another_folder(tmp_path):
    """best.pt records the data folder used as an absolute path, so mnist-eval (and the
    summary's winner evaluation) find the data from any working folder."""
    real = str(full_mnist_root())
    made, elsewhere = _folder(tmp_path, "made"), _folder(tmp_path, "elsewhere")
    (made / "data").symlink_to(Path(real).resolve())
    run = run_cli(["data.root=./data", "data.download=false", "data.train_size=200", "data.val_size=100",
                   "limit_eval_images=100", "epochs=1", "hydra.run.dir=run"], cwd=made)
    assert run.returncode == 0, run.stderr[-3000:]
    state = torch.load(made / "run" / "best.pt", map_location="cpu", weights_only=True)
    assert state["config"]["data"]["root"] == str((made / "data").resolve())

    proc = run_cli([f"ckpt_path={made / 'run' / 'best.pt'}", "hydra.run.dir=eval"], cwd=elsewhere,
                   module="mnist_hydra.eval")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((elsewhere / "eval" / "eval.json").read_text())
    assert result["images"] == 100
    assert result["accuracy"] == json.loads((made / "run" / "metrics.json").read_text())["test_acc"]
